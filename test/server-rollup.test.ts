// Tier rollups after ingest (src/server/store/rollup.ts): batches and rollups running at the same
// time lose no minute (on PostgreSQL through concurrent transactions, on SQLite interleaved), and
// the server's periodic rollup builds the tiers by itself, counted in its metrics.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openStore, type Store } from '../src/server/store/store.js';
import { ENGINES, agg, createTestDb, engineReady, instanceRecord, instanceWindow, payload, request, startTestServer, ingest, nowMinute } from './helpers/server.js';

const VMS = ['rollvm01', 'rollvm02', 'rollvm03'];

/** A stat row as plain numbers, for equality. */
const plain = (rows: { t: number; min: number; max: number; sum: number; count: number }[]) => rows.map((r) => [r.t, r.min, r.max, r.sum, r.count]);

/** The tier rows of every VM, read after a full rollup (nothing pending), against the same statistics from the minutes. */
async function assertTiersExact(store: Store, from: number, to: number, what: string): Promise<number> {
  let rows = 0;
  for (const id of VMS) {
    const target = { agentId: 'roll-agent', instanceId: id };
    for (const [stat, kind] of [
      ['cpu', 'gauge'],
      ['net_in', 'total'],
    ] as const) {
      for (const tier of [300, 3600, 86400] as const) {
        const want = plain(await store.statRows(target, 60, from, to, stat, kind, tier));
        const got = plain(await store.statRows(target, tier, from, to, stat, kind, tier));
        // Sums may be added in another order: equal to rounding; the rest exactly.
        const key = (r: number[]) => `${r[0]} ${r[1]} ${r[2]} ${r[4]}`;
        assert.equal(got.map(key), want.map(key), `${what}: ${id} ${stat} at ${tier}`);
        for (const [i, w] of want.entries()) assert.ok(Math.abs(got[i]![3]! - w[3]!) <= 1e-9 * Math.abs(w[3]!), `${what}: ${id} ${stat} at ${tier} @${w[0]}: sum ${got[i]![3]} vs ${w[3]}`);
        rows += got.length;
      }
    }
  }
  return rows;
}

