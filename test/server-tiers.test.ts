// Tier maths (issue 13): random minutes with gaps, nulls, merges and replays; every statistic of
// every metric at periods 60, 300, 3600 and 86400 equals the same computed here from the stored
// minutes, whichever tier answers — and ranges older than the minute tier's retention (clock
// injected) are answered from the 300 s and 3600 s tiers after retention removed the minutes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HostWindow, InstanceWindow, Payload } from '../src/ship/payload.js';
import { getMetricData, METRICS, STATISTICS, type Datapoint, type MetricName } from '../src/server/metric-data.js';
import { openStore, type Store } from '../src/server/store/store.js';
import { ENGINES, agg, createTestDb, engineReady, hostWindow, instanceRecord, instanceWindow, payload, type Engine, type TestDb } from './helpers/server.js';

const DAY = 86400;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Minutes base − 2 h … base + 2 days + 3 h (days and hours straddled; base is a UTC midnight). */
const BASE = Math.floor(Date.now() / 1000 / DAY) * DAY - 20 * DAY;
const FIRST = BASE - 2 * 3600;
const LAST = BASE + 2 * DAY + 3 * 3600;
const AGENT = 'tier-agent';
const VM = 'tiervm01';

/** The batches of a random history, in the order they are sent (replays and late parts included). */
function history(seed: number): Payload[] {
  const r = rng(seed);
  const pick = (xs: number[]) => xs.slice(0, 1 + Math.floor(r() * xs.length));
  const batches: Payload[] = [];
  let pendingHost: HostWindow[] = [];
  let pendingVm: InstanceWindow[] = [];
  const late: Payload[] = [];
  const flush = () => {
    if (!pendingHost.length && !pendingVm.length) return;
    const p = payload({ AgentID: AGENT, Hostname: 'tier-host', Stats: pendingHost, Instances: pendingVm.length ? [instanceRecord(VM, { Stats: pendingVm })] : [] });
    batches.push(p);
    if (r() < 0.05) late.push(p); // replayed later: the same BatchID again
    pendingHost = [];
    pendingVm = [];
  };
  for (let m = FIRST; m < LAST; m += 60) {
    const hostGap = r() < 0.04;
    const vmGap = r() < 0.05;
    const samples = r() < 0.03 ? 0 : 12;
    const ticks = Array.from({ length: 12 }, () => Math.round(r() * 10000) / 100);
    const split = r() < 0.08 ? 1 + Math.floor(r() * 11) : 12; // a partial window then the rest
    const parts: [number, number][] = split < 12 ? [[0, split], [split, 12]] : [[0, 12]];
    for (const [i, [a, b]] of parts.entries()) {
      const t = ticks.slice(a, b);
      const n = b - a;
      const vm = instanceWindow(m, {
        Seconds: n * 5,
        Samples: samples ? n : 0,
        Missed: samples ? 0 : n,
        CPU: samples && r() > 0.03 ? agg(t) : null,
        MemoryUtilization: samples ? agg(t.map((x) => x / 3)) : null,
        Steal: samples && r() > 0.5 ? agg(t.map((x) => x / 50)) : null,
        NetIn: r() < 0.04 ? null : Math.floor(r() * 1e6),
        NetOut: r() < 0.04 ? null : Math.floor(r() * 1e5),
        DiskRead: Math.floor(r() * 4096) * 512,
        DiskWrite: Math.floor(r() * 4096) * 512,
        Unsampled: samples === 0 && r() < 0.5 ? 60 : undefined,
      });
      const host = hostWindow(m, { Seconds: n * 5, Samples: n, CPU: agg(t.map((x) => x / 2)), NetIn: Math.floor(r() * 1e7), NetOut: Math.floor(r() * 1e7) });
      if (i === 0) {
        if (!hostGap) pendingHost.push(host);
        if (!vmGap) pendingVm.push(vm);
      } else {
        // The second part of the minute comes in its own batch, sometimes much later.
        const p = payload({ AgentID: AGENT, Hostname: 'tier-host', Stats: hostGap ? [] : [host], Instances: vmGap ? [] : [instanceRecord(VM, { Stats: [vm] })] });
        if (r() < 0.5) late.push(p);
        else batches.push(p);
      }
    }
    if (pick([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).length >= 9 || (m / 60) % 10 === 0) flush();
  }
  flush();
  return [...batches, ...late];
}

type Raw = Record<string, number | null>;

async function rawRows(db: TestDb, table: string, where: string): Promise<Raw[]> {
  const rows = await db.query(`SELECT * FROM ${table} WHERE ${where} ORDER BY minute`);
  return rows.map((x) => {
    const o: Raw = {};
    for (const [k, v] of Object.entries(x)) o[k] = v === null ? null : typeof v === 'string' && isNaN(Number(v)) ? null : Number(v);
    return o;
  });
}

/** Lightsail statistics computed straight from the stored minutes (independent of the tiers). */
function reference(metric: MetricName, period: number, startTime: number, endTime: number, host: Raw[], vm: Raw[], firstMinute: number): Datapoint[] {
  const def = METRICS[metric];
  const lo = Math.ceil(startTime / 60) * 60;
  const acc = new Map<number, { min: number; max: number; sum: number; count: number }>();
  const add = (b: number, min: number, max: number, sum: number, count: number) => {
    const a = acc.get(b);
    if (!a) acc.set(b, { min, max, sum, count });
    else acc.set(b, { min: Math.min(a.min, min), max: Math.max(a.max, max), sum: a.sum + sum, count: a.count + count });
  };
  const bucket = (m: number) => Math.floor(m / period) * period;
  if (def.kind === 'gauge') {
    for (const r of vm) {
      const m = r.minute!;
      if (m < lo || m >= endTime || !r[`${def.stat}_count`]) continue;
      add(bucket(m), r[`${def.stat}_min`]!, r[`${def.stat}_max`]!, r[`${def.stat}_sum`]!, r[`${def.stat}_count`]!);
    }
  } else if (def.kind === 'total') {
    for (const r of vm) {
      const m = r.minute!;
      const v = r[def.stat];
      if (m < lo || m >= endTime || v === null || v === undefined || !(r.samples! > 0 || r.unsampled! > 0)) continue;
      add(bucket(m), v, v, v, 1);
    }
  } else {
    const hostSet = new Set(host.map((r) => r.minute));
    const sampled = new Set(vm.filter((r) => r.samples! > 0).map((r) => r.minute));
    for (let m = Math.max(lo, firstMinute); m < endTime; m += 60) {
      const system = hostSet.has(m) ? 0 : 1;
      const instance = system === 0 && !sampled.has(m) ? 1 : 0;
      const x = def.check === 'system' ? system : def.check === 'instance' ? instance : system | instance;
      add(bucket(m), x, x, x, 1);
    }
  }
  return [...acc.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, a]) => ({ timestamp, unit: def.unit, minimum: a.min, maximum: a.max, sum: a.sum, average: a.sum / a.count, sampleCount: a.count }));
}

