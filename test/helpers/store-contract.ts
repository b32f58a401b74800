// The store contract: what every engine behind the Store interface must answer, checked through
// that interface only (no SQL), so that a further engine (VictoriaMetrics, say) is covered by one
// more `storeContract(factory)` call. test/server-contract.test.ts runs it for SQLite and PostgreSQL.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Agg, HostWindow, InstanceWindow, Payload } from '../../src/ship/payload.js';
import { getMetricData, METRICS, STATISTICS, type Datapoint, type MetricName } from '../../src/server/metric-data.js';
import type { Store } from '../../src/server/store/store.js';
import { agg, hostWindow, instanceRecord, instanceWindow, nowMinute, payload } from './server.js';

export interface EngineFactory {
  name: string;
  /** False (and a recorded skip) when the engine cannot run here. */
  ready(testName: string): Promise<boolean>;
  /** A fresh, empty, migrated store, and its disposal. */
  open(): Promise<{ store: Store; dispose(): Promise<void> }>;
}

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
        NetInPackets: r() < 0.04 ? null : Math.floor(r() * 1e3),
        NetOutPackets: Math.floor(r() * 1e3),
        // Error and drop counters: unknown at times, and absent (an older agent) at others.
        NetInErrors: r() < 0.04 ? null : r() < 0.05 ? undefined : Math.floor(r() * 3),
        NetOutErrors: Math.floor(r() * 2),
        NetInDropped: r() < 0.05 ? undefined : Math.floor(r() * 50),
        NetOutDropped: r() < 0.04 ? null : Math.floor(r() * 5),
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


// ---- the reference: Lightsail statistics from the windows sent (merged per minute as the contract says)

type Stat = [number, number, number, number];
interface MinuteRef {
  samples: number;
  unsampled: number;
  gauges: Map<string, Stat>;
  totals: Map<string, number | null>;
}

const addAggTo = (m: Map<string, Stat>, k: string, a: Agg | null) => {
  if (!a || a.Count <= 0) return;
  const s = m.get(k);
  m.set(k, s ? [Math.min(s[0], a.Min), Math.max(s[1], a.Max), s[2] + a.Sum, s[3] + a.Count] : [a.Min, a.Max, a.Sum, a.Count]);
};

const METRIC_FIELDS: Record<string, keyof InstanceWindow> = {
  CPUUtilization: 'CPU',
  MemoryUtilization: 'MemoryUtilization',
  CPUStealPercent: 'Steal',
  NetworkIn: 'NetIn',
  NetworkOut: 'NetOut',
  DiskReadBytes: 'DiskRead',
  DiskWriteBytes: 'DiskWrite',
  NetworkPacketsIn: 'NetInPackets',
  NetworkPacketsOut: 'NetOutPackets',
  NetworkErrorsIn: 'NetInErrors',
  NetworkErrorsOut: 'NetOutErrors',
  NetworkDropsIn: 'NetInDropped',
  NetworkDropsOut: 'NetOutDropped',
};

/** Merged minutes of the VM and the host's minute set, from the batches (a BatchID counts once). */
export function minutesOf(batches: readonly Payload[]): { vm: Map<number, MinuteRef>; host: Set<number> } {
  const seen = new Set<string>();
  const vm = new Map<number, MinuteRef>();
  const host = new Set<number>();
  for (const p of batches) {
    if (seen.has(p.BatchID)) continue;
    seen.add(p.BatchID);
    for (const w of p.Stats) host.add(w.Minute);
    for (const i of p.Instances) {
      for (const w of i.Stats) {
        let r = vm.get(w.Minute);
        if (!r) vm.set(w.Minute, (r = { samples: 0, unsampled: 0, gauges: new Map(), totals: new Map() }));
        r.samples += w.Samples;
        r.unsampled += w.Unsampled ?? 0;
        for (const f of ['CPU', 'MemoryUtilization', 'Steal'] as const) addAggTo(r.gauges, f, w[f]);
        for (const f of ['NetIn', 'NetOut', 'DiskRead', 'DiskWrite', 'NetInPackets', 'NetOutPackets', 'NetInErrors', 'NetOutErrors', 'NetInDropped', 'NetOutDropped'] as const) {
          const had = r.totals.has(f) ? r.totals.get(f)! : 0;
          // Absent (an older agent) counts as unknown, as the server stores it.
          const v = w[f] ?? null;
          r.totals.set(f, had === null || v === null ? null : had + v);
        }
      }
    }
  }
  return { vm, host };
}

