// The fleet page's data, built from store rows in one pass: every VM with its latest window, every
// host with its latest minute, and the fleet totals. Rates are per second over the window's seconds.
import { SILENT_AFTER_S } from '../../console/ranges.js';
import type { AgentRow, InstanceRow, LatestInstanceWindow, MinuteRow } from '../store/store.js';
import type { Fleet, FleetHost, FleetVm } from '../../console/json-types.js';

export type { Fleet, FleetHost, FleetVm };

/** Columns of an instance's latest window the fleet table shows. */
export const FLEET_WINDOW_COLUMNS = ['seconds', 'samples', 'cpu_avg', 'memory_utilization_avg', 'steal_avg', 'net_in', 'net_out', 'disk_read', 'disk_write'] as const;

const rate = (bytes: number | null | undefined, seconds: number | null | undefined): number | null =>
  bytes === null || bytes === undefined || !seconds ? null : bytes / seconds;

export function buildFleet(
  now: number,
  agents: readonly AgentRow[],
  hostLatest: ReadonlyMap<string, MinuteRow | null>,
  instances: readonly InstanceRow[],
  latest: readonly LatestInstanceWindow[],
  alarmCounts: ReadonlyMap<string, number>,
): Fleet {
  const byKey = new Map<string, MinuteRow>();
  for (const w of latest) byKey.set(`${w.agentId}\u0000${w.instanceId}`, w.row);
  const vmsPerHost = new Map<string, number>();
  const vms: FleetVm[] = instances.map((i) => {
    const w = byKey.get(`${i.agentId}\u0000${i.instanceId}`) ?? null;
    vmsPerHost.set(i.agentId, (vmsPerHost.get(i.agentId) ?? 0) + 1);
    const silent = now - i.lastSeen > SILENT_AFTER_S;
    return {
      agent_id: i.agentId,
      host: i.hostname,
      instance_id: i.instanceId,
      name: i.name,
      hypervisor: i.hypervisor,
      vcpus: i.allocatedVcpus,
      memory_bytes: i.allocatedMemoryBytes,
      state: silent ? 'silent' : i.running ? 'running' : 'stopped',
      last_seen: i.lastSeen,
      minute: w?.minute ?? null,
      cpu: w?.cpu_avg ?? null,
      memory: w?.memory_utilization_avg ?? null,
      steal: w?.steal_avg ?? null,
      net_in: rate(w?.net_in, w?.seconds),
      net_out: rate(w?.net_out, w?.seconds),
      disk_read: rate(w?.disk_read, w?.seconds),
      disk_write: rate(w?.disk_write, w?.seconds),
      alarms: alarmCounts.get(`${i.agentId}\u0000${i.instanceId}`) ?? 0,
    };
  });
  let cpuWeighted = 0;
  let cores = 0;
  let netIn = 0;
  let netOut = 0;
  const hosts: FleetHost[] = agents.map((a) => {
    const m = hostLatest.get(a.agentId) ?? null;
    const silent = now - a.lastSeen > SILENT_AFTER_S;
    const h: FleetHost = {
      agent_id: a.agentId,
      hostname: a.hostname,
      last_seen: a.lastSeen,
      silent,
      vms: vmsPerHost.get(a.agentId) ?? 0,
      cpu_cores: a.cpuCores,
      ram: a.ram,
      minute: m?.minute ?? null,
      cpu: m?.cpu_avg ?? null,
      ram_used: m?.ram_avg ?? null,
      net_in: rate(m?.net_in, m?.seconds),
      net_out: rate(m?.net_out, m?.seconds),
    };
    if (!silent && h.cpu !== null) {
      cpuWeighted += h.cpu * a.cpuCores;
      cores += a.cpuCores;
    }
    if (!silent) {
      netIn += h.net_in ?? 0;
      netOut += h.net_out ?? 0;
    }
    return h;
  });
  return {
    now,
    hosts,
    vms,
    totals: {
      hosts: hosts.length,
      silent_hosts: hosts.filter((h) => h.silent).length,
      vms: vms.length,
      running_vms: vms.filter((v) => v.state === 'running').length,
      // Core-weighted: a 64-core host at 50 % weighs more than a 4-core one at 90 %.
      cpu: cores ? cpuWeighted / cores : null,
      net_in: netIn,
      net_out: netOut,
    },
  };
}