function same(actual: Datapoint[], expected: Datapoint[], what: string): void {
  assert.equal(
    actual.map((d) => d.timestamp),
    expected.map((d) => d.timestamp),
    `${what}: timestamps`,
  );
  for (let i = 0; i < expected.length; i++) {
    for (const k of ['minimum', 'maximum', 'sum', 'average', 'sampleCount'] as const) {
      const a = actual[i]![k]!;
      const e = expected[i]![k]!;
      if (!(Math.abs(a - e) <= 1e-9 * Math.max(1, Math.abs(e)))) assert.unreachable(`${what} @${expected[i]!.timestamp} ${k}: ${a} ≠ ${e}`);
    }
  }
}

async function withHistory(engine: Engine, name: string, fn: (store: Store, db: TestDb) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const db = await createTestDb(engine);
  const store = await openStore(db.db);
  try {
    await store.migrate();
    let duplicates = 0;
    for (const p of history(engine === 'sqlite' ? 1301 : 1302)) if ((await store.ingest(p, { receivedAt: BASE })).status === 'duplicate') duplicates++;
    assert.ok(duplicates > 0, 'the history replays some batches');
    const merged = await db.query(`SELECT count(*) AS n FROM instance_minutes WHERE parts > 1`);
    assert.ok(Number(merged[0]!.n) > 0, 'the history merges some minutes');
    await fn(store, db);
  } finally {
    await store.close();
    await db.drop();
  }
}

const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

