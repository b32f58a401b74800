// Merged minutes (issue 12): a record for a minute already stored is merged into it, never
// replaces it; the same batch twice is stored once. Both engines, through the store itself.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { HostWindow, InstanceWindow } from '../src/ship/payload.js';
import { openStore, type Store } from '../src/server/store/store.js';
import { ENGINES, agg, createTestDb, engineReady, hostWindow, instanceRecord, instanceWindow, nowMinute, payload, type Engine, type TestDb } from './helpers/server.js';

async function withStore(engine: Engine, name: string, fn: (store: Store, db: TestDb) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const db = await createTestDb(engine);
  const store = await openStore(db.db);
  try {
    await store.migrate();
    await fn(store, db);
  } finally {
    await store.close();
    await db.drop();
  }
}

type Row = Record<string, number | string | null>;

function normalise(r: Record<string, unknown>): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(r)) out[k] = v === null || v === undefined ? null : typeof v === 'string' && !/^-?[\d.e+-]+$/.test(v) ? v : Number(v);
  return out;
}

async function instanceRow(db: TestDb, instanceId: string, minute: number): Promise<Row> {
  const rows = await db.query(`SELECT * FROM instance_minutes WHERE instance_id = '${instanceId}' AND minute = ${minute}`);
  assert.is(rows.length, 1, `one row for ${instanceId} at ${minute}`);
  return normalise(rows[0]!);
}

async function hostRow(db: TestDb, agentId: string, minute: number): Promise<Row> {
  const rows = await db.query(`SELECT * FROM host_minutes WHERE agent_id = '${agentId}' AND minute = ${minute}`);
  assert.is(rows.length, 1, `one host row for ${agentId} at ${minute}`);
  return normalise(rows[0]!);
}

/** Equal columns, floats to a relative 1e-12 (Avg = Sum / Count rounds differently by order). */
function sameRow(actual: Row, expected: Row, skip: readonly string[], what: string): void {
  for (const [k, v] of Object.entries(expected)) {
    if (skip.includes(k)) continue;
    const a = actual[k];
    if (typeof v === 'number' && typeof a === 'number') {
      assert.ok(Math.abs(a - v) <= 1e-12 * Math.max(1, Math.abs(v)), `${what}: ${k} = ${a}, expected ${v}`);
    } else assert.is(a, v, `${what}: ${k}`);
  }
}

// One minute of a VM: 12 ticks of gauges; counters per tick. Split after tick `cut` into two
// partial windows that an agent restarted mid-minute would send.
const cpu = [12.5, 40, 3.25, 99, 51, 7, 66.5, 23, 80, 1.5, 45, 30];
const rss = [1e9, 1.1e9, 1.05e9, 1.2e9, 1.3e9, 1.25e9, 1.4e9, 1.35e9, 1.5e9, 1.45e9, 1.6e9, 1.55e9];
const netOut = [100, 2000, 30, 400, 5000, 60, 700, 8000, 90, 1000, 11, 1200];
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function vmWindow(minute: number, from: number, to: number, o: Partial<InstanceWindow> = {}): InstanceWindow {
  const n = to - from;
  const part = <T>(xs: T[]) => xs.slice(from, to);
  return instanceWindow(minute, {
    Seconds: n * 5,
    Samples: n,
    Missed: from === 0 ? 1 : 0,
    CPU: agg(part(cpu)),
    CPUCore: agg(part(cpu).map((x) => x * 2)),
    CPUUser: agg(part(cpu).map((x) => x * 1.5)),
    CPUSystem: agg(part(cpu).map((x) => x * 0.5)),
    VcpuBusy: agg(part(cpu).map((x) => x * 0.9)),
    Steal: agg(part(cpu).map((x) => x / 10)),
    MemoryRSS: agg(part(rss)),
    MemorySwap: null,
    MemoryUtilization: agg(part(rss).map((x) => x / 4e9)),
    NetIn: sum(part(netOut)) * 3,
    NetOut: sum(part(netOut)),
    NetInPackets: n * 7,
    NetOutPackets: n * 5,
    DiskRead: n * 4096,
    DiskWrite: n * 8192,
    ThrottledPeriods: n,
    ThrottledTimeNs: n * 1000,
    ...o,
  });
}

