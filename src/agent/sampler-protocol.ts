// The messages between the agent and its sampler workers. Results travel as one Float64Array
// per shard (structured clone of a typed array is one memcpy): a tick over 1,000 VMs must not
// build 1,000 objects in a worker only to clone them field by field on the way out.
import type { DiscoveredVm } from '../discover/vm.js';
import type { FailureKind } from '../readers/outcome.js';
import type { SystemConstants } from '../readers/system.js';
import type { FieldError, TapCounters, ThrottleCounters, VmPressure, VmSample } from '../collect/vm-sample.js';
import type { PressureTotals } from '../readers/parse-pressure.js';

export interface ShardTask {
  /** The shard's generation; a worker that has not been reset to it answers `resync`. */
  readonly generation: number;
  /** Close every reader first and take `generation` (a new or replaced worker). */
  readonly reset: boolean;
  readonly roots: { readonly procRoot: string; readonly sysRoot: string };
  readonly constants: SystemConstants;
  readonly upserts: readonly { readonly slot: number; readonly vm: DiscoveredVm }[];
  readonly removes: readonly number[];
}

export interface ShardResult {
  readonly generation: number;
  readonly resync: boolean;
  readonly slots: Int32Array;
  readonly status: Int8Array;
  readonly data: Float64Array;
  /** Only slots whose error set changed since the previous result; [] means "now none". */
  readonly errorChanges: readonly { readonly slot: number; readonly errors: readonly FieldError[] }[];
}

export const STATUS_OK = 0;
const STATUS_KINDS: readonly FailureKind[] = ['gone', 'denied', 'missing', 'malformed', 'io'];

export function statusCode(kind: FailureKind): number {
  return STATUS_KINDS.indexOf(kind) + 1;
}

export function statusKind(code: number): FailureKind {
  return STATUS_KINDS[code - 1] ?? 'io';
}

/** Fixed fields per VM, then TAP_FIELDS per TAP in TapCounters order. */
export const FIXED = 22;
/** Where the TAP count sits in a packed sample. */
export const TAP_COUNT_AT = 15;
export const TAP_FIELDS = 8;

/** Write one sample at `at`; returns the next offset. Nulls are NaN. */
export function packSample(out: Float64Array, at: number, s: VmSample): number {
  const n = (v: number | null) => (v === null ? NaN : v);
  out[at] = s.tMs;
  out[at + 1] = s.utimeTicks;
  out[at + 2] = s.stimeTicks;
  out[at + 3] = s.numThreads;
  out[at + 4] = s.rssBytes;
  out[at + 5] = s.vmsBytes;
  out[at + 6] = n(s.swapBytes);
  out[at + 7] = n(s.peakRssBytes);
  out[at + 8] = n(s.diskReadBytes);
  out[at + 9] = n(s.diskWriteBytes);
  out[at + 10] = n(s.vcpuRunNs);
  out[at + 11] = n(s.vcpuWaitNs);
  out[at + 12] = s.throttle ? s.throttle.periods : NaN;
  out[at + 13] = s.throttle ? s.throttle.throttledPeriods : NaN;
  out[at + 14] = s.throttle ? s.throttle.throttledNs : NaN;
  out[at + TAP_COUNT_AT] = s.taps.length;
  // PSI totals (µs) of cpu, memory, io: some and full each; all NaN when not measured.
  const p = s.pressure;
  out[at + 16] = p ? p.cpu.someUs : NaN;
  out[at + 17] = p ? n(p.cpu.fullUs) : NaN;
  out[at + 18] = p ? p.memory.someUs : NaN;
  out[at + 19] = p ? n(p.memory.fullUs) : NaN;
  out[at + 20] = p ? p.io.someUs : NaN;
  out[at + 21] = p ? n(p.io.fullUs) : NaN;
  let o = at + FIXED;
  for (const t of s.taps) {
    out[o] = t ? t.rxBytes : NaN;
    out[o + 1] = t ? t.txBytes : NaN;
    out[o + 2] = t ? t.rxPackets : NaN;
    out[o + 3] = t ? t.txPackets : NaN;
    out[o + 4] = t ? t.rxErrors : NaN;
    out[o + 5] = t ? t.txErrors : NaN;
    out[o + 6] = t ? t.rxDropped : NaN;
    out[o + 7] = t ? t.txDropped : NaN;
    o += TAP_FIELDS;
  }
  return o;
}

