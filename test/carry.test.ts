// Counters carried across agent restarts, the never-reopening windows, the readings checkpoint,
// and the server's minute model for windows shorter than a minute (both engines, real server).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gapGoesWhole, spreadGap } from '../src/agent/carry.js';
import { Windows, type CarriedDeltas } from '../src/agent/windows.js';
import { CHECKPOINT_FILE, readCheckpoint, writeCheckpoint } from '../src/agent/checkpoint.js';
import { buildPayload, countersOf } from '../src/agent/payload-builder.js';
import { pino } from 'pino';
import { Agent, type WindowReport } from '../src/agent/agent.js';
import { systemConstants } from '../src/readers/system.js';
import type { VmSample } from '../src/collect/vm-sample.js';
import { instanceWindow as wireWindow } from '../src/agent/wire-window.js';
import { toMinuteRecords } from '../src/server/minutes.js';
import { getMetricData } from '../src/server/metric-data.js';
import { engineReady, ENGINES, hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, startTestServer, agg } from './helpers/server.js';

const c = suite('carried counters');

const deltas = (o: Partial<CarriedDeltas> = {}): CarriedDeltas => ({
  cpuSeconds: 12.34,
  netInBytes: 1_000_003,
  netOutBytes: 9_007_199_254_740, // large: the split must stay exact beyond 2^53 products
  netInPackets: 1001,
  netOutPackets: 7,
  netInErrors: 3,
  netOutErrors: 0,
  netInDropped: 5,
  netOutDropped: 1,
  netKnown: true,
  diskReadBytes: 0,
  diskWriteBytes: 4096,
  throttledPeriods: 3,
  throttledNs: 123_456_789,
  ...o,
});

c('a long gap is spread over the records it covers; every counter adds up exactly', () => {
  const d = deltas();
  const m0 = 1_699_999_980_000; // a minute boundary
  const from = m0 + 7300;
  const to = from + 185_000; // three minutes and 5 s later
  const shares = spreadGap(d, from, to, 60_000, 1000, 100);
  assert.equal(shares.map((s) => s.startMs), [m0, m0 + 60_000, m0 + 120_000, m0 + 180_000]);
  for (const f of ['netInBytes', 'netOutBytes', 'netInPackets', 'netOutPackets', 'netInErrors', 'netInDropped', 'netOutDropped', 'diskReadBytes', 'diskWriteBytes', 'throttledPeriods', 'throttledNs'] as const) {
    assert.is(shares.reduce((a, s) => a + s.deltas[f], 0), d[f], f);
    for (const s of shares) assert.ok(Number.isInteger(s.deltas[f]) && s.deltas[f] >= 0, `${f} share ${s.deltas[f]}`);
  }
  assert.is(Math.round(shares.reduce((a, s) => a + s.deltas.cpuSeconds, 0) * 100), 1234, 'CPU in whole clock ticks');
  // Evenly: a whole minute inside the gap gets 60/185 of it (within one unit of rounding).
  assert.ok(Math.abs(shares[1]!.deltas.netInBytes - (d.netInBytes * 60) / 185) <= 1);
  // Unsampled: the gap minus its last ordinary sampling interval.
  assert.is(shares.reduce((a, s) => a + s.unsampledSeconds, 0), 184);
  assert.is(shares[1]!.unsampledSeconds, 60);
});

c('a gap of up to two windows goes whole into the current window', () => {
  assert.ok(gapGoesWhole(0, 20_000, 10));
  assert.not.ok(gapGoesWhole(0, 20_001, 10));
  assert.ok(gapGoesWhole(0, 120_000, 60));
});

c('an unknown network share stays unknown in every record', () => {
  for (const s of spreadGap(deltas({ netKnown: false }), 0, 130_000, 60_000, 1000, 100)) assert.is(s.deltas.netKnown, false);
});

c('a closed window never reopens: a late arrival lands in the earliest open window', () => {
  const ws = new Windows(10, 1000);
  const t0 = 1_700_000_000_000;
  for (let i = 1; i <= 10; i++) ws.vm('a', t0 + i * 1000).addSample(null, { rssBytes: 1, swapBytes: null, memUtilPct: null });
  assert.is(ws.closeThrough(t0 + 10_000).length, 1);
  // A VM found gone 200 ms after the boundary: by the midpoint rule that instant maps to the
  // window that just closed; it must not be recreated (it would ship again with Samples 0).
  const late = ws.vm('a', t0 + 10_200);
  assert.is(late.startMs, t0 + 10_000);
  assert.equal(ws.closeAll().map((w) => w.startMs), [t0 + 10_000]);
  assert.equal(ws.history().map((w) => w.startMs), [t0, t0 + 10_000]);
});