for (const engine of ENGINES) {
  const t = suite(`tier rollup [${engine}]`);

  t('batches and rollups at the same time: every minute ends up in its tiers exactly once', async () => {
    if (!(await engineReady(engine, 'concurrent rollup'))) return;
    const db = await createTestDb(engine);
    const store = await openStore(db.db, { poolMax: 8 });
    try {
      await store.migrate();
      const start = Math.floor(nowMinute(-180) / 3600) * 3600;
      // 400 batches of one VM-minute part each, into 2 hours: most minutes arrive in two parts, the
      // second often after the first's bucket was rolled up; some batches are sent twice.
      let seed = 7;
      const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const batches = [];
      for (let i = 0; i < 400; i++) {
        const m = start + Math.floor(rnd() * 120) * 60;
        const id = VMS[Math.floor(rnd() * VMS.length)]!;
        const n = 1 + Math.floor(rnd() * 6);
        const cpu = Array.from({ length: n }, () => Math.round(rnd() * 1000) / 10);
        batches.push(payload({ AgentID: 'roll-agent', Stats: [], Instances: [instanceRecord(id, { Stats: [instanceWindow(m, { Seconds: n * 5, Samples: n, CPU: agg(cpu), NetIn: 1000 * n + i })] })] }));
        if (rnd() < 0.1) batches.push(batches[batches.length - 1]!);
      }
      let ingesting = true;
      let rollups = 0;
      let rebuilt = 0;
      // Rollups back to back while the batches go in, four at a time.
      const roller = (async () => {
        while (ingesting) {
          const r = await store.rollup(start + 3 * 86400);
          rebuilt += r.buckets[300];
          rollups++;
        }
      })();
      const queue = [...batches];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let p = queue.shift(); p; p = queue.shift()) await store.ingest(p, { receivedAt: start });
        }),
      );
      ingesting = false;
      await roller;
      assert.ok(rollups > 3 && rebuilt > 0, `rollups ran during ingest: ${rollups}, ${rebuilt} buckets`);
      // One more minute into a bucket rolled up already: pending again, and the backlog says so.
      await store.rollup(start + 3 * 86400);
      const late = start + 7 * 60;
      await store.ingest(payload({ AgentID: 'roll-agent', Stats: [], Instances: [instanceRecord(VMS[0]!, { Stats: [instanceWindow(late, { Seconds: 5, Samples: 1, CPU: agg([42]), NetIn: 7 })] })] }), { receivedAt: start });
      assert.equal(await store.rollupBacklog(), [
        { tier: 300, buckets: 1, oldestEnd: Math.floor(late / 300) * 300 + 300 },
        { tier: 3600, buckets: 0, oldestEnd: null },
        { tier: 86400, buckets: 0, oldestEnd: null },
      ]);
      await store.rollup(start + 3 * 86400);
      assert.equal((await store.rollupBacklog()).map((b) => b.buckets), [0, 0, 0]);
      assert.equal((await store.rollup(start + 3 * 86400)).buckets, { 300: 0, 3600: 0, 86400: 0 }, 'nothing is left pending');
      const rows = await assertTiersExact(store, start - 86400, start + 2 * 86400, 'after concurrent ingest');
      assert.ok(rows > 100, `${rows} tier rows compared`);
    } finally {
      await store.close();
      await db.drop();
    }
  });

  t('the server rolls the tiers up by itself, a minute after their buckets end, and counts it', async () => {
    if (!(await engineReady(engine, 'periodic rollup'))) return;
    const s = await startTestServer(engine, { rollupIntervalS: 1 });
    try {
      const m = nowMinute(-30);
      const p = payload({ AgentID: 'roll-agent', Instances: VMS.map((id, i) => instanceRecord(id, { Stats: [instanceWindow(m, { CPU: agg([10 * i, 20 * i]) })] })) });
      assert.is((await ingest(s.url, s.agent.secret, p)).status, 200);
      const tierRows = async () => Number((await s.server.store.statRows({ agentId: 'roll-agent', instanceId: 'rollvm02' }, 300, m - 3600, m + 3600, 'cpu', 'gauge', 300)).length);
      // Read before and after: the same answer (pending buckets are read from the minutes).
      assert.is(await tierRows(), 1);
      const deadline = Date.now() + 20_000;
      let metrics = '';
      while (Date.now() < deadline) {
        metrics = (await request(`${s.url}/metrics`, { secret: s.reader.secret })).text;
        // A scrape reads the backlog and the counters at different moments: one taken while the
        // rollup runs can count it done and still see its bucket waiting. The next one agrees.
        if (/vmpulse_server_rollup_buckets_total\{tier="300"\} [1-9]/.test(metrics) && /vmpulse_server_rollup_pending_buckets\{tier="300"\} 0\b/.test(metrics)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.match(metrics, /vmpulse_server_rollup_buckets_total\{tier="300"\} 1\b/, 'one agent-bucket of 300 s rolled up');
      assert.match(metrics, /vmpulse_server_rollup_duration_seconds_count [1-9]/);
      assert.match(metrics, /vmpulse_server_rollup_pending_buckets\{tier="300"\} 0\b/, 'nothing of 300 s left waiting');
      assert.match(metrics, /vmpulse_server_rollup_lag_seconds\{tier="300"\} 0\b/);
      // The tier row itself, as the rollup wrote it.
      const rows = await s.server.store.statRows({ agentId: 'roll-agent', instanceId: 'rollvm02' }, 300, m - 3600, m + 3600, 'cpu', 'gauge', 300);
      assert.equal(plain(rows), [[Math.floor(m / 300) * 300, 10, 20, 30, 2]]);
      assert.equal((await s.server.store.rollup(m + 3600)).buckets[300], 0, 'the periodic rollup left no 300 s bucket pending');
    } finally {
      await s.close();
    }
  });

  t.run();
}
