// A closed window → the wire payload (src/ship/payload.ts). One VM restarted inside a window is two
// processes with one InstanceID; the server accepts an InstanceID once per batch, so their records
// are merged here (statistics combine exactly: sums and counts add, min of mins, max of maxes).
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import type { Agg, DiskInfo, InstanceCounters, InstanceRecord, InstanceWindow, NetworkInterfaceInfo, Payload } from '../ship/payload.js';
import { PAYLOAD_VERSION } from '../ship/payload.js';
import type { HostView } from './view.js';
import type { WindowReport } from './agent.js';

export interface PayloadContext {
  readonly batchId: string;
  readonly agentId: string;
  readonly agentVersion: string;
  readonly facts: HostView['facts'];
  readonly disks: readonly DiskInfo[];
  readonly interfaces: readonly NetworkInterfaceInfo[];
  readonly clockTicksPerSecond: number;
}

export function mergeAgg(a: Agg | null, b: Agg | null): Agg | null {
  if (!a) return b;
  if (!b) return a;
  const Sum = a.Sum + b.Sum;
  const Count = a.Count + b.Count;
  return { Avg: Sum / Count, Min: Math.min(a.Min, b.Min), Max: Math.max(a.Max, b.Max), Sum, Count };
}

const AGG_FIELDS = ['CPU', 'CPUCore', 'CPUUser', 'CPUSystem', 'VcpuBusy', 'Steal', 'MemoryRSS', 'MemorySwap', 'MemoryUtilization'] as const;
const SUM_FIELDS = ['Samples', 'Missed', 'DiskRead', 'DiskWrite', 'ThrottledPeriods', 'ThrottledTimeNs'] as const;
/** Null (a TAP could not be read) stays null: a partial sum would understate the traffic. */
const NULLABLE_SUM_FIELDS = ['NetIn', 'NetOut', 'NetInPackets', 'NetOutPackets'] as const;

export function mergeInstanceWindows(a: InstanceWindow, b: InstanceWindow): InstanceWindow {
  const out: InstanceWindow = { ...a };
  for (const f of AGG_FIELDS) out[f] = mergeAgg(a[f], b[f]);
  for (const f of SUM_FIELDS) out[f] = a[f] + b[f];
  for (const f of NULLABLE_SUM_FIELDS) {
    const x = a[f];
    const y = b[f];
    out[f] = x === null || y === null ? null : x + y;
  }
  const unsampled = (a.Unsampled ?? 0) + (b.Unsampled ?? 0);
  if (unsampled > 0) out.Unsampled = unsampled;
  return out;
}

export function countersOf(sample: VmSample, clockTicksPerSecond: number): InstanceCounters {
  let rx = 0;
  let tx = 0;
  for (const t of sample.taps) {
    if (!t) continue;
    rx += t.txBytes; // VM view: what the VM received is what the host sent into the TAP
    tx += t.rxBytes;
  }
  return {
    CPUSeconds: (sample.utimeTicks + sample.stimeTicks) / clockTicksPerSecond,
    MemoryRSSBytes: sample.rssBytes,
    MemoryVMSBytes: sample.vmsBytes,
    MemorySwapBytes: sample.swapBytes,
    MemoryPeakRSSBytes: sample.peakRssBytes,
    NetworkRxBytes: rx,
    NetworkTxBytes: tx,
    DiskReadBytes: sample.diskReadBytes,
    DiskWriteBytes: sample.diskWriteBytes,
  };
}

function record(vm: DiscoveredVm, latest: VmSample | null, running: boolean, w: InstanceWindow, clk: number): InstanceRecord {
  return {
    InstanceID: vm.instanceId,
    InstanceName: vm.instanceName,
    Hypervisor: vm.hypervisor,
    PID: vm.pid,
    StartTime: vm.starttime,
    AllocatedVcpus: vm.allocatedVcpus,
    AllocatedMemoryBytes: vm.allocatedMemoryBytes,
    TapDevices: [...vm.taps],
    Running: running,
    Counters: latest ? countersOf(latest, clk) : null,
    Stats: [w],
  };
}

export function buildPayload(report: WindowReport, ctx: PayloadContext): Payload {
  const byId = new Map<string, InstanceRecord>();
  for (const [key, w] of report.window.instances) {
    const meta = report.vms.get(key);
    if (!meta) continue;
    const r = record(meta.vm, meta.latest, meta.running, w, ctx.clockTicksPerSecond);
    const seen = byId.get(r.InstanceID);
    if (!seen) {
      byId.set(r.InstanceID, r);
      continue;
    }
    // Keep the newer process's identity and counters (the later starttime), merge the statistics.
    const newer = r.StartTime >= seen.StartTime ? r : seen;
    byId.set(r.InstanceID, { ...newer, Running: seen.Running || r.Running, Stats: [mergeInstanceWindows(seen.Stats[0]!, r.Stats[0]!)] });
  }
  const f = ctx.facts;
  return {
    Version: PAYLOAD_VERSION,
    BatchID: ctx.batchId,
    AgentID: ctx.agentId,
    AgentVersion: ctx.agentVersion,
    Hostname: f.Hostname,
    OperatingSystem: f.OperatingSystem,
    Kernel: f.Kernel,
    CPUModel: f.CPUModel,
    CPUSpeed: f.CPUSpeed,
    CPUCores: f.CPUCores,
    RAM: f.RAM,
    Swap: f.Swap,
    SystemUptime: f.SystemUptime,
    CreatedAt: Math.floor(Date.now() / 1000),
    Disks: [...ctx.disks],
    NetworkInterfaces: [...ctx.interfaces],
    Stats: [report.window.host],
    Instances: [...byId.values()],
  };
}
