// Hypeman's InstanceStats (hypeman-instance-stats-api.txt), exactly: the ten snake_case fields and
// nothing else, so SDKs and scripts written for Hypeman's `GET /instances/{id}/stats` work
// unchanged. The counter mapping itself lives in collect/vm-reader.ts (one definition of what
// cpu_seconds and the VM-view network totals mean); this module only narrows it to the contract.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import { toInstanceStats as readerInstanceStats, type InstanceStats as ReaderInstanceStats } from '../collect/vm-reader.js';

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

/** The seed's InstanceStats exactly: those keys of the reader's richer record, in that order. */
export type HypemanInstanceStats = Pick<ReaderInstanceStats, (typeof INSTANCE_STATS_KEYS)[number]>;

export function hypemanInstanceStats(vm: DiscoveredVm, sample: VmSample, clockTicksPerSecond: number): HypemanInstanceStats {
  // vm-reader's mapping reads only clockTicksPerSecond; the page size went into rssBytes already.
  const full = readerInstanceStats(sample, vm, { clockTicksPerSecond, pageSize: 0 });
  const out: Record<string, unknown> = {};
  // memory_utilization_ratio is absent from `full` unless allocated memory > 0: keep it absent.
  for (const k of INSTANCE_STATS_KEYS) if (full[k] !== undefined) out[k] = full[k];
  return out as HypemanInstanceStats;
}