c('backfill opens only windows before the run\'s first; a window longer than a minute keeps minute records', () => {
  const ws = new Windows(300, 5000);
  assert.is(ws.recordSeconds, 60);
  const t0 = 1_700_000_100_000; // a minute boundary
  ws.vm('a', t0 + 5000);
  assert.is(ws.backfill('a', t0), null, 'this run\'s own first window is not backfilled');
  const b = ws.backfill('a', t0 - 60_000)!;
  assert.is(b.startMs, t0 - 60_000);
  b.addCarried(deltas(), 60);
  const closed = ws.closeThrough(t0 + 60_000);
  assert.equal(closed.map((w) => [w.startMs, w.backfill]), [[t0 - 60_000, true], [t0, false]]);
  const r = wireWindow(closed[0]!.instances.get('a')!);
  assert.is(r.Samples, 0);
  assert.is(r.Unsampled, 60);
  assert.is(r.NetOut, deltas().netOutBytes);
  assert.is(r.CPUTime, 12.34);
  assert.is(r.CPU, null, 'no gauge is invented for unsampled time');
  assert.is(closed[1]!.instances.get('a')!.seconds, 60);
});

const sample = (o: Partial<VmSample> = {}): VmSample => ({
  key: '4242:99', tMs: Date.now(), utimeTicks: 1000, stimeTicks: 200, numThreads: 3, rssBytes: 4096, vmsBytes: 8192, swapBytes: 0, peakRssBytes: 4096,
  diskReadBytes: 10, diskWriteBytes: 20, vcpuRunNs: 5, vcpuWaitNs: 1,
  taps: [{ name: 'vpt0', rxBytes: 100, txBytes: 200, rxPackets: 1, txPackets: 2, rxErrors: 0, txErrors: 4, rxDropped: 5, txDropped: 6 }, null], throttle: null, pressure: null, errors: [], ...o,
});

c('the latest counters of a VM with an unreadable TAP are null, never a partial sum', () => {
  const k = countersOf(sample(), 100);
  assert.is(k.NetworkRxBytes, null);
  assert.is(k.NetworkTxBytes, null);
  const ok = countersOf(sample({ taps: [{ name: 'vpt0', rxBytes: 100, txBytes: 200, rxPackets: 1, txPackets: 2, rxErrors: 0, txErrors: 4, rxDropped: 5, txDropped: 6 }] }), 100);
  assert.is(ok.NetworkRxBytes, 200);
  assert.is(ok.NetworkTxBytes, 100);
  // Packets, errors and drops in the VM's view too: the VM received what the TAP transmitted.
  assert.equal([ok.NetworkRxPackets, ok.NetworkTxPackets, ok.NetworkRxErrors, ok.NetworkTxErrors, ok.NetworkRxDropped, ok.NetworkTxDropped], [2, 1, 4, 0, 6, 5]);
  assert.equal([k.NetworkRxPackets, k.NetworkRxErrors, k.NetworkTxDropped], [null, null, null]);
});

