// Turning two consecutive raw reads of one VM into per-second rates and percentages.
// Counters only ever move forward in the kernel; a smaller value means a reset (a TAP re-created,
// a cgroup moved) and is counted from zero, as Prometheus' rate() does: never a negative rate.
import type { VmSample } from '../collect/vm-sample.js';
import type { TapRate } from './view.js';
import { tapVmDelta, zeroNet, type NetCounters } from '../collect/vm-counters.js';

export interface VmRates {
  /** Percent of one core (Nomad's Percent) and its split. */
  cpuCorePct: number;
  cpuUserPct: number;
  cpuSystemPct: number;
  /** Percent of the allocated vCPUs (Lightsail CPUUtilization); null without an allocation. */
  cpuPct: number | null;
  /** Busy percent of the vCPU threads; runqueue wait of the vCPU threads (steal). Per vCPU. */
  vcpuBusyPct: number | null;
  stealPct: number | null;
  rssBytes: number;
  swapBytes: number | null;
  memUtilPct: number | null;
  /** Deltas over the interval, VM view (In = the VM received = the TAP's tx). */
  netInBytes: number;
  netOutBytes: number;
  netInPackets: number;
  netOutPackets: number;
  netInErrors: number;
  netOutErrors: number;
  netInDropped: number;
  netOutDropped: number;
  diskReadBytes: number;
  diskWriteBytes: number;
  throttledPeriods: number;
  throttledNs: number;
  /** CPU seconds (user + system) used over the interval. */
  cpuSeconds: number;
  /** False when a TAP could not be read at either end: the network deltas are then incomplete. */
  netKnown: boolean;
  /** Per-TAP deltas over the interval, VM view (tapRates turns them into the API's rates). */
  perTap: readonly TapDelta[];
  /** Interval length, seconds. */
  seconds: number;
}

export interface RateContext {
  clockTicksPerSecond: number;
  allocatedVcpus: number;
  allocatedMemoryBytes: number;
  vcpuThreads: number;
}

export function counterDelta(prev: number | null | undefined, cur: number | null | undefined): number {
  if (prev == null || cur == null) return 0;
  return cur >= prev ? cur - prev : cur;
}

/** One TAP's VM-view deltas over an interval. */
export interface TapDelta extends NetCounters {
  name: string;
}

/**
 * Per-TAP VM-view deltas, matched by name so a TAP list change never pairs the wrong counters.
 * Runs for every VM on every tick: TAPs are matched by position when the names agree (the list
 * rarely changes). `into`: the per-TAP list of a result nobody reads any more, refilled in place.
 */
export function tapDeltas(prev: VmSample, cur: VmSample, into: TapDelta[] | null = null): { total: NetCounters; perTap: TapDelta[]; known: boolean } {
  // A TAP unreadable at either end leaves its delta unknown, so the VM's total is unknown too (a
  // partial sum would understate the traffic). A TAP named for the first time (hot-plugged)
  // counts from its first read.
  const known = !cur.taps.includes(null) && !prev.taps.includes(null);
  const total = zeroNet();
  const perTap: TapDelta[] = into ?? [];
  let n = 0;
  for (let i = 0; i < cur.taps.length; i++) {
    const t = cur.taps[i];
    if (!t) continue;
    const atI = prev.taps[i];
    const p = atI && atI.name === t.name ? atI : prev.taps.find((x) => x !== null && x.name === t.name);
    if (!p) continue;
    const d = tapVmDelta(p, t, counterDelta, perTap[n] ?? (perTap[n] = { name: '', ...zeroNet() }));
    d.name = t.name;
    n++;
    total.rxBytes += d.rxBytes;
    total.txBytes += d.txBytes;
    total.rxPackets += d.rxPackets;
    total.txPackets += d.txPackets;
    total.rxErrors += d.rxErrors;
    total.txErrors += d.txErrors;
    total.rxDropped += d.rxDropped;
    total.txDropped += d.txDropped;
  }
  perTap.length = n;
  return { total, perTap, known };
}

/** VM-view network deltas under the names windows and carried deltas use (In = received). */
export function netDeltaFields(n: NetCounters) {
  return {
    netInBytes: n.rxBytes,
    netOutBytes: n.txBytes,
    netInPackets: n.rxPackets,
    netOutPackets: n.txPackets,
    netInErrors: n.rxErrors,
    netOutErrors: n.txErrors,
    netInDropped: n.rxDropped,
    netOutDropped: n.txDropped,
  };
}

