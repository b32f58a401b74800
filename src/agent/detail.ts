// Nomad-style detail of one VM (nomad-allocation-stats-api.md), in the place of Nomad's per-task
// Pids a per-thread breakdown of the hypervisor process. Pure: the route reads, this shapes.
//
// Semantics kept from Nomad:
// - Percent is percent of ONE core over the interval (200 = two cores busy); UserMode/SystemMode
//   split it.
// - TotalTicks is the CPU consumed in the interval in MHz, as Nomad's TicksConsumed:
//   (Percent / 100) × TotalTicksAvailable / cores = (Percent / 100) × CPUSpeed (MHz of one core).
// - ThrottledPeriods / ThrottledTime (ns) are the cgroup's cumulative counters.
// - MaxUsage is the process's peak RSS (VmHWM).
// - `Measured` names only what this host measured this time; a value whose name is missing is a
//   placeholder 0, never a reading.
import type { VmSample } from '../collect/vm-sample.js';
import type { VmRates } from './rates.js';
import type { InstanceView, ThreadUsage } from './view.js';

export interface NomadCpuStats {
  Percent: number;
  SystemMode: number;
  UserMode: number;
  TotalTicks: number;
  ThrottledPeriods: number;
  ThrottledTime: number;
  Measured: string[];
}

export interface NomadMemoryStats {
  RSS: number;
  Swap: number;
  MaxUsage: number;
  Cache: number;
  KernelUsage: number;
  KernelMaxUsage: number;
  /** RSS plus swap of the process: what it holds, resident or not. */
  Usage: number;
  Measured: string[];
}

export interface ThreadDetail {
  Name: string;
  Vcpu: boolean;
  /** Cumulative CPU of the thread, seconds. */
  UserSeconds: number;
  SystemSeconds: number;
  /** Cumulative schedstat run time and runqueue wait, ns; null where not readable. */
  RunNs: number | null;
  WaitNs: number | null;
  CpuStats: NomadCpuStats;
}

export interface TapDetail {
  /** VM view: Rx = what the VM received. */
  RxBytesPerSec: number;
  TxBytesPerSec: number;
  RxPacketsPerSec: number;
  TxPacketsPerSec: number;
  /** The kernel's error and drop counters of the TAP, VM view, per second. */
  RxErrorsPerSec: number;
  TxErrorsPerSec: number;
  RxDroppedPerSec: number;
  TxDroppedPerSec: number;
}

const TAP_DETAIL_KEYS = ['RxBytesPerSec', 'TxBytesPerSec', 'RxPacketsPerSec', 'TxPacketsPerSec', 'RxErrorsPerSec', 'TxErrorsPerSec', 'RxDroppedPerSec', 'TxDroppedPerSec'] as const;

export interface InstanceDetail {
  InstanceID: string;
  InstanceName: string;
  ResourceUsage: { CpuStats: NomadCpuStats; MemoryStats: NomadMemoryStats };
  Threads: Record<string, ThreadDetail>;
  /** Why Threads is empty when it is (the thread read failed); absent otherwise. */
  ThreadsError?: string;
  Network: TapDetail & { Interfaces: Record<string, TapDetail>; Measured: boolean };
  Disk: { ReadBytesPerSec: number; WriteBytesPerSec: number; ReadBytes: number | null; WriteBytes: number | null };
  /**
   * PSI of the VM's own cgroup v2 (cumulative µs stalled); Measured false with the Reason when the
   * VM has none (cgroup v1 host, root or shared cgroup): the totals are then null, never 0.
   */
  Pressure: PressureDetail;
  /** Length of the interval the rates cover, seconds (0 before the agent's second read). */
  IntervalSeconds: number;
  /** Nanoseconds since the epoch of the fresh read. */
  Timestamp: number;
}

export interface PressureDetail {
  Measured: boolean;
  Reason?: string;
  Cpu: { SomeTotalUs: number | null; FullTotalUs: number | null };
  Memory: { SomeTotalUs: number | null; FullTotalUs: number | null };
  Io: { SomeTotalUs: number | null; FullTotalUs: number | null };
}

export function pressureDetail(sample: VmSample): PressureDetail {
  const p = sample.pressure;
  const one = (t: { someUs: number; fullUs: number | null } | undefined) => ({ SomeTotalUs: t ? t.someUs : null, FullTotalUs: t ? t.fullUs : null });
  if (p) return { Measured: true, Cpu: one(p.cpu), Memory: one(p.memory), Io: one(p.io) };
  const why = sample.errors.find((e) => e.field === 'pressure')?.detail ?? 'not measured';
  return { Measured: false, Reason: why, Cpu: one(undefined), Memory: one(undefined), Io: one(undefined) };
}

const CPU_MEASURED = ['System Mode', 'User Mode', 'Percent'];
const THROTTLE_MEASURED = ['Throttled Periods', 'Throttled Time'];

