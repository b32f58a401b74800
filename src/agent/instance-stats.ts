// Hypeman's InstanceStats (hypeman-instance-stats-api.txt), exactly: the ten snake_case fields and
// nothing else, so SDKs and scripts written for Hypeman's `GET /instances/{id}/stats` work
// unchanged. The counter mapping itself lives in collect/vm-reader.ts (one definition of what
// cpu_seconds and the VM-view network totals mean); this module only narrows it to the contract.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import { toInstanceStats as readerInstanceStats } from '../collect/vm-reader.js';

export interface HypemanInstanceStats {
  instance_id: string;
  instance_name: string;
  /** (utime + stime) / clock ticks per second of the hypervisor process. */
  cpu_seconds: number;
  memory_rss_bytes: number;
  memory_vms_bytes: number;
  /** Bytes the VM received: sum of its TAPs' host tx_bytes. Null when a TAP could not be read. */
  network_rx_bytes: number | null;
  /** Bytes the VM sent: sum of its TAPs' host rx_bytes. Null when a TAP could not be read. */
  network_tx_bytes: number | null;
  allocated_vcpus: number;
  allocated_memory_bytes: number;
  /** rss / allocated memory; the key is absent unless allocated_memory_bytes > 0. */
  memory_utilization_ratio?: number;
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

export function hypemanInstanceStats(vm: DiscoveredVm, sample: VmSample, clockTicksPerSecond: number): HypemanInstanceStats {
  // vm-reader's mapping reads only clockTicksPerSecond; the page size went into rssBytes already.
  const full = readerInstanceStats(sample, vm, { clockTicksPerSecond, pageSize: 0 });
  const out: HypemanInstanceStats = {
    instance_id: full.instance_id,
    instance_name: full.instance_name,
    cpu_seconds: full.cpu_seconds,
    memory_rss_bytes: full.memory_rss_bytes,
    memory_vms_bytes: full.memory_vms_bytes,
    network_rx_bytes: full.network_rx_bytes,
    network_tx_bytes: full.network_tx_bytes,
    allocated_vcpus: full.allocated_vcpus,
    allocated_memory_bytes: full.allocated_memory_bytes,
  };
  if (full.memory_utilization_ratio !== undefined) out.memory_utilization_ratio = full.memory_utilization_ratio;
  return out;
}