export function packedLength(s: VmSample): number {
  return FIXED + TAP_FIELDS * s.taps.length;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Read one sample back; TAP names come from the VM, in the order the reader used. `into`: a
 * sample of the same VM that nobody reads any more, overwritten in place (with its TAP, throttle
 * and pressure objects) instead of allocating a new graph. The main thread keeps every VM's
 * latest sample for a tick: new ones would each survive a scavenge and be promoted to old space,
 * about 1 MB per tick at 1,000 VMs, and the garbage collector was 40 % of the main thread's time.
 */
export function unpackSample(data: Float64Array, at: number, vm: DiscoveredVm, errors: readonly FieldError[], into: VmSample | null = null): VmSample {
  const v = (i: number) => {
    const x = data[at + i]!;
    return Number.isNaN(x) ? null : x;
  };
  const nTaps = data[at + TAP_COUNT_AT]!;
  const reuse = into !== null && into.key === vm.key && into.taps.length === nTaps ? (into as Mutable<VmSample>) : null;
  const taps = reuse ? (reuse.taps as (TapCounters | null)[]) : new Array<TapCounters | null>(nTaps);
  let o = at + FIXED;
  for (let i = 0; i < nTaps; i++) {
    const rx = data[o]!;
    if (Number.isNaN(rx)) {
      taps[i] = null;
    } else {
      const name = vm.taps[i] ?? `tap${i}`;
      const t = (taps[i] ?? { name }) as Mutable<TapCounters>;
      t.name = name;
      t.rxBytes = rx;
      t.txBytes = data[o + 1]!;
      t.rxPackets = data[o + 2]!;
      t.txPackets = data[o + 3]!;
      t.rxErrors = data[o + 4]!;
      t.txErrors = data[o + 5]!;
      t.rxDropped = data[o + 6]!;
      t.txDropped = data[o + 7]!;
      taps[i] = t;
    }
    o += TAP_FIELDS;
  }
  const periods = v(12);
  const throttle = periods === null ? null : ((reuse?.throttle ?? {}) as Mutable<ThrottleCounters>);
  if (throttle) {
    throttle.periods = periods!;
    throttle.throttledPeriods = data[at + 13]!;
    throttle.throttledNs = data[at + 14]!;
  }
  const cpuSome = v(16);
  let pressure: VmPressure | null = null;
  if (cpuSome !== null) {
    const p = reuse?.pressure ?? { cpu: { someUs: 0, fullUs: null }, memory: { someUs: 0, fullUs: null }, io: { someUs: 0, fullUs: null } };
    const set = (t: PressureTotals, some: number, full: number | null) => {
      (t as Mutable<PressureTotals>).someUs = some;
      (t as Mutable<PressureTotals>).fullUs = full;
    };
    set(p.cpu, cpuSome, v(17));
    set(p.memory, data[at + 18]!, v(19));
    set(p.io, data[at + 20]!, v(21));
    pressure = p;
  }
  const sample: Mutable<VmSample> = reuse ?? {
    key: vm.key, tMs: 0, utimeTicks: 0, stimeTicks: 0, numThreads: 0, rssBytes: 0, vmsBytes: 0, swapBytes: null, peakRssBytes: null,
    diskReadBytes: null, diskWriteBytes: null, vcpuRunNs: null, vcpuWaitNs: null, taps, throttle, pressure, errors,
  };
  sample.tMs = data[at]!;
  sample.utimeTicks = data[at + 1]!;
  sample.stimeTicks = data[at + 2]!;
  sample.numThreads = data[at + 3]!;
  sample.rssBytes = data[at + 4]!;
  sample.vmsBytes = data[at + 5]!;
  sample.swapBytes = v(6);
  sample.peakRssBytes = v(7);
  sample.diskReadBytes = v(8);
  sample.diskWriteBytes = v(9);
  sample.vcpuRunNs = v(10);
  sample.vcpuWaitNs = v(11);
  sample.throttle = throttle;
  sample.pressure = pressure;
  sample.taps = taps;
  sample.errors = errors;
  return sample;
}

/** Where the packed sample after the one at `at` starts. */
export function nextPacked(data: Float64Array, at: number): number {
  return at + FIXED + TAP_FIELDS * data[at + TAP_COUNT_AT]!;
}

/** A copy that shares nothing mutable with `s` (for what outlives the tick: reports, checkpoints). */
export function copySample(s: VmSample): VmSample {
  const p = s.pressure;
  return {
    ...s,
    taps: s.taps.map((t) => (t ? { ...t } : null)),
    throttle: s.throttle ? { ...s.throttle } : null,
    pressure: p ? { cpu: { ...p.cpu }, memory: { ...p.memory }, io: { ...p.io } } : null,
  };
}

/** What travels to a worker: argv can be kilobytes (libvirt) and the reader never needs it. */
export function forWorker(vm: DiscoveredVm): DiscoveredVm {
  return { ...vm, argv: [] };
}