export function cpuStats(
  rates: Pick<VmRates, 'cpuCorePct' | 'cpuUserPct' | 'cpuSystemPct'> | null,
  throttle: VmSample['throttle'],
  cpuSpeedMhz: number,
): NomadCpuStats {
  const measured = rates ? [...CPU_MEASURED] : [];
  if (throttle) measured.push(...THROTTLE_MEASURED);
  const pct = rates?.cpuCorePct ?? 0;
  return {
    Percent: pct,
    SystemMode: rates?.cpuSystemPct ?? 0,
    UserMode: rates?.cpuUserPct ?? 0,
    TotalTicks: (pct / 100) * cpuSpeedMhz,
    ThrottledPeriods: throttle?.throttledPeriods ?? 0,
    ThrottledTime: throttle?.throttledNs ?? 0,
    Measured: measured,
  };
}

export function memoryStats(sample: VmSample): NomadMemoryStats {
  const measured = ['RSS'];
  if (sample.swapBytes !== null) measured.push('Swap');
  if (sample.peakRssBytes !== null) measured.push('Max Usage');
  return {
    RSS: sample.rssBytes,
    Swap: sample.swapBytes ?? 0,
    MaxUsage: sample.peakRssBytes ?? 0,
    Cache: 0,
    KernelUsage: 0,
    KernelMaxUsage: 0,
    Usage: sample.rssBytes + (sample.swapBytes ?? 0),
    Measured: measured,
  };
}

/** Two reads of the same VM's threads, `seconds` apart; `prev` null when there is only one. */
export interface ThreadReads {
  readonly prev: readonly ThreadUsage[] | null;
  readonly cur: readonly ThreadUsage[];
  readonly seconds: number;
}

export function threadDetails(reads: ThreadReads, cpuSpeedMhz: number): Record<string, ThreadDetail> {
  const before = new Map((reads.prev ?? []).map((t) => [t.tid, t]));
  const out: Record<string, ThreadDetail> = {};
  for (const t of reads.cur) {
    const p = before.get(t.tid);
    // A thread that was not there at the first read has no interval: no percent, not a zero.
    const rates =
      p && reads.seconds > 0
        ? {
            cpuUserPct: (Math.max(0, t.userSeconds - p.userSeconds) / reads.seconds) * 100,
            cpuSystemPct: (Math.max(0, t.systemSeconds - p.systemSeconds) / reads.seconds) * 100,
            cpuCorePct: 0,
          }
        : null;
    if (rates) rates.cpuCorePct = rates.cpuUserPct + rates.cpuSystemPct;
    out[String(t.tid)] = {
      Name: t.name,
      Vcpu: t.vcpu,
      UserSeconds: t.userSeconds,
      SystemSeconds: t.systemSeconds,
      RunNs: t.runNs,
      WaitNs: t.waitNs,
      // Throttling is a cgroup property, never per thread.
      CpuStats: cpuStats(rates, null, cpuSpeedMhz),
    };
  }
  return out;
}

export function buildDetail(
  iv: InstanceView,
  fresh: VmSample,
  threads: ThreadReads | { error: string },
  cpuSpeedMhz: number,
): InstanceDetail {
  const r = iv.rates;
  const interfaces: Record<string, TapDetail> = {};
  const total = Object.fromEntries(TAP_DETAIL_KEYS.map((k) => [k, 0])) as unknown as TapDetail;
  for (const t of iv.tapRates) {
    const d: TapDetail = {
      RxBytesPerSec: t.inBytesPerSec,
      TxBytesPerSec: t.outBytesPerSec,
      RxPacketsPerSec: t.inPacketsPerSec,
      TxPacketsPerSec: t.outPacketsPerSec,
      RxErrorsPerSec: t.inErrorsPerSec,
      TxErrorsPerSec: t.outErrorsPerSec,
      RxDroppedPerSec: t.inDroppedPerSec,
      TxDroppedPerSec: t.outDroppedPerSec,
    };
    interfaces[t.name] = d;
    for (const k of TAP_DETAIL_KEYS) total[k] += d[k];
  }
  const perSec = (v: number) => (r && r.seconds > 0 ? v / r.seconds : 0);
  return {
    InstanceID: iv.vm.instanceId,
    InstanceName: iv.vm.instanceName,
    ResourceUsage: { CpuStats: cpuStats(r, fresh.throttle, cpuSpeedMhz), MemoryStats: memoryStats(fresh) },
    Threads: 'error' in threads ? {} : threadDetails(threads, cpuSpeedMhz),
    ...('error' in threads ? { ThreadsError: threads.error } : {}),
    Network: { ...total, Interfaces: interfaces, Measured: r !== null },
    Disk: {
      ReadBytesPerSec: perSec(r?.diskReadBytes ?? 0),
      WriteBytesPerSec: perSec(r?.diskWriteBytes ?? 0),
      ReadBytes: fresh.diskReadBytes,
      WriteBytes: fresh.diskWriteBytes,
    },
    Pressure: pressureDetail(fresh),
    IntervalSeconds: r?.seconds ?? 0,
    Timestamp: fresh.tMs * 1e6,
  };
}
