// The one mapping from a raw read (VmSample, host view) to a VM's cumulative counters in the VM's
// view: what `snapshot`, the agent's API and metrics, `vmpulse top` and the wire payload all show.
// A TAP's rx is what the VM sent, so the VM's rx is the TAP's tx: the swap happens here and only
// here. Presentations (snake_case InstanceStats, PascalCase payload Counters) rename, never recompute.
import type { TapCounters, VmSample } from './vm-sample.js';

/** One interface's (or the sum of a VM's interfaces') counters, VM view. */
export interface NetCounters {
  rxBytes: number;
  txBytes: number;
  rxPackets: number;
  txPackets: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

export const NET_COUNTER_KEYS = ['rxBytes', 'txBytes', 'rxPackets', 'txPackets', 'rxErrors', 'txErrors', 'rxDropped', 'txDropped'] as const;

/** A TAP's host-side counters in the VM's view. */
export function tapVmView(t: TapCounters): NetCounters {
  return {
    rxBytes: t.txBytes,
    txBytes: t.rxBytes,
    rxPackets: t.txPackets,
    txPackets: t.rxPackets,
    rxErrors: t.txErrors,
    txErrors: t.rxErrors,
    rxDropped: t.txDropped,
    txDropped: t.rxDropped,
  };
}

/**
 * A TAP's change between two reads in the VM's view, written into `out` (the agent refills one
 * per TAP every tick); `delta` says how one counter moved (rates.ts).
 */
export function tapVmDelta<T extends NetCounters>(before: TapCounters, after: TapCounters, delta: (a: number, b: number) => number, out: T): T {
  out.rxBytes = delta(before.txBytes, after.txBytes);
  out.txBytes = delta(before.rxBytes, after.rxBytes);
  out.rxPackets = delta(before.txPackets, after.txPackets);
  out.txPackets = delta(before.rxPackets, after.rxPackets);
  out.rxErrors = delta(before.txErrors, after.txErrors);
  out.txErrors = delta(before.rxErrors, after.rxErrors);
  out.rxDropped = delta(before.txDropped, after.txDropped);
  out.txDropped = delta(before.rxDropped, after.rxDropped);
  return out;
}

export function zeroNet(): NetCounters {
  return { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 };
}

/**
 * The sum over a VM's TAPs, VM view. A VM without TAPs has no TAP traffic (zeros, as Hypeman
 * reports it); one unreadable TAP makes the total unknown (null): a partial sum would understate it.
 */
export function netTotals(taps: readonly (TapCounters | null)[]): NetCounters | null {
  const sum = zeroNet();
  for (const t of taps) {
    if (!t) return null;
    const v = tapVmView(t);
    for (const k of NET_COUNTER_KEYS) sum[k] += v[k];
  }
  return sum;
}

/** A VM's cumulative counters and current gauges, VM view. */
export interface VmCounters {
  /** (utime + stime) / clock ticks per second of the hypervisor process. */
  cpuSeconds: number;
  rssBytes: number;
  vmsBytes: number;
  swapBytes: number | null;
  peakRssBytes: number | null;
  /** Null when a TAP could not be read. */
  net: NetCounters | null;
  diskReadBytes: number | null;
  diskWriteBytes: number | null;
}

export function vmCounters(sample: VmSample, clockTicksPerSecond: number): VmCounters {
  return {
    cpuSeconds: (sample.utimeTicks + sample.stimeTicks) / clockTicksPerSecond,
    rssBytes: sample.rssBytes,
    vmsBytes: sample.vmsBytes,
    swapBytes: sample.swapBytes,
    peakRssBytes: sample.peakRssBytes,
    net: netTotals(sample.taps),
    diskReadBytes: sample.diskReadBytes,
    diskWriteBytes: sample.diskWriteBytes,
  };
}