export function reference(
  metric: MetricName,
  period: number,
  startTime: number,
  endTime: number,
  ref: { vm: Map<number, MinuteRef>; host: Set<number> },
  firstMinute: number,
): Datapoint[] {
  const def = METRICS[metric];
  const lo = Math.ceil(startTime / 60) * 60;
  const acc = new Map<number, { min: number; max: number; sum: number; count: number }>();
  const add = (b: number, min: number, max: number, sum: number, count: number) => {
    const a = acc.get(b);
    if (!a) acc.set(b, { min, max, sum, count });
    else acc.set(b, { min: Math.min(a.min, min), max: Math.max(a.max, max), sum: a.sum + sum, count: a.count + count });
  };
  const bucket = (m: number) => Math.floor(m / period) * period;
  for (let m = lo; m < endTime; m += 60) {
    const r = ref.vm.get(m);
    if (def.kind === 'gauge') {
      const s = r?.gauges.get(METRIC_FIELDS[metric]!);
      if (s) add(bucket(m), ...s);
    } else if (def.kind === 'total') {
      const v = r?.totals.get(METRIC_FIELDS[metric]!);
      if (r && v !== null && v !== undefined && (r.samples > 0 || r.unsampled > 0)) add(bucket(m), v, v, v, 1);
    } else if (m >= firstMinute) {
      const system = ref.host.has(m) ? 0 : 1;
      const instance = system === 0 && !(r && r.samples > 0) ? 1 : 0;
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

const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export function storeContract(f: EngineFactory): void {
  const t = suite(`store contract [${f.name}]`);
  const withStore = async (name: string, fn: (s: Store) => Promise<void>) => {
    if (!(await f.ready(name))) return;
    const { store, dispose } = await f.open();
    try {
      await fn(store);
    } finally {
      await dispose();
    }
  };
  const ask = (s: Store, metricName: MetricName, period: number, startTime: number, endTime: number, now: number, instanceId = VM) =>
    getMetricData(s, { instanceId, metricName, period, startTime, endTime, unit: METRICS[metricName].unit, statistics: [...STATISTICS], now, graceSeconds: 120 });

  t('credentials are listed in creation order, whatever their timestamps and ids', () =>
    withStore('token order', async (s) => {
      // Same second, ids in descending order: a seconds timestamp with an id tie-break would reverse them.
      const names = ['hv1', 'grafana', 'ops', 'zeta', 'alpha'];
      for (const [i, name] of names.entries()) {
        await s.insertToken({ accessKeyId: `AKID${9 - i}`, name, role: 'reader', secretSha256: `${i}`.repeat(64), agentId: null, createdAt: 1700000000, revokedAt: null });
      }
      await s.insertToken({ accessKeyId: 'AKID0', name: 'early', role: 'admin', secretSha256: 'f'.repeat(64), agentId: null, createdAt: 1600000000, revokedAt: null });
      assert.equal((await s.listTokens()).map((x) => x.name), [...names, 'early']);
      assert.ok(await s.revokeToken('AKID7', 1700000100));
      assert.equal((await s.listTokens()).map((x) => x.name), [...names, 'early']);
    }),
  );

  t('a batch twice is stored once; a minute sent in parts (either order) answers as the whole minute; nulls stay unknown', () =>
    withStore('merge contract', async (s) => {
      const m = nowMinute(-10);
      const now = m + 600;
      const cpu = [12.5, 40, 3.25, 99, 51, 7, 66.5, 23, 80, 1.5, 45, 30];
      const part = (a: number, b: number, o: Partial<InstanceWindow> = {}) =>
        instanceWindow(m, { Seconds: (b - a) * 5, Samples: b - a, CPU: agg(cpu.slice(a, b)), NetOut: cpu.slice(a, b).reduce((x, y) => x + y, 0) * 100, NetIn: (b - a) * 500, DiskRead: (b - a) * 4096, ...o });
      const whole = payload({ AgentID: 'a1', Stats: [hostWindow(m)], Instances: [instanceRecord('whole001', { Stats: [part(0, 12)] })] });
      assert.is((await s.ingest(whole, { receivedAt: now })).status, 'stored');
      assert.is((await s.ingest(whole, { receivedAt: now })).status, 'duplicate');
      const p1 = payload({ AgentID: 'a1', Stats: [], Instances: [instanceRecord('parts001', { Stats: [part(0, 5)] }), instanceRecord('parts002', { Stats: [part(5, 12)] })] });
      const p2 = payload({ AgentID: 'a1', Stats: [], Instances: [instanceRecord('parts001', { Stats: [part(5, 12)] }), instanceRecord('parts002', { Stats: [part(0, 5)] })] });
      await s.ingest(p1, { receivedAt: now });
      await s.ingest(p2, { receivedAt: now });
      await s.ingest(p2, { receivedAt: now });
      for (const metric of ['CPUUtilization', 'NetworkOut', 'NetworkIn', 'DiskReadBytes'] as MetricName[]) {
        for (const period of [60, 300, 3600, 86400]) {
          const want = (await ask(s, metric, period, m - 3600, m + 3600, now, 'whole001')).datapoints;
          assert.is(want.length, 1, `${metric} ${period}: one datapoint`);
          for (const id of ['parts001', 'parts002']) same((await ask(s, metric, period, m - 3600, m + 3600, now, id)).datapoints, want, `${id} ${metric} ${period}`);
        }
      }
      const w = (await ask(s, 'NetworkOut', 60, m, m + 60, now, 'whole001')).datapoints[0]!;
      assert.is(w.sum, cpu.reduce((x, y) => x + y, 0) * 100);
      // An unknown network total (a TAP unreadable) makes the minute's total unknown, in either order.
      await s.ingest(payload({ AgentID: 'a1', Instances: [instanceRecord('nulls001', { Stats: [part(0, 5, { NetIn: null })] })] }), { receivedAt: now });
      await s.ingest(payload({ AgentID: 'a1', Instances: [instanceRecord('nulls001', { Stats: [part(5, 12)] })] }), { receivedAt: now });
      for (const period of [60, 300]) assert.equal((await ask(s, 'NetworkIn', period, m, m + 300, now, 'nulls001')).datapoints, [], `NetworkIn unknown at ${period}`);
      same((await ask(s, 'NetworkOut', 300, m, m + 300, now, 'nulls001')).datapoints, (await ask(s, 'NetworkOut', 300, m, m + 300, now, 'whole001')).datapoints, 'NetworkOut known');
      same((await ask(s, 'CPUUtilization', 300, m, m + 300, now, 'nulls001')).datapoints, (await ask(s, 'CPUUtilization', 300, m, m + 300, now, 'whole001')).datapoints, 'CPU merged');
    }),
  );

  t('tier maths: every statistic at 60, 300, 3600 and 86400 equals the reference from the windows sent', () =>
    withStore('tier maths', async (s) => {
      const batches = history(f.name.length * 977 + 13);
      // Most batches, then a rollup of every bucket, then the rest: second parts of minutes (some
      // much later) and replays land in buckets already rolled up, which are pending again.
      const early = Math.floor(batches.length * 0.7);
      let duplicates = 0;
      for (const p of batches.slice(0, early)) if ((await s.ingest(p, { receivedAt: BASE })).status === 'duplicate') duplicates++;
      assert.ok((await s.rollup(LAST + DAY)).buckets[300] > 0, 'the first rollup rebuilt buckets');
      for (const p of batches.slice(early)) if ((await s.ingest(p, { receivedAt: BASE })).status === 'duplicate') duplicates++;
      assert.ok(duplicates > 0, 'the history replays some batches');
      const ref = minutesOf(batches);
      const firstMinute = Math.min(...ref.vm.keys());
      const now = LAST + DAY;
      // Unaligned starts and ends, so tier pieces and minute edges are both exercised.
      const ranges: [number, number, number][] = [
        [60, BASE + 3 * 3600 + 7, BASE + 27 * 3600 - 1],
        [300, FIRST + 125, LAST - 3],
        [3600, FIRST + 3599, LAST + 600],
        [86400, FIRST, LAST],
        [86400, BASE + 1, LAST],
      ];
      const compare = async (state: string) => {
        let compared = 0;
        for (const [period, startTime, endTime] of ranges) {
          for (const metricName of METRIC_NAMES) {
            const want = reference(metricName, period, startTime, endTime, ref, firstMinute);
            assert.ok(want.length > 0, `${metricName} ${period}: the reference has datapoints`);
            same((await ask(s, metricName, period, startTime, endTime, now)).datapoints, want, `${state}: ${metricName} period ${period}`);
            compared += want.length;
          }
        }
        assert.ok(compared > 5000, `compared ${compared} datapoints`);
      };
      // Read with buckets pending here and there (from the finer tiers and the minutes), then with
      // the first day's rolled up, then with all of them: the same answers each time.
      await compare('late minutes pending');
      const partly = await s.rollup(FIRST + DAY);
      await compare('partly rolled up');
      const rest = await s.rollup(LAST + DAY);
      assert.ok(partly.buckets[300] > 0 && rest.buckets[300] > 0 && rest.buckets[3600] > 0 && rest.buckets[86400] > 0, `late minutes made buckets pending again: ${JSON.stringify([partly, rest])}`);
      await compare('rolled up');
      assert.equal((await s.rollup(LAST + DAY)).buckets, { 300: 0, 3600: 0, 86400: 0 }, 'nothing is left pending');

      // 30 days later the minutes are past retention: retention removes them, the 300 s tier answers the same.
      const later = LAST + 30 * DAY;
      await s.retain(later - 15 * DAY, { 300: later - 63 * DAY, 3600: later - 455 * DAY });
      assert.equal(await s.statRows({ agentId: AGENT, instanceId: VM }, 60, FIRST, LAST, 'cpu', 'gauge', 60), [], 'no minute is left');
      for (const metricName of METRIC_NAMES) {
        for (const period of [300, 3600, 86400]) {
          same((await ask(s, metricName, period, BASE, BASE + 2 * DAY, later)).datapoints, reference(metricName, period, BASE, BASE + 2 * DAY, ref, firstMinute), `${metricName} ${period} at +30 d`);
        }
        // Period 60 is answered only within the minute tier's retention, as Lightsail does.
        assert.equal((await ask(s, metricName, 60, BASE, BASE + DAY, later)).datapoints, [], `${metricName} 60 at +30 d`);
      }
      // 100 days later only the 3600 s tier is left.
      const muchLater = LAST + 100 * DAY;
      await s.retain(muchLater - 15 * DAY, { 300: muchLater - 63 * DAY, 3600: muchLater - 455 * DAY });
      assert.equal(await s.statRows({ agentId: AGENT, instanceId: VM }, 300, FIRST, LAST, 'cpu', 'gauge', 300), [], 'no 300 s row is left');
      for (const metricName of METRIC_NAMES) {
        for (const period of [3600, 86400]) {
          same((await ask(s, metricName, period, BASE, BASE + 2 * DAY, muchLater)).datapoints, reference(metricName, period, BASE, BASE + 2 * DAY, ref, firstMinute), `${metricName} ${period} at +100 d`);
        }
        assert.equal((await ask(s, metricName, 300, BASE, BASE + DAY, muchLater)).datapoints, [], `${metricName} 300 at +100 d`);
      }
      // 500 days later, with the day tier kept longer than the hour tier, only the 86400 s tier is left:
      // it answers period 86400 the same (status checks need minute masks, which it does not keep).
      const past = LAST + 500 * DAY;
      await s.retain(past - 15 * DAY, { 300: past - 63 * DAY, 3600: past - 455 * DAY, 86400: past - 1000 * DAY });
      assert.equal(await s.statRows({ agentId: AGENT, instanceId: VM }, 3600, FIRST, LAST, 'cpu', 'gauge', 3600), [], 'no 3600 s row is left');
      assert.is(s.retentionDays[86400], 1000, 'the factory keeps the day tier 1,000 days');
      for (const metricName of METRIC_NAMES) {
        if (METRICS[metricName].kind === 'status') continue;
        same((await ask(s, metricName, 86400, BASE, BASE + 2 * DAY, past)).datapoints, reference(metricName, 86400, BASE, BASE + 2 * DAY, ref, firstMinute), `${metricName} 86400 at +500 d`);
      }
    }),
  );

  t.run();
}
