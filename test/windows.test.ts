import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GaugeAgg, Windows, windowOfTick, windowStart } from '../src/agent/windows.js';
import { counterDelta, deriveRates, tapRates } from '../src/agent/rates.js';
import { agg, hostWindow, instanceWindow } from '../src/agent/wire-window.js';
import type { TapCounters, VmSample } from '../src/collect/vm-sample.js';
import type { DiscoveredVm } from '../src/discover/vm.js';
import { copySample, packedLength, packSample, unpackSample } from '../src/agent/sampler-protocol.js';
import { InstanceRegistry } from '../src/agent/instance-registry.js';

const w = suite('windows');

w('GaugeAgg: exact avg/min/max/sum/count over a synthetic sequence, nulls ignored', () => {
  const g = new GaugeAgg();
  for (const v of [3, 1, 4, 1, 5, 9, 2, 6, null, NaN]) g.add(v as number);
  assert.equal(g.summary(), { sum: 31, min: 1, max: 9, count: 8 });
  assert.is(new GaugeAgg().summary(), null);
  // On the wire: the average is sum / count.
  assert.equal(agg(g.summary()), { Avg: 31 / 8, Min: 1, Max: 9, Sum: 31, Count: 8 });
});

w('alignment to wall-clock boundaries', () => {
  assert.is(windowStart(1_700_000_099_999, 60), 1_700_000_040_000);
  assert.is(windowStart(1_700_000_040_000, 60), 1_700_000_040_000);
  // A tick at a boundary closes the interval before it: it belongs to the previous window.
  assert.is(windowOfTick(1_700_000_040_000, 5000, 60), 1_699_999_980_000);
  assert.is(windowOfTick(1_700_000_045_000, 5000, 60), 1_700_000_040_000);
});

function rates(cpu: number, net: number) {
  return {
    cpuCorePct: cpu, cpuUserPct: cpu, cpuSystemPct: 0, cpuPct: cpu / 2, vcpuBusyPct: null, stealPct: null,
    rssBytes: 100, swapBytes: 0, memUtilPct: 10, netInBytes: net, netOutBytes: 2 * net, netInPackets: 1, netOutPackets: 2,
    netInErrors: 0, netOutErrors: 1, netInDropped: 3, netOutDropped: 0,
    diskReadBytes: 0, diskWriteBytes: 7, throttledPeriods: 0, throttledNs: 0, cpuSeconds: cpu / 100, netKnown: true, perTap: [], seconds: 1,
  };
}

w('a window closes after the tick at its end, with exact totals; partial windows keep true counts', () => {
  const ws = new Windows(10, 1000);
  const t0 = 1_700_000_000_000; // a multiple of 10 s
  // VM a present the whole window (ticks t0+1 .. t0+10), VM b appears at t0+6.
  for (let i = 1; i <= 10; i++) {
    const t = t0 + i * 1000;
    ws.host(t).add({ cpuPct: i, iowaitPct: 0, stealPct: 0, ramPct: 50, swapPct: 0, load1: 1, load5: 1, load15: 1, diskPct: 20, netInBytes: 10, netOutBytes: 1 });
    ws.vm('a', t).addSample(rates(i * 10, 100), { rssBytes: 100, swapBytes: 0, memUtilPct: 10 });
    if (i >= 6) ws.vm('b', t).addSample(i === 6 ? null : rates(50, 1), { rssBytes: 200, swapBytes: null, memUtilPct: null });
    const closed = ws.closeThrough(t);
    assert.is(closed.length, i === 10 ? 1 : 0, `tick ${i}`);
  }
  const c = ws.history()[0]!;
  assert.is(c.startMs, t0);
  assert.is(c.host.samples, 10);
  assert.equal(c.host.gauges.cpuPct, { sum: 55, min: 1, max: 10, count: 10 });
  assert.is(c.host.netInBytes, 100);
  const host = hostWindow(c.host);
  assert.equal([host.Samples, host.NetIn, host.Minute], [10, 100, t0 / 1000]);
  assert.equal(host.CPU, { Avg: 5.5, Min: 1, Max: 10, Sum: 55, Count: 10 });
  const a = instanceWindow(c.instances.get('a')!);
  assert.is(a.Minute, t0 / 1000);
  assert.is(a.Samples, 10);
  assert.equal(a.CPUCore, { Avg: 55, Min: 10, Max: 100, Sum: 550, Count: 10 });
  assert.is(a.NetIn, 1000);
  assert.is(a.NetOut, 2000);
  assert.is(a.DiskWrite, 70);
  assert.equal([a.NetInErrors, a.NetOutErrors, a.NetInDropped, a.NetOutDropped], [0, 10, 30, 0]);
  const b = instanceWindow(c.instances.get('b')!);
  assert.is(b.Samples, 5);
  assert.is(b.CPUCore!.Count, 4); // its first read has no interval yet
  assert.is(b.MemoryRSS!.Count, 5);
  assert.is(b.MemorySwap, null); // never measured: null, not 0
  assert.is(b.NetIn, 4);
});