c('the readings checkpoint round-trips; a malformed one is refused (counters start fresh)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-cp-'));
  try {
    const s = sample();
    await writeCheckpoint(dir, { savedAtMs: 1234, readings: [{ key: s.key, instanceId: 'vm-1', sample: s }], batches: [Buffer.from([1, 2, 3])] });
    const warnings: string[] = [];
    const cp = await readCheckpoint(dir, (m) => warnings.push(m));
    assert.ok(cp);
    assert.is(cp.savedAtMs, 1234);
    assert.equal(cp.readings, [{ key: s.key, instanceId: 'vm-1', sample: s }]);
    assert.equal([...cp.batches[0]!], [1, 2, 3]);
    writeFileSync(join(dir, CHECKPOINT_FILE), JSON.stringify({ version: 1, savedAtMs: 1, readings: [{ key: 'x', instanceId: 'y', sample: { key: 'x', tMs: 'soon' } }], batches: [] }));
    assert.is(await readCheckpoint(dir, (m) => warnings.push(m)), null);
    assert.equal(warnings, ['checkpoint is malformed; counters start fresh']);
    rmSync(join(dir, CHECKPOINT_FILE));
    assert.is(await readCheckpoint(dir, (m) => warnings.push(m)), null);
    assert.is(warnings.length, 1, 'no checkpoint is not a warning');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

c('windows shorter than a minute become one record per minute before they are stored', () => {
  const m = 1_700_000_040;
  const p = payload({
    Stats: [0, 10, 20].map((o) => hostWindow(m + o, { Seconds: 10, Samples: 10, NetIn: 100 * (o + 1), CPU: agg([o]) })),
    Instances: [instanceRecord('vm-1', { Stats: [0, 10, 20, 60].map((o) => instanceWindow(m + o, { Seconds: 10, Samples: 10, NetOut: o + 1, CPUCore: agg([o, o + 1]), Unsampled: o === 10 ? 4 : undefined })) })],
  });
  const q = toMinuteRecords(p);
  assert.equal(q.Stats.map((h) => [h.Minute, h.Seconds, h.Samples, h.NetIn]), [[m, 30, 30, 100 + 1100 + 2100]]);
  assert.equal(q.Stats[0]!.CPU, agg([0, 10, 20]));
  const w = q.Instances[0]!.Stats;
  assert.equal(w.map((x) => [x.Minute, x.Seconds, x.Samples, x.NetOut, x.Unsampled]), [[m, 30, 30, 1 + 11 + 21, 4], [m + 60, 10, 10, 61, undefined]]);
  assert.equal(w[0]!.CPUCore, agg([0, 1, 10, 11, 20, 21]));
});

for (const engine of ENGINES) {
  c(`[${engine}] 10 s windows from separate batches merge into their minute on the server`, async () => {
    if (!(await engineReady(engine, '10 s windows merge into their minute'))) return;
    const s = await startTestServer(engine);
    try {
      const m = nowMinute(-3);
      for (const o of [0, 10, 20, 30, 40, 50]) {
        const r = await ingest(s.url, s.agent.secret, payload({ Stats: [hostWindow(m + o, { Seconds: 10, Samples: 10 })], Instances: [instanceRecord('vm-10s', { Stats: [instanceWindow(m + o, { Seconds: 10, Samples: 10, NetOut: 1000 + o })] })] }));
        assert.is(r.body.status, 'stored');
      }
      const rows = await s.db.query(`SELECT minute, seconds, samples, net_out FROM instance_minutes WHERE instance_id = 'vm-10s'`);
      assert.equal(rows.map((r) => [Number(r.minute), Number(r.seconds), Number(r.samples), Number(r.net_out)]), [[m, 60, 60, 6000 + 150]]);
      const host = await s.db.query(`SELECT minute, seconds, samples FROM host_minutes`);
      assert.equal(host.map((r) => [Number(r.minute), Number(r.seconds), Number(r.samples)]), [[m, 60, 60]]);
    } finally {
      await s.close();
    }
  });
}

for (const engine of ENGINES) {
  c(`[${engine}] a 300 s window does not make its host look silent for the minutes still on their way`, async () => {
    if (!(await engineReady(engine, 'long windows and status checks'))) return;
    const s = await startTestServer(engine);
    try {
      const S = Math.floor(Date.now() / 300_000) * 300 - 600; // a 300 s window start, ten minutes ago
      const minutes = [0, 60, 120, 180, 240].map((o) => S + o);
      const batch = (agent: string, ms: number[]) =>
        payload({ AgentID: agent, WindowSeconds: ms.length * 60, Stats: ms.map((m) => hostWindow(m)), Instances: [instanceRecord(`vm-${agent}`, { Stats: ms.map((m) => instanceWindow(m)) })] });
      // Two agents, the same minutes delivered: one in a single 300 s batch, one a minute per batch.
      const long = await startTestServer(engine);
      try {
        assert.is((await ingest(long.url, long.agent.secret, batch('hv-long', minutes))).body.status, 'stored');
        for (const m of minutes) assert.is((await ingest(s.url, s.agent.secret, batch('hv-short', [m]))).body.status, 'stored');
        // Judged 130 s after the window ended: the next window's first minutes are not in yet.
        const now = S + 300 + 130;
        const q = (store: typeof s.server.store, id: string) =>
          getMetricData(store, { instanceId: id, metricName: 'StatusCheckFailed_System', period: 60, startTime: S, endTime: S + 600, unit: 'Count', statistics: ['Maximum'], now, graceSeconds: 60 });
        const longDp = (await q(long.server.store, 'vm-hv-long')).datapoints.map((d) => [d.timestamp - S, d.maximum]);
        const shortDp = (await q(s.server.store, 'vm-hv-short')).datapoints.map((d) => [d.timestamp - S, d.maximum]);
        assert.equal(shortDp, [[0, 0], [60, 0], [120, 0], [180, 0], [240, 0], [300, 1], [360, 1]], 'a minute-window agent is late: its host looks silent');
        assert.equal(longDp, [[0, 0], [60, 0], [120, 0]], 'the 300 s agent\'s minutes still on their way are not judged');
      } finally {
        await long.close();
      }
    } finally {
      await s.close();
    }
  });
}

c('a 120 s window is handed on once, as its two minute records, when it ends', async () => {
  const agent = new Agent({ procRoot: '/proc', sysRoot: '/sys', intervalMs: 60_000, windowSeconds: 120, discoveryIntervalMs: 60_000, workers: 1, apiTimeoutMs: 300 }, systemConstants(), pino({ level: 'silent' }));
  const reports: WindowReport[] = [];
  agent.onWindow((r) => void reports.push(r));
  try {
    await agent.discover();
    // Ticks are attributed to the nominal times given; the reads themselves are real.
    const T0 = Math.floor(Date.now() / 120_000) * 120_000;
    await agent.tickAt(T0 + 60_000);
    assert.is(reports.length, 0, 'the first minute is held until its window ends');
    await agent.tickAt(T0 + 120_000);
    assert.is(reports.length, 1);
    assert.equal(reports[0]!.windows.map((w) => [w.startMs - T0, w.host.seconds, w.host.samples]), [[0, 60, 1], [60_000, 60, 1]]);
    const p = buildPayload(reports[0]!, { batchId: '01ARZ3NDEKTSV4RRFFQ69G5FAV', agentId: 'a', agentVersion: '0', facts: agent.host().facts, disks: [], interfaces: [], clockTicksPerSecond: 100 });
    assert.equal(p.Stats.map((h) => h.Minute * 1000 - T0), [0, 60_000]);
  } finally {
    await agent.stop();
  }
});

c.run();
