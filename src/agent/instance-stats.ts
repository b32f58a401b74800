// Hypeman's InstanceStats (hypeman-instance-stats-api.txt) as vmpulse presents it: the snake_case
// record of `vmpulse snapshot --json` and `vmpulse top` (the seed's fields plus vmpulse's), and
// the seed's ten fields exactly for the agent's `GET /instances/{id}/stats`, so SDKs and scripts
// written for Hypeman work unchanged. Values come from collect/vm-counters.ts, the one counter
// mapping the wire payload uses too; this module only names them.
import type { DiscoveredVm, Hypervisor } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import { tapVmView, vmCounters } from '../collect/vm-counters.js';

/** One TAP's counters, VM view (rx = what the VM received), snake_case. */
export interface TapStats {
  name: string;
  rx_bytes: number;
  tx_bytes: number;
  rx_packets: number;
  tx_packets: number;
  rx_errors: number;
  tx_errors: number;
  rx_dropped: number;
  tx_dropped: number;
}

/** Hypeman's InstanceStats (snake_case, same names and meanings) plus vmpulse's extra fields. */
export interface InstanceStats {
  instance_id: string;
  instance_name: string;
  cpu_seconds: number;
  memory_rss_bytes: number;
  memory_vms_bytes: number;
  /** What the VM received: the sum of its TAPs' host-side tx_bytes. Null when not measured. */
  network_rx_bytes: number | null;
  /** What the VM sent: the sum of its TAPs' host-side rx_bytes. Null when not measured. */
  network_tx_bytes: number | null;
  allocated_vcpus: number;
  allocated_memory_bytes: number;
  /** rss / allocated memory; present only when allocated_memory_bytes > 0. */
  memory_utilization_ratio?: number;
  hypervisor: Hypervisor;
  pid: number;
  tap_devices: string[];
  vcpu_threads: number;
  memory_swap_bytes: number | null;
  memory_peak_rss_bytes: number | null;
  disk_read_bytes: number | null;
  disk_write_bytes: number | null;
  /** Packets, errors and drops summed over the TAPs, VM view; null when a TAP was not read. */
  network_rx_packets: number | null;
  network_tx_packets: number | null;
  network_rx_errors: number | null;
  network_tx_errors: number | null;
  network_rx_dropped: number | null;
  network_tx_dropped: number | null;
  /** Each TAP that could be read, VM view. */
  taps: TapStats[];
  /** PSI totals (µs) of the VM's own cgroup v2; null with the reason beside it when not measured. */
  pressure: Record<'cpu' | 'memory' | 'io', { some_total_us: number; full_total_us: number | null }> | null;
  pressure_unavailable: string | null;
}

export function toInstanceStats(sample: VmSample, vm: DiscoveredVm, clockTicksPerSecond: number): InstanceStats {
  const c = vmCounters(sample, clockTicksPerSecond);
  const n = c.net;
  const taps: TapStats[] = [];
  for (const t of sample.taps) {
    if (!t) continue;
    const v = tapVmView(t);
    taps.push({
      name: t.name,
      rx_bytes: v.rxBytes,
      tx_bytes: v.txBytes,
      rx_packets: v.rxPackets,
      tx_packets: v.txPackets,
      rx_errors: v.rxErrors,
      tx_errors: v.txErrors,
      rx_dropped: v.rxDropped,
      tx_dropped: v.txDropped,
    });
  }
  return {
    instance_id: vm.instanceId,
    instance_name: vm.instanceName,
    cpu_seconds: c.cpuSeconds,
    memory_rss_bytes: c.rssBytes,
    memory_vms_bytes: c.vmsBytes,
    network_rx_bytes: n ? n.rxBytes : null,
    network_tx_bytes: n ? n.txBytes : null,
    allocated_vcpus: vm.allocatedVcpus,
    allocated_memory_bytes: vm.allocatedMemoryBytes,
    ...(vm.allocatedMemoryBytes > 0 ? { memory_utilization_ratio: c.rssBytes / vm.allocatedMemoryBytes } : {}),
    hypervisor: vm.hypervisor,
    pid: vm.pid,
    tap_devices: [...vm.taps],
    vcpu_threads: vm.vcpuTids.length,
    memory_swap_bytes: c.swapBytes,
    memory_peak_rss_bytes: c.peakRssBytes,
    disk_read_bytes: c.diskReadBytes,
    disk_write_bytes: c.diskWriteBytes,
    network_rx_packets: n ? n.rxPackets : null,
    network_tx_packets: n ? n.txPackets : null,
    network_rx_errors: n ? n.rxErrors : null,
    network_tx_errors: n ? n.txErrors : null,
    network_rx_dropped: n ? n.rxDropped : null,
    network_tx_dropped: n ? n.txDropped : null,
    taps,
    pressure: sample.pressure
      ? {
          cpu: { some_total_us: sample.pressure.cpu.someUs, full_total_us: sample.pressure.cpu.fullUs },
          memory: { some_total_us: sample.pressure.memory.someUs, full_total_us: sample.pressure.memory.fullUs },
          io: { some_total_us: sample.pressure.io.someUs, full_total_us: sample.pressure.io.fullUs },
        }
      : null,
    pressure_unavailable: sample.pressure ? null : (sample.errors.find((e) => e.field === 'pressure')?.detail ?? 'not measured'),
  };
}

/** The seed's key set, in the seed's documented order. */
export const INSTANCE_STATS_KEYS = [
  'instance_id',
  'instance_name',
  'cpu_seconds',
  'memory_rss_bytes',
  'memory_vms_bytes',
  'network_rx_bytes',
  'network_tx_bytes',
  'allocated_vcpus',
  'allocated_memory_bytes',
  'memory_utilization_ratio',
] as const;

/** The seed's InstanceStats exactly: those keys of the richer record, in that order. */
export type HypemanInstanceStats = Pick<InstanceStats, (typeof INSTANCE_STATS_KEYS)[number]>;

export function hypemanInstanceStats(vm: DiscoveredVm, sample: VmSample, clockTicksPerSecond: number): HypemanInstanceStats {
  const full = toInstanceStats(sample, vm, clockTicksPerSecond);
  const out: Record<string, unknown> = {};
  // memory_utilization_ratio is absent from `full` unless allocated memory > 0: keep it absent.
  for (const k of INSTANCE_STATS_KEYS) if (full[k] !== undefined) out[k] = full[k];
  return out as HypemanInstanceStats;
}