w('missed ticks are counted, never folded in as zeros; history keeps at most `keep` windows', () => {
  const ws = new Windows(1, 1000, 3);
  const t0 = 1_700_000_000_000;
  for (let i = 1; i <= 5; i++) {
    const t = t0 + i * 1000;
    if (i % 2) ws.vm('a', t).addMissed();
    else ws.vm('a', t).addSample(rates(10, 1), { rssBytes: 1, swapBytes: 0, memUtilPct: null });
    ws.closeThrough(t);
  }
  const h = ws.history();
  assert.is(h.length, 3);
  assert.equal(h.map((c) => c.instances.get('a')!.missed), [1, 0, 1]);
  assert.is(h[0]!.instances.get('a')!.gauges.cpuCorePct, null);
});

const r = suite('rates');

function sample(over: Partial<VmSample>): VmSample {
  return {
    key: '1:1', tMs: 0, utimeTicks: 0, stimeTicks: 0, numThreads: 1, rssBytes: 0, vmsBytes: 0, swapBytes: 0,
    peakRssBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, vcpuRunNs: 0, vcpuWaitNs: 0, taps: [], throttle: null, pressure: null, errors: [],
    ...over,
  };
}

r('CPU percent of one core, of the allocation, vCPU busy and steal from deltas', () => {
  const prev = sample({ tMs: 1000, utimeTicks: 100, stimeTicks: 50, vcpuRunNs: 0, vcpuWaitNs: 0 });
  const cur = sample({ tMs: 3000, utimeTicks: 250, stimeTicks: 100, vcpuRunNs: 3e9, vcpuWaitNs: 4e8, rssBytes: 512, taps: [] });
  const x = deriveRates(prev, cur, { clockTicksPerSecond: 100, allocatedVcpus: 2, allocatedMemoryBytes: 1024, vcpuThreads: 2 })!;
  assert.is(x.cpuCorePct, 100); // 2 s of CPU in 2 s
  assert.is(x.cpuUserPct, 75);
  assert.is(x.cpuSystemPct, 25);
  assert.is(x.cpuPct, 50);
  assert.is(x.vcpuBusyPct, 75); // 3 s run over 2 threads × 2 s
  assert.is(x.stealPct, 10);
  assert.is(x.memUtilPct, 50);
});

r('TAP counters swap to the VM view, match by name, and a reset never goes negative', () => {
  const t = (name: string, rx: number, tx: number) => ({
    name, rxBytes: rx, txBytes: tx, rxPackets: rx / 100, txPackets: tx / 100, rxErrors: rx / 100, txErrors: 0, rxDropped: 1, txDropped: tx / 1000,
  });
  const prev = sample({ tMs: 0, taps: [t('a', 1000, 5000), t('b', 100, 100)] });
  const cur = sample({ tMs: 1000, taps: [t('b', 300, 100), t('a', 400, 6000), null] });
  const x = deriveRates(prev, cur, { clockTicksPerSecond: 100, allocatedVcpus: 0, allocatedMemoryBytes: 0, vcpuThreads: 0 })!;
  // a: rx reset 1000 → 400 counts 400; tx +1000. b: rx +200.
  assert.is(x.netOutBytes, 600);
  assert.is(x.netInBytes, 1000);
  // Errors and drops swap the same way: the VM's in-drops are the TAP's tx_dropped.
  assert.equal([x.netOutErrors, x.netInErrors, x.netInDropped, x.netOutDropped], [6, 0, 1, 0]);
  // Per TAP, in the current read's order; the unreadable third TAP has none and the total is unknown.
  assert.equal(x.perTap.map((d) => [d.name, d.rxBytes, d.txBytes, d.txErrors]), [['b', 0, 200, 2], ['a', 1000, 400, 4]]);
  assert.is(x.netKnown, false);
  assert.equal(tapRates(x.perTap, 0.5).map((d) => [d.name, d.inBytesPerSec, d.outBytesPerSec]), [['b', 0, 400], ['a', 2000, 800]]);
  // The same TAPs in the same order (matched by position): the same deltas.
  const same = deriveRates(prev, sample({ tMs: 1000, taps: [t('a', 400, 6000), t('b', 300, 100)] }), { clockTicksPerSecond: 100, allocatedVcpus: 0, allocatedMemoryBytes: 0, vcpuThreads: 0 })!;
  assert.equal(same.perTap.map((d) => [d.name, d.rxBytes, d.txBytes]), [['a', 1000, 400], ['b', 0, 200]]);
  assert.equal([same.netInBytes, same.netOutBytes, same.netKnown], [1000, 600, true]);
  assert.is(x.cpuPct, null);
  assert.is(x.memUtilPct, null);
  assert.is(x.vcpuBusyPct, null);
  assert.is(counterDelta(10, 4), 4);
  assert.is(counterDelta(null, 4), 0);
});

r('no rate over an empty or backwards interval', () => {
  const ctx = { clockTicksPerSecond: 100, allocatedVcpus: 1, allocatedMemoryBytes: 0, vcpuThreads: 1 };
  assert.is(deriveRates(sample({ tMs: 1000 }), sample({ tMs: 1000 }), ctx), null);
  assert.is(deriveRates(sample({ tMs: 2000 }), sample({ tMs: 1000 }), ctx), null);
});