/**
 * Rates between two reads of the same process (same key); null when the interval is unusable.
 * `into`: this VM's previous rates, overwritten in place when nobody reads them any more (the
 * agent keeps one per VM for a tick; a new object each tick would be promoted to old space).
 */
export function deriveRates(prev: VmSample, cur: VmSample, ctx: RateContext, into: VmRates | null = null): VmRates | null {
  const seconds = (cur.tMs - prev.tMs) / 1000;
  if (!(seconds > 0.05)) return null;
  const tick = ctx.clockTicksPerSecond;
  const user = counterDelta(prev.utimeTicks, cur.utimeTicks) / tick;
  const system = counterDelta(prev.stimeTicks, cur.stimeTicks) / tick;
  const cpuCorePct = ((user + system) / seconds) * 100;
  const net = tapDeltas(prev, cur, into ? (into.perTap as TapDelta[]) : null);
  const vcpuWall = seconds * 1e9 * ctx.vcpuThreads;
  const bothVcpu = prev.vcpuRunNs != null && cur.vcpuRunNs != null && ctx.vcpuThreads > 0;
  const bothWait = prev.vcpuWaitNs != null && cur.vcpuWaitNs != null && ctx.vcpuThreads > 0;
  const r: VmRates = into ?? ({} as VmRates);
  r.cpuCorePct = cpuCorePct;
  r.cpuUserPct = (user / seconds) * 100;
  r.cpuSystemPct = (system / seconds) * 100;
  r.cpuPct = ctx.allocatedVcpus > 0 ? cpuCorePct / ctx.allocatedVcpus : null;
  r.vcpuBusyPct = bothVcpu ? (counterDelta(prev.vcpuRunNs, cur.vcpuRunNs) / vcpuWall) * 100 : null;
  r.stealPct = bothWait ? (counterDelta(prev.vcpuWaitNs, cur.vcpuWaitNs) / vcpuWall) * 100 : null;
  r.rssBytes = cur.rssBytes;
  r.swapBytes = cur.swapBytes;
  r.memUtilPct = ctx.allocatedMemoryBytes > 0 ? (cur.rssBytes / ctx.allocatedMemoryBytes) * 100 : null;
  Object.assign(r, netDeltaFields(net.total));
  r.diskReadBytes = counterDelta(prev.diskReadBytes, cur.diskReadBytes);
  r.diskWriteBytes = counterDelta(prev.diskWriteBytes, cur.diskWriteBytes);
  r.throttledPeriods = counterDelta(prev.throttle?.throttledPeriods, cur.throttle?.throttledPeriods);
  r.throttledNs = counterDelta(prev.throttle?.throttledNs, cur.throttle?.throttledNs);
  r.cpuSeconds = user + system;
  r.netKnown = net.known;
  r.perTap = net.perTap;
  r.seconds = seconds;
  return r;
}

/** Counter deltas between two readings, however far apart (no rates: nothing was sampled between). */
export function counterDeltas(prev: VmSample, cur: VmSample, clockTicksPerSecond: number) {
  const net = tapDeltas(prev, cur);
  return {
    cpuSeconds: (counterDelta(prev.utimeTicks, cur.utimeTicks) + counterDelta(prev.stimeTicks, cur.stimeTicks)) / clockTicksPerSecond,
    ...netDeltaFields(net.total),
    netKnown: net.known,
    diskReadBytes: counterDelta(prev.diskReadBytes, cur.diskReadBytes),
    diskWriteBytes: counterDelta(prev.diskWriteBytes, cur.diskWriteBytes),
    throttledPeriods: counterDelta(prev.throttle?.throttledPeriods, cur.throttle?.throttledPeriods),
    throttledNs: counterDelta(prev.throttle?.throttledNs, cur.throttle?.throttledNs),
  };
}

/** Per-TAP rates over an interval, VM view (what the API's detail shows per interface). */
export function tapRates(perTap: readonly TapDelta[], seconds: number): TapRate[] {
  return perTap.map((t) => ({
    name: t.name,
    inBytesPerSec: t.rxBytes / seconds,
    outBytesPerSec: t.txBytes / seconds,
    inPacketsPerSec: t.rxPackets / seconds,
    outPacketsPerSec: t.txPackets / seconds,
    inErrorsPerSec: t.rxErrors / seconds,
    outErrorsPerSec: t.txErrors / seconds,
    inDroppedPerSec: t.rxDropped / seconds,
    outDroppedPerSec: t.txDropped / seconds,
  }));
}