for (const engine of ENGINES) {
  const t = suite(`server tiers [${engine}]`);

  t('every statistic at 60, 300, 3600 and 86400 equals the same computed from the minutes', () =>
    withHistory(engine, 'tier maths', async (store, db) => {
      const host = await rawRows(db, 'host_minutes', `agent_id = '${AGENT}'`);
      const vm = await rawRows(db, 'instance_minutes', `instance_id = '${VM}'`);
      const firstMinute = Math.min(...vm.map((r) => r.minute!));
      const now = LAST + DAY;
      // Unaligned starts and ends, so tier pieces and minute edges are both exercised.
      const ranges: [number, number, number][] = [
        [60, BASE + 3 * 3600 + 7, BASE + 27 * 3600 - 1],
        [300, FIRST + 125, LAST - 3],
        [3600, FIRST + 3599, LAST + 600],
        [86400, FIRST, LAST],
        [86400, BASE + 1, LAST],
      ];
      let compared = 0;
      for (const [period, startTime, endTime] of ranges) {
        for (const metricName of METRIC_NAMES) {
          const got = await getMetricData(store, { instanceId: VM, metricName, period, startTime, endTime, unit: METRICS[metricName].unit, statistics: [...STATISTICS], now, graceSeconds: 120 });
          const want = reference(metricName, period, startTime, endTime, host, vm, firstMinute);
          assert.ok(want.length > 0, `${metricName} ${period}: the reference has datapoints`);
          same(got.datapoints, want, `${metricName} period ${period}`);
          compared += want.length;
        }
      }
      assert.ok(compared > 5000, `compared ${compared} datapoints`);
    }),
  );

  t('ranges older than the minute tier are answered from the 300 s and 3600 s tiers, the same', () =>
    withHistory(engine, 'tier retention', async (store, db) => {
      const host = await rawRows(db, 'host_minutes', `agent_id = '${AGENT}'`);
      const vm = await rawRows(db, 'instance_minutes', `instance_id = '${VM}'`);
      const firstMinute = Math.min(...vm.map((r) => r.minute!));
      const ask = (metricName: MetricName, period: number, startTime: number, endTime: number, now: number) =>
        getMetricData(store, { instanceId: VM, metricName, period, startTime, endTime, unit: METRICS[metricName].unit, statistics: [...STATISTICS], now, graceSeconds: 120 });

      // 30 days later the minutes are past retention: retention removes them, the 300 s tier answers.
      const later = LAST + 30 * DAY;
      const r1 = await store.retain(later - 15 * DAY, { 300: later - 63 * DAY, 3600: later - 455 * DAY });
      assert.ok(r1.deletedRows > 0 || r1.droppedPartitions.length > 0, 'retention removed the minutes');
      assert.is(await db.count('instance_minutes'), 0);
      assert.ok((await db.count('instance_5m')) > 0);
      for (const metricName of METRIC_NAMES) {
        for (const period of [300, 3600, 86400]) {
          const got = await ask(metricName, period, BASE, BASE + 2 * DAY, later);
          same(got.datapoints, reference(metricName, period, BASE, BASE + 2 * DAY, host, vm, firstMinute), `${metricName} ${period} at +30 d`);
        }
        // Period 60 is answered only within the minute tier's retention, as Lightsail does.
        assert.equal((await ask(metricName, 60, BASE, BASE + DAY, later)).datapoints, [], `${metricName} 60 at +30 d`);
      }
      // 100 days later only the 3600 s tier is left.
      const muchLater = LAST + 100 * DAY;
      await store.retain(muchLater - 15 * DAY, { 300: muchLater - 63 * DAY, 3600: muchLater - 455 * DAY });
      assert.is(await db.count('instance_5m'), 0);
      assert.is(await db.count('host_5m'), 0);
      for (const metricName of METRIC_NAMES) {
        for (const period of [3600, 86400]) {
          const got = await ask(metricName, period, BASE, BASE + 2 * DAY, muchLater);
          same(got.datapoints, reference(metricName, period, BASE, BASE + 2 * DAY, host, vm, firstMinute), `${metricName} ${period} at +100 d`);
        }
        assert.equal((await ask(metricName, 300, BASE, BASE + DAY, muchLater)).datapoints, [], `${metricName} 300 at +100 d`);
      }
    }),
  );

  t.run();
}