// The main thread keeps one sample and one rates object per VM and overwrites them in place.
const p = suite('in place');

const tap = (name: string, base: number): TapCounters => ({
  name, rxBytes: base, txBytes: base + 1, rxPackets: base + 2, txPackets: base + 3, rxErrors: base + 4, txErrors: base + 5, rxDropped: base + 6, txDropped: base + 7,
});
const vmOf = (key: string, taps: string[]) => ({ key, taps }) as unknown as DiscoveredVm;
const packed = (s: VmSample) => {
  const data = new Float64Array(packedLength(s));
  packSample(data, 0, s);
  return data;
};
const full = (k: number, over: Partial<VmSample> = {}) =>
  sample({
    tMs: 1000 * k, utimeTicks: 10 * k, stimeTicks: 5 * k, numThreads: 3, rssBytes: 4096 * k, vmsBytes: 8192 * k, swapBytes: k, peakRssBytes: 2 * k,
    diskReadBytes: 7 * k, diskWriteBytes: 11 * k, vcpuRunNs: 1e6 * k, vcpuWaitNs: 1e5 * k, taps: [tap('vt0', 100 * k), tap('vt1', 1000 * k)],
    throttle: { periods: k, throttledPeriods: k - 1, throttledNs: 50 * k },
    pressure: { cpu: { someUs: k, fullUs: null }, memory: { someUs: 2 * k, fullUs: 3 * k }, io: { someUs: 4 * k, fullUs: 5 * k } },
    ...over,
  });

p('unpackSample into a spare: the same object, every field as a fresh unpack, nested objects included', () => {
  const vm = vmOf('1:1', ['vt0', 'vt1']);
  const first = unpackSample(packed(full(1)), 0, vm, []);
  assert.equal(first, full(1));
  // Every shape change the in-place path must handle: a TAP unreadable, throttle and pressure gone.
  const changes: VmSample[] = [
    full(2, { taps: [tap('vt0', 200), null] }),
    full(3, { throttle: null, pressure: null, swapBytes: null, vcpuRunNs: null }),
    full(4),
    full(5, { taps: [null, null] }),
    full(6),
  ];
  let spare = first;
  for (const want of changes) {
    const errors = [{ field: 'x', kind: 'missing' as const, detail: String(want.tMs) }];
    const got = unpackSample(packed(want), 0, vm, errors, spare);
    assert.ok(got === spare, 'written in place');
    assert.equal(got, { ...want, errors });
    assert.equal(got, unpackSample(packed(want), 0, vm, errors));
    spare = got;
  }
  // Another VM's sample, or another TAP count, is never overwritten.
  const kept = copySample(spare);
  const other = unpackSample(packed(full(7, { key: '2:2' })), 0, vmOf('2:2', ['vt0', 'vt1']), [], spare);
  assert.ok(other !== spare);
  const fewer = unpackSample(packed(full(8, { taps: [tap('vt0', 800)] })), 0, vmOf('1:1', ['vt0']), [], spare);
  assert.ok(fewer !== spare);
  assert.equal(spare, kept);
  assert.is(fewer.taps.length, 1);
});

p('deriveRates into the previous rates: the same object and the same values as fresh ones; TAPs that went shrink the list', () => {
  const ctx = { clockTicksPerSecond: 100, allocatedVcpus: 2, allocatedMemoryBytes: 1 << 20, vcpuThreads: 2 };
  const a = deriveRates(full(1), full(2), ctx)!;
  assert.is(a.perTap.length, 2);
  const next = full(3, { taps: [tap('vt1', 3000)] });
  const b = deriveRates(full(2), next, ctx, a)!;
  assert.ok(b === a);
  assert.equal(b, deriveRates(full(2), next, ctx));
  assert.equal(b.perTap.map((t) => [t.name, t.rxBytes]), [['vt1', 1000]]);
  const c = deriveRates(next, full(4), ctx, b)!;
  assert.equal(c, deriveRates(next, full(4), ctx));
  assert.equal(c.perTap.map((t) => t.name), ['vt1']);
});

p('what outlives a tick (a report, a checkpoint) holds copies: later reads written in place do not change it', () => {
  const reg = new InstanceRegistry();
  const vm = { ...vmOf('1:1', ['vt0', 'vt1']), state: 'running', instanceId: 'i-1' } as unknown as DiscoveredVm;
  reg.add(vm);
  const s = reg.get('1:1')!;
  s.latest = unpackSample(packed(full(1)), 0, vm, []);
  const reading = reg.readings()[0]!.sample;
  const reported = reg.vmsOf(['1:1']).get('1:1')!.latest!;
  unpackSample(packed(full(9)), 0, vm, [], s.latest);
  assert.is(s.latest.tMs, 9000);
  assert.equal(reading, full(1));
  assert.equal(reported, full(1));
  // The spare is handed out once.
  s.spare = reading;
  assert.ok(reg.takeSpare('1:1') === reading);
  assert.is(reg.takeSpare('1:1'), null);
});

w.run();
r.run();
p.run();
