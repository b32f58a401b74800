// The store contract: what every engine behind the Store interface must answer the same way.
// test/helpers/store-contract.ts (tokens, merges, tier maths, retention per tier) runs on the SQL
// engines; the time-series equivalence below (every statistic of every metric, the host history and
// the raw minutes, on the same batches as a SQLite reference) runs on PostgreSQL and VictoriaMetrics,
// whose retention is the engine's own (-retentionPeriod) rather than the store's tiers.
import { storeContract, type EngineFactory } from './helpers/store-contract.js';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { hostHistory, parseHistoryQuery } from '../src/server/host-history.js';
import { getMetricData, METRICS, STATISTICS, type MetricName } from '../src/server/metric-data.js';
import { openStore, type Store } from '../src/server/store/store.js';
import type { HostWindow, InstanceWindow, Payload } from '../src/ship/payload.js';
import { needs } from './helpers/needs.js';
import { ENGINES, agg, createTestDb, engineReady, hostWindow, instanceRecord, instanceWindow, payload, type Engine, type TestDb } from './helpers/server.js';
import { startVictoria } from './helpers/victoria.js';

interface TsEngineFactory {
  name: string;
  /** False (and a recorded skip) when the engine cannot run here. */
  ready(testName: string): Promise<boolean>;
  /** A fresh, empty, migrated store, and its disposal; `settle` makes what was written readable. */
  open(): Promise<{ store: Store; dispose(): Promise<void>; settle?(): Promise<void> }>;
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

/**
 * Batches of a day and a half of one host and two VMs, with gaps, unsampled and unknown minutes,
 * minutes split over two batches (sent in either order, sometimes much later) and replays.
 */
function contractHistory(seed: number, first: number, last: number): Payload[] {
  const r = rng(seed);
  const out: Payload[] = [];
  const late: Payload[] = [];
  const batch = (host: HostWindow[], vms: Record<string, InstanceWindow[]>) =>
    payload({
      AgentID: 'contract-agent',
      Hostname: 'contract-host',
      Stats: host,
      Instances: Object.entries(vms)
        .filter(([, w]) => w.length)
        .map(([id, w]) => instanceRecord(id, { Stats: w })),
    });
  let host: HostWindow[] = [];
  let vms: Record<string, InstanceWindow[]> = { ctvm0001: [], ctvm0002: [] };
  for (let m = first; m < last; m += 60) {
    const split = r() < 0.1 ? 1 + Math.floor(r() * 11) : 12;
    const parts: [number, number][] = split < 12 ? [[0, split], [split, 12]] : [[0, 12]];
    const hostGap = r() < 0.03;
    for (const [i, [a, b]] of parts.entries()) {
      const n = b - a;
      const ticks = Array.from({ length: n }, () => Math.round(r() * 10000) / 100);
      const h = hostWindow(m, { Seconds: n * 5, Samples: n, CPU: agg(ticks.map((x) => x / 2)), NetIn: Math.floor(r() * 1e7), NetOut: Math.floor(r() * 1e7) });
      const vm: Record<string, InstanceWindow[]> = { ctvm0001: [], ctvm0002: [] };
      for (const id of Object.keys(vm)) {
        if (r() < 0.04) continue;
        const sampled = r() > 0.03;
        vm[id]!.push(
          instanceWindow(m, {
            Seconds: n * 5,
            Samples: sampled ? n : 0,
            Missed: sampled ? 0 : n,
            CPU: sampled && r() > 0.03 ? agg(ticks) : null,
            MemoryUtilization: sampled ? agg(ticks.map((x) => x / 3)) : null,
            Steal: sampled && r() > 0.5 ? agg(ticks.map((x) => x / 50)) : null,
            NetIn: r() < 0.04 ? null : Math.floor(r() * 1e6),
            NetOut: r() < 0.04 ? null : Math.floor(r() * 1e5),
            NetInPackets: Math.floor(r() * 1e3),
            NetInErrors: r() < 0.04 ? null : r() < 0.05 ? undefined : Math.floor(r() * 3),
            NetOutErrors: Math.floor(r() * 2),
            NetInDropped: r() < 0.05 ? undefined : Math.floor(r() * 50),
            NetOutDropped: Math.floor(r() * 5),
            DiskRead: Math.floor(r() * 4096) * 512,
            DiskWrite: Math.floor(r() * 4096) * 512,
            Unsampled: !sampled && r() < 0.5 ? 60 : undefined,
          }),
        );
      }
      if (i === 0) {
        if (!hostGap) host.push(h);
        for (const id of Object.keys(vm)) vms[id]!.push(...vm[id]!);
      } else {
        const p = batch(hostGap ? [] : [h], vm);
        (r() < 0.5 ? late : out).push(p);
      }
    }
    if (r() < 0.2) {
      const p = batch(host, vms);
      out.push(p);
      if (r() < 0.1) late.push(p);
      host = [];
      vms = { ctvm0001: [], ctvm0002: [] };
    }
  }
  out.push(batch(host, vms));
  return [...out, ...late];
}

function timeSeriesEquivalence(f: TsEngineFactory): void {
  const t = suite(`time series equal to SQLite [${f.name}]`);
  const withStore = async (name: string, fn: (s: Store) => Promise<void>) => {
    if (!(await f.ready(name))) return;
    const { store, dispose } = await f.open();
    try {
      await fn(store);
    } finally {
      await dispose();
    }
  };

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

  t('time series: every statistic of every metric at 60, 300, 3600 and 86400 s equals the SQLite answer on the same batches', () =>
    withStoreSettled('metric data', async (s, settle) => {
      const now = Math.floor(Date.now() / 60000) * 60;
      const first = now - 2 * DAY;
      const last = now - DAY / 2;
      const batches = contractHistory(16, first, last);
      const ref = await openReference();
      try {
        let dup = 0;
        for (const p of batches) {
          const a = await s.ingest(p, { receivedAt: now });
          const b = await ref.store.ingest(p, { receivedAt: now });
          assert.is(a.status, b.status, `batch ${p.BatchID}`);
          if (a.status === 'duplicate') dup++;
        }
        assert.ok(dup > 0, 'the history replays some batches');
        await settle();
        for (const vm of ['ctvm0001', 'ctvm0002']) {
          for (const metric of Object.keys(METRICS) as MetricName[]) {
            for (const period of [60, 300, 3600, 86400]) {
              const req = { instanceId: vm, metricName: metric, period, startTime: period === 60 ? now - DAY : first - 3600, endTime: now, unit: METRICS[metric].unit, statistics: [...STATISTICS], now };
              const want = await getMetricData(ref.store, req);
              const got = await getMetricData(s, req);
              if (got.datapoints.length !== want.datapoints.length) {
                // Which minutes differ tells an engine's lost write from a range it did not search.
                const have = new Set(got.datapoints.map((d) => d.timestamp));
                const missing = want.datapoints.filter((d) => !have.has(d.timestamp)).map((d) => d.timestamp);
                assert.is(got.datapoints.length, want.datapoints.length, `${vm} ${metric} ${period}: datapoints (now ${now}; ${missing.length} missing, ${missing[0]}..${missing.at(-1)})`);
              }
              assert.ok(want.datapoints.length > 0, `${vm} ${metric} ${period}: some data`);
              for (const [i, d] of want.datapoints.entries()) {
                const g = got.datapoints[i]!;
                assert.is(g.timestamp, d.timestamp);
                for (const k of ['minimum', 'maximum', 'sum', 'average', 'sampleCount'] as const) {
                  const x = g[k]!;
                  const y = d[k]!;
                  assert.ok(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${vm} ${metric} ${period} @${d.timestamp} ${k}: ${x} vs ${y}`);
                }
              }
            }
          }
        }
        // The HetrixTools v3 host history (host statistics and masks) at 1m, 1h and 1d.
        for (const [interval, from] of [['1m', now - DAY + 60], ['1h', first - 3600], ['1d', first - DAY]] as const) {
          const q = parseHistoryQuery({ interval, from: String(from), to: String(now) }, now);
          const want = await hostHistory(ref.store, 'contract-agent', q, now);
          const got = await hostHistory(s, 'contract-agent', q, now);
          assert.ok(want.length > 0, `host history ${interval}`);
          assert.is(got.length, want.length, `host history ${interval}: points`);
          for (const [i, w] of want.entries()) for (const [k, v] of Object.entries(w)) close(got[i]![k], v, `host history ${interval} @${w.timestamp} ${k}`);
        }
        const hostWant = await ref.store.latestHostMinutes('contract-agent', 60);
        const hostGot = await s.latestHostMinutes('contract-agent', 60);
        assert.equal(hostGot.map((r) => r.minute), hostWant.map((r) => r.minute), 'latest host minutes');
        for (const [i, w] of hostWant.entries()) {
          for (const c of ['net_in', 'net_out', 'samples', 'seconds', 'cpu_min', 'cpu_max', 'cpu_count', 'parts']) assert.is(hostGot[i]![c], w[c], `host minute ${w.minute} ${c}`);
          close(hostGot[i]!.cpu_sum, w.cpu_sum, `host minute ${w.minute} cpu_sum`);
          close(hostGot[i]!.cpu_avg, w.cpu_avg, `host minute ${w.minute} cpu_avg`);
        }
        const cols = ['samples', 'net_in', 'net_out', 'disk_read', 'unsampled', 'cpu_sum', 'cpu_count'];
        const vmGot = await s.instanceMinutes('contract-agent', 'ctvm0001', first, last, cols);
        const vmWant = await ref.store.instanceMinutes('contract-agent', 'ctvm0001', first, last, cols);
        assert.is(vmGot.length, vmWant.length, 'instance minutes');
        assert.ok(vmWant.some((r) => r.net_in === null) && vmWant.some((r) => (r.unsampled ?? 0) > 0), 'the history has unknown and unsampled minutes');
        for (const [i, w] of vmWant.entries()) {
          for (const c of ['minute', 'samples', 'net_in', 'net_out', 'disk_read', 'unsampled', 'cpu_count']) assert.is(vmGot[i]![c], w[c], `vm minute ${w.minute} ${c}`);
          close(vmGot[i]!.cpu_sum, w.cpu_sum, `vm minute ${w.minute} cpu_sum`);
        }
      } finally {
        await ref.dispose();
      }
    }),
  );

  t.run();

  async function withStoreSettled(name: string, fn: (s: Store, settle: () => Promise<void>) => Promise<void>): Promise<void> {
    if (!(await f.ready(name))) return;
    const o = await f.open();
    try {
      await fn(o.store, async () => await o.settle?.());
    } finally {
      await o.dispose();
    }
  }
}

/** Equal up to floating-point rounding (sums added in another order), null only when both are. */
function close(a: number | null | undefined, b: number | null | undefined, what: string): void {
  if (a === null || b === null || a === undefined || b === undefined) return assert.is(a, b, what);
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
}

/** The reference the other engines are compared with: SQLite (checked by hand in server-tiers.test.ts). */
async function openReference(): Promise<{ store: Store; dispose(): Promise<void> }> {
  const db = await createTestDb('sqlite');
  const store = await openStore(db.db);
  await store.migrate();
  return {
    store,
    async dispose() {
      await store.close();
      await db.drop();
    },
  };
}

function sqlOrPg(engine: (typeof ENGINES)[number]): TsEngineFactory {
  return {
    name: engine,
    ready: (n) => engineReady(engine, n),
    async open() {
      const db: TestDb = await createTestDb(engine);
      const store = await openStore(db.db);
      await store.migrate();
      return {
        store,
        async dispose() {
          await store.close();
          await db.drop();
        },
      };
    },
  };
}

// SQLite is the reference, so only PostgreSQL is compared here; the full contract runs on both above.
timeSeriesEquivalence(sqlOrPg('postgres'));

/** VictoriaMetrics for the time series, SQLite for the metadata. */
timeSeriesEquivalence({
  name: 'victoriametrics',
  ready: (n) => needs(`${n} [victoriametrics]`, 'victoria-metrics'),
  async open() {
    const vm = await startVictoria();
    const db = await createTestDb('sqlite');
    const store = await openStore(db.db, { tsdb: { write: vm.url, read: vm.url } });
    await store.migrate();
    return {
      store,
      settle: () => (store as import('../src/server/store/victoria.js').VictoriaStore).flush(),
      async dispose() {
        await store.close();
        await db.drop();
        await vm.dispose();
      },
    };
  },
});

function sqlEngine(engine: Engine): EngineFactory {
  return {
    name: engine,
    ready: (n) => engineReady(engine, n),
    async open() {
      const db = await createTestDb(engine);
      // The day tier kept longer than the hour tier, so the contract sees it answer alone (store-contract.ts).
      const store = await openStore(db.db, { retentionDays: { 86400: 1000 } });
      await store.migrate();
      return {
        store,
        async dispose() {
          await store.close();
          await db.drop();
        },
      };
    },
  };
}

for (const engine of ENGINES) storeContract(sqlEngine(engine));
