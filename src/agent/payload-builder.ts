// A closed window → the wire payload (src/ship/payload.ts). One VM restarted inside a window is two
// processes with one InstanceID; the server accepts an InstanceID once per batch, so their records
// are merged here (statistics combine exactly: sums and counts add, min of mins, max of maxes).
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import type { BalloonInfo, DiskInfo, InstanceCounters, InstanceRecord, InstanceWindow, NetworkInterfaceInfo, Payload } from '../ship/payload.js';
import type { BalloonStats } from '../collect/disks/device-stats.js';
import { PAYLOAD_VERSION } from '../ship/payload.js';
import { mergeInstanceWindows } from '../ship/window-merge.js';
import { vmCounters } from '../collect/vm-counters.js';
import { hostWindow, instanceWindow } from './wire-window.js';

export { mergeAgg, mergeInstanceWindows } from '../ship/window-merge.js';
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
  /** VMPULSE_WINDOW_SECONDS, sent so the server knows how late this agent's minutes may arrive. */
  readonly windowSeconds?: number;
}

/** The latest counters in the wire's names: collect/vm-counters.ts's mapping, renamed. */
export function countersOf(sample: VmSample, clockTicksPerSecond: number): InstanceCounters {
  const c = vmCounters(sample, clockTicksPerSecond);
  const n = c.net;
  return {
    CPUSeconds: c.cpuSeconds,
    MemoryRSSBytes: c.rssBytes,
    MemoryVMSBytes: c.vmsBytes,
    MemorySwapBytes: c.swapBytes,
    MemoryPeakRSSBytes: c.peakRssBytes,
    NetworkRxBytes: n ? n.rxBytes : null,
    NetworkTxBytes: n ? n.txBytes : null,
    DiskReadBytes: c.diskReadBytes,
    DiskWriteBytes: c.diskWriteBytes,
    NetworkRxPackets: n ? n.rxPackets : null,
    NetworkTxPackets: n ? n.txPackets : null,
    NetworkRxErrors: n ? n.rxErrors : null,
    NetworkTxErrors: n ? n.txErrors : null,
    NetworkRxDropped: n ? n.rxDropped : null,
    NetworkTxDropped: n ? n.txDropped : null,
  };
}

export function balloonInfo(b: BalloonStats): BalloonInfo {
  return {
    ActualBytes: b.actualBytes,
    AvailableBytes: b.availableBytes,
    UsableBytes: b.usableBytes,
    UnusedBytes: b.unusedBytes,
    DiskCachesBytes: b.diskCachesBytes,
    SwapInBytes: b.swapInBytes,
    SwapOutBytes: b.swapOutBytes,
    MajorFaults: b.majorFaults,
    MinorFaults: b.minorFaults,
  };
}

function record(vm: DiscoveredVm, latest: VmSample | null, running: boolean, stats: InstanceWindow[], clk: number, balloon: BalloonStats | null): InstanceRecord {
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
    ...(balloon ? { Balloon: balloonInfo(balloon) } : {}),
    Stats: stats,
  };
}

/** Merges two records' per-window Stats by Minute, ascending. */
function mergeStats(a: readonly InstanceWindow[], b: readonly InstanceWindow[]): InstanceWindow[] {
  const byMinute = new Map<number, InstanceWindow>();
  for (const w of [...a, ...b]) {
    const had = byMinute.get(w.Minute);
    byMinute.set(w.Minute, had ? mergeInstanceWindows(had, w) : w);
  }
  return [...byMinute.values()].sort((x, y) => x.Minute - y.Minute);
}

/**
 * One batch from the records of a report (one window, or the minute records of a longer window,
 * or minutes backfilled after a restart). Host records the host was not sampled in (backfilled
 * minutes: the agent was not running) are left out, so the host does not look monitored then.
 */
export function buildPayload(report: Pick<WindowReport, 'windows' | 'vms'>, ctx: PayloadContext): Payload {
  const perKey = new Map<string, InstanceWindow[]>();
  for (const win of report.windows) {
    for (const [key, w] of win.instances) {
      let l = perKey.get(key);
      if (!l) perKey.set(key, (l = []));
      l.push(instanceWindow(w));
    }
  }
  const byId = new Map<string, InstanceRecord>();
  for (const [key, stats] of perKey) {
    const meta = report.vms.get(key);
    if (!meta) continue;
    const r = record(meta.vm, meta.latest, meta.running, stats, ctx.clockTicksPerSecond, meta.devices?.reading.balloon ?? null);
    const seen = byId.get(r.InstanceID);
    if (!seen) {
      byId.set(r.InstanceID, r);
      continue;
    }
    // Keep the newer process's identity and counters (the later starttime), merge the statistics.
    const newer = r.StartTime >= seen.StartTime ? r : seen;
    byId.set(r.InstanceID, { ...newer, Running: seen.Running || r.Running, Stats: mergeStats(seen.Stats, r.Stats) });
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
    ...(ctx.windowSeconds !== undefined ? { WindowSeconds: ctx.windowSeconds } : {}),
    Disks: [...ctx.disks],
    NetworkInterfaces: [...ctx.interfaces],
    Stats: report.windows.filter((w) => !w.backfill).map((w) => hostWindow(w.host)),
    Instances: [...byId.values()],
  };
}
