// Store records → the seeds' response shapes.
import type { AgentRow, InstanceRow, MinuteRow } from './store/store.js';

/** Hypeman InstanceStats (snake_case, same meanings) plus where and when it was seen. */
export function instanceStats(r: InstanceRow): Record<string, unknown> {
  const c = r.counters;
  const out: Record<string, unknown> = {
    instance_id: r.instanceId,
    instance_name: r.name,
    cpu_seconds: c ? c.CPUSeconds : null,
    memory_rss_bytes: c ? c.MemoryRSSBytes : null,
    memory_vms_bytes: c ? c.MemoryVMSBytes : null,
    network_rx_bytes: c ? c.NetworkRxBytes : null,
    network_tx_bytes: c ? c.NetworkTxBytes : null,
    allocated_vcpus: r.allocatedVcpus,
    allocated_memory_bytes: r.allocatedMemoryBytes,
  };
  if (r.allocatedMemoryBytes > 0 && c) out.memory_utilization_ratio = c.MemoryRSSBytes / r.allocatedMemoryBytes;
  out.agent_id = r.agentId;
  out.hostname = r.hostname;
  out.last_seen = new Date(r.lastSeen * 1000).toISOString();
  out.hypervisor = r.hypervisor;
  out.pid = r.pid;
  out.tap_devices = r.tapDevices;
  out.running = r.running;
  return out;
}

/** HetrixTools v1 server facts (without Stats). */
export function serverFacts(a: AgentRow): Record<string, unknown> {
  return {
    AgentID: a.agentId,
    Hostname: a.hostname,
    AgentAddTime: a.firstSeen,
    AgentLastData: a.lastSeen,
    AgentVersion: a.agentVersion,
    AgentType: 'Linux',
    SystemUptime: a.systemUptime,
    OperatingSystem: a.operatingSystem,
    Kernel: a.kernel,
    CPUModel: a.cpuModel,
    CPUSpeed: a.cpuSpeed,
    CPUCores: a.cpuCores,
    RAM: a.ram,
    Swap: a.swap,
    Disk: a.disks.reduce((s, d) => s + d.Size, 0),
    Disks: a.disks,
    NetworkInterfaces: a.networkInterfaces,
  };
}

/** One HetrixTools Stats record: the minute's averages (percent) and byte totals. */
export function serverMinute(m: MinuteRow): Record<string, unknown> {
  return {
    Minute: m.minute,
    CPU: m.cpu_avg ?? null,
    IOWait: m.iowait_avg ?? null,
    RAM: m.ram_avg ?? null,
    Swap: m.swap_avg ?? null,
    Disk: m.disk_avg ?? null,
    NetIn: m.net_in,
    NetOut: m.net_out,
  };
}