function hostPart(minute: number, from: number, to: number): HostWindow {
  const part = (xs: number[]) => xs.slice(from, to);
  return hostWindow(minute, {
    Seconds: (to - from) * 5,
    Samples: to - from,
    CPU: agg(part(cpu)),
    IOWait: agg(part(cpu).map((x) => x / 20)),
    RAM: agg(part(cpu).map((x) => x / 2)),
    Steal: null,
    Swap: agg(part(cpu).map((x) => x / 7)),
    Load1: agg(part(cpu).map((x) => x / 100)),
    Load5: agg(part(cpu).map((x) => x / 90)),
    Load15: agg(part(cpu).map((x) => x / 80)),
    Disk: agg(part(cpu).map((x) => x / 3)),
    NetIn: sum(part(netOut)) * 2,
    NetOut: sum(part(netOut)),
  });
}

for (const engine of ENGINES) {
  const t = suite(`server merged minutes [${engine}]`);

  t('the same batch twice is stored once', () =>
    withStore(engine, 'merge dedup', async (store, db) => {
      const m = nowMinute(-3);
      const p = payload({ Stats: [hostPart(m, 0, 12)], Instances: [instanceRecord('dup00001', { Stats: [vmWindow(m, 0, 12)] })] });
      assert.is((await store.ingest(p, { receivedAt: 1 })).status, 'stored');
      const before = await instanceRow(db, 'dup00001', m);
      const hostBefore = await hostRow(db, 'agent-1', m);
      assert.is((await store.ingest(p, { receivedAt: 2 })).status, 'duplicate');
      assert.is((await store.ingest(structuredClone(p), { receivedAt: 3 })).status, 'duplicate');
      assert.equal(await instanceRow(db, 'dup00001', m), before);
      assert.equal(await hostRow(db, 'agent-1', m), hostBefore);
      assert.is(before.net_out, sum(netOut));
      assert.is(before.samples, 12);
      assert.is(await db.count('batches'), 1);
    }),
  );

  t('two partial windows of one minute merge to what the whole window gives, in either order', () =>
    withStore(engine, 'merge partial', async (store, db) => {
      const m = nowMinute(-4);
      const cut = 5;
      // The reference: one whole window, as if the agent had not restarted.
      await store.ingest(payload({ AgentID: 'whole', Stats: [hostPart(m, 0, 12)], Instances: [instanceRecord('vm000001', { Stats: [vmWindow(m, 0, 12)] })] }), { receivedAt: 1 });
      // First part, then the second; and the second, then the first (a spool replayed late).
      for (const [agent, order] of [['ab', [0, 1]], ['ba', [1, 0]]] as const) {
        const parts: [number, number][] = [[0, cut], [cut, 12]];
        for (const i of order) {
          const [from, to] = parts[i]!;
          const r = await store.ingest(
            payload({ AgentID: agent, Stats: [hostPart(m, from, to)], Instances: [instanceRecord(`vm00000${agent === 'ab' ? 2 : 3}`, { Stats: [vmWindow(m, from, to)] })] }),
            { receivedAt: 2 },
          );
          assert.is(r.status, 'stored');
        }
      }
      const whole = await instanceRow(db, 'vm000001', m);
      assert.is(whole.net_out, sum(netOut));
      assert.is(whole.cpu_count, 12);
      assert.is(whole.cpu_min, 1.5);
      assert.is(whole.cpu_max, 99);
      for (const id of ['vm000002', 'vm000003']) {
        const merged = await instanceRow(db, id, m);
        sameRow(merged, whole, ['agent_id', 'instance_id', 'parts'], id);
        assert.is(merged.parts, 2, 'two records merged');
        assert.is(merged.net_out, sum(netOut), `${id} NetOut holds the whole minute's bytes`);
        assert.is(merged.seconds, 60);
        assert.is(merged.missed, 1);
      }
      const wholeHost = await hostRow(db, 'whole', m);
      for (const a of ['ab', 'ba']) sameRow(await hostRow(db, a, m), wholeHost, ['agent_id', 'parts'], `host ${a}`);
      // Windows of one minute inside a single batch (windows shorter than a minute) merge the same way.
      await store.ingest(
        payload({ AgentID: 'one-batch', Stats: [hostPart(m, 0, 4), hostPart(m, 4, 12)], Instances: [instanceRecord('vm000004', { Stats: [vmWindow(m, 0, 4), vmWindow(m, 4, 12)] })] }),
        { receivedAt: 3 },
      );
      sameRow(await instanceRow(db, 'vm000004', m), whole, ['agent_id', 'instance_id'], 'one batch');
      sameRow(await hostRow(db, 'one-batch', m), wholeHost, ['agent_id'], 'one batch host');
      // And their disks add up, device by device, whichever window carried a device.
      const disk = (Device: string, k: number) => ({ Device, ReadBytes: 512 * k, WriteBytes: 4096 * k, ReadOps: k, WriteOps: 2 * k });
      await store.ingest(
        payload({
          AgentID: 'one-batch-disks',
          Stats: [hostPart(m, 0, 4), hostPart(m, 4, 12)],
          Instances: [instanceRecord('vm000005', { Stats: [vmWindow(m, 0, 4, { Disks: [disk('vda', 1), disk('vdb', 3)] }), vmWindow(m, 4, 12, { Disks: [disk('vda', 10)] })] })],
        }),
        { receivedAt: 4 },
      );
      const disks = (await db.query(`SELECT device, read_bytes, write_bytes, read_ops, write_ops FROM instance_disk_minutes WHERE instance_id = 'vm000005' AND minute = ${m} ORDER BY device`)).map(normalise);
      assert.equal(disks, [
        { device: 'vda', read_bytes: 512 * 11, write_bytes: 4096 * 11, read_ops: 11, write_ops: 22 },
        { device: 'vdb', read_bytes: 512 * 3, write_bytes: 4096 * 3, read_ops: 3, write_ops: 6 },
      ]);
    }),
  );

  t('a batch whose stored minutes sit between new ones: the new rows are stored once, the stored ones merged, the tiers exact', () =>
    withStore(engine, 'merge mixed', async (store, db) => {
      const m = nowMinute(-8);
      const ids = ['mix00001', 'mix00002', 'mix00003', 'mix00004'];
      // The reference: whole windows for every VM in one batch of an agent of its own.
      await store.ingest(payload({ AgentID: 'whole', Instances: ids.map((id) => instanceRecord(id, { Stats: [vmWindow(m, 0, 12)] })) }), { receivedAt: 1 });
      // The second and fourth VMs' first parts are stored first; then one batch carries the first and
      // third VMs whole (new rows before and after) and the second and fourth VMs' second parts.
      await store.ingest(payload({ AgentID: 'mixed', Instances: [ids[1]!, ids[3]!].map((id) => instanceRecord(id, { Stats: [vmWindow(m, 0, 5)] })) }), { receivedAt: 2 });
      const r = await store.ingest(
        payload({
          AgentID: 'mixed',
          Instances: ids.map((id, i) => instanceRecord(id, { Stats: [i % 2 === 1 ? vmWindow(m, 5, 12) : vmWindow(m, 0, 12)] })),
        }),
        { receivedAt: 3 },
      );
      assert.is(r.status, 'stored');
      // The tier rows are built by the rollup (store/rollup.ts): every bucket of these minutes.
      await store.rollup(m + 2 * 86400);
      for (const [i, id] of ids.entries()) {
        const whole = (await db.query(`SELECT * FROM instance_minutes WHERE agent_id = 'whole' AND instance_id = '${id}'`)).map(normalise)[0]!;
        const got = (await db.query(`SELECT * FROM instance_minutes WHERE agent_id = 'mixed' AND instance_id = '${id}'`)).map(normalise);
        assert.is(got.length, 1, `${id}: one row`);
        assert.is(got[0]!.parts, i % 2 === 1 ? 2 : 1, `${id}: parts`);
        sameRow(got[0]!, whole, ['agent_id', 'parts'], id);
        for (const table of ['instance_5m', 'instance_1h']) {
          const tw = (await db.query(`SELECT * FROM ${table} WHERE agent_id = 'whole' AND instance_id = '${id}'`)).map(normalise);
          const tm = (await db.query(`SELECT * FROM ${table} WHERE agent_id = 'mixed' AND instance_id = '${id}'`)).map(normalise);
          assert.is(tw.length, 1);
          assert.is(tm.length, 1, `${id} ${table}: one row`);
          assert.is(tm[0]!.net_out_count, 1, `${id} ${table}: the merged minute's total counted once`);
          assert.is(tm[0]!.cpu_count, 12);
          sameRow(tm[0]!, tw[0]!, ['agent_id'], `${id} ${table}`);
        }
      }
    }),
  );

  t('merges with nulls: an unknown network total stays unknown, an absent gauge takes the other side, Unsampled adds', () =>
    withStore(engine, 'merge nulls', async (store, db) => {
      const m = nowMinute(-6);
      const a = vmWindow(m, 0, 6, { NetIn: null, NetInPackets: null, MemoryUtilization: null, Unsampled: 20 });
      const b = vmWindow(m, 6, 12, { NetOutPackets: null, CPU: null });
      const c = vmWindow(m + 60, 0, 12, { NetIn: null, NetOut: null, NetInPackets: null, NetOutPackets: null });
      await store.ingest(payload({ Instances: [instanceRecord('null0001', { Stats: [a, c] })] }), { receivedAt: 1 });
      const first = await instanceRow(db, 'null0001', m);
      assert.is(first.net_in, null, 'null is stored as null, not 0');
      assert.is(first.net_in_packets, null);
      assert.is(first.unsampled, 20);
      assert.is(first.memory_utilization_count, null);
      assert.is((await instanceRow(db, 'null0001', m + 60)).net_out, null);
      await store.ingest(payload({ Instances: [instanceRecord('null0001', { Stats: [b] })] }), { receivedAt: 2 });
      const r = await instanceRow(db, 'null0001', m);
      assert.is(r.net_in, null, 'null + x stays null');
      assert.is(r.net_in_packets, null);
      assert.is(r.net_out_packets, null, 'x + null is null too');
      assert.is(r.net_out, sum(netOut), 'known on both sides: added');
      assert.is(r.unsampled, 20);
      assert.is(r.samples, 12);
      // CPU only from the first part, MemoryUtilization only from the second.
      const cpuA = cpu.slice(0, 6);
      assert.is(r.cpu_count, 6);
      assert.is(r.cpu_sum, sum(cpuA));
      assert.is(r.cpu_min, Math.min(...cpuA));
      assert.is(r.cpu_max, Math.max(...cpuA));
      const memB = rss.slice(6).map((x) => x / 4e9);
      assert.is(r.memory_utilization_count, 6);
      assert.ok(Math.abs((r.memory_utilization_avg as number) - sum(memB) / 6) < 1e-12);
      assert.is(r.memory_utilization_min, Math.min(...memB));
      assert.is(r.memory_swap_count, null, 'absent on both sides stays absent');
      // Unsampled seconds add across merges.
      await store.ingest(payload({ Instances: [instanceRecord('null0001', { Stats: [vmWindow(m, 0, 0, { CPU: null, Samples: 0, Seconds: 0, Unsampled: 7, NetIn: 0, NetOut: 0 })] })] }), {
        receivedAt: 3,
      });
      const u = await instanceRow(db, 'null0001', m);
      assert.is(u.unsampled, 27);
      assert.is(u.net_out, sum(netOut));
      assert.is(u.cpu_count, 6);
    }),
  );

  t.run();
}
