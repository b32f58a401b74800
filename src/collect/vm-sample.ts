import type { FailureKind } from '../readers/outcome.js';
import type { PressureTotals } from '../readers/parse-pressure.js';

/** PSI totals of the VM's own cgroup v2, per resource (see collect/pressure.ts). */
export interface VmPressure {
  readonly cpu: PressureTotals;
  readonly memory: PressureTotals;
  readonly io: PressureTotals;
}

/**
 * One TAP's counters as the host's kernel counts them (host view: rx = what the VM sent), from the
 * namespace's /proc/<pid>/net/dev (or the TAP's sysfs statistics when it is not listed there).
 * Errors and drops are the kernel's: `rxDropped` is /proc/net/dev's `drop` (rx_dropped plus
 * rx_missed_errors, which a TAP never counts); `txDropped` is tx_dropped, frames the host could not
 * hand to the VM (TAP down, the VM's queue full).
 */
export interface TapCounters {
  readonly name: string;
  readonly rxBytes: number;
  readonly txBytes: number;
  readonly rxPackets: number;
  readonly txPackets: number;
  readonly rxErrors: number;
  readonly txErrors: number;
  readonly rxDropped: number;
  readonly txDropped: number;
}

export interface ThrottleCounters {
  readonly periods: number;
  readonly throttledPeriods: number;
  readonly throttledNs: number;
}

/** A field that could not be read this time, and why; the field itself is then null. */
export interface FieldError {
  readonly field: string;
  readonly kind: FailureKind;
  readonly detail: string;
}

/**
 * One read of one VM's counters. Values are raw kernel counters (not rates); a null means "not
 * measured" and has an entry in `errors` — never a 0 standing in for a failure.
 */
export interface VmSample {
  readonly key: string;
  /** Wall clock, ms, taken right after the reads. */
  readonly tMs: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly numThreads: number;
  /** From statm (pages × page size). */
  readonly rssBytes: number;
  readonly vmsBytes: number;
  /** From status: VmSwap, VmHWM. */
  readonly swapBytes: number | null;
  readonly peakRssBytes: number | null;
  /** From io: read_bytes, write_bytes (storage-layer bytes). */
  readonly diskReadBytes: number | null;
  readonly diskWriteBytes: number | null;
  /** Sum over the vCPU threads of schedstat run time and runqueue wait, ns. */
  readonly vcpuRunNs: number | null;
  readonly vcpuWaitNs: number | null;
  /** Same order as DiscoveredVm.taps; null where that TAP could not be read. */
  readonly taps: readonly (TapCounters | null)[];
  readonly throttle: ThrottleCounters | null;
  /** Null where the VM has no cgroup v2 of its own; the `pressure` error says why. */
  readonly pressure: VmPressure | null;
  readonly errors: readonly FieldError[];
}
