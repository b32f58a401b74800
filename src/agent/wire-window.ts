// The aggregation model's records (windows.ts) in the wire format (ship/payload.ts): the one place
// that knows both. The payload and the local API's history answers are made here, so what the
// API shows of a window is what the server receives.
import type { Agg, HostWindow, InstanceWindow } from '../ship/payload.js';
import type { HostRecord, Summary, VmRecord } from './windows.js';

export function agg(s: Summary | null): Agg | null {
  return s === null ? null : { Avg: s.sum / s.count, Min: s.min, Max: s.max, Sum: s.sum, Count: s.count };
}

export function instanceWindow(r: VmRecord): InstanceWindow {
  const g = r.gauges;
  const c = r.counters;
  const net = (v: number) => (r.netKnown ? v : null);
  const w: InstanceWindow = {
    Minute: Math.floor(r.startMs / 1000),
    Seconds: r.seconds,
    Samples: r.samples,
    Missed: r.missed,
    CPU: agg(g.cpuPct),
    CPUCore: agg(g.cpuCorePct),
    CPUUser: agg(g.cpuUserPct),
    CPUSystem: agg(g.cpuSystemPct),
    VcpuBusy: agg(g.vcpuBusyPct),
    Steal: agg(g.stealPct),
    MemoryRSS: agg(g.rssBytes),
    MemorySwap: agg(g.swapBytes),
    MemoryUtilization: agg(g.memUtilPct),
    NetIn: net(c.netInBytes),
    NetOut: net(c.netOutBytes),
    NetInPackets: net(c.netInPackets),
    NetOutPackets: net(c.netOutPackets),
    NetInErrors: net(c.netInErrors),
    NetOutErrors: net(c.netOutErrors),
    NetInDropped: net(c.netInDropped),
    NetOutDropped: net(c.netOutDropped),
    DiskRead: c.diskReadBytes,
    DiskWrite: c.diskWriteBytes,
    ThrottledPeriods: c.throttledPeriods,
    ThrottledTimeNs: c.throttledNs,
    // Ticks are 1/100 s or coarser: rounding to the microsecond removes float noise only.
    CPUTime: Math.round(c.cpuSeconds * 1e6) / 1e6,
  };
  if (r.unsampledSeconds > 0) w.Unsampled = r.unsampledSeconds;
  if (r.disks) w.Disks = r.disks.map((d) => ({ Device: d.device, ReadBytes: d.readBytes, WriteBytes: d.writeBytes, ReadOps: d.readOps, WriteOps: d.writeOps }));
  return w;
}

export function hostWindow(r: HostRecord): HostWindow {
  const g = r.gauges;
  return {
    Minute: Math.floor(r.startMs / 1000),
    Seconds: r.seconds,
    Samples: r.samples,
    CPU: agg(g.cpuPct),
    IOWait: agg(g.iowaitPct),
    Steal: agg(g.stealPct),
    RAM: agg(g.ramPct),
    Swap: agg(g.swapPct),
    Load1: agg(g.load1),
    Load5: agg(g.load5),
    Load15: agg(g.load15),
    Disk: agg(g.diskPct),
    NetIn: r.netInBytes,
    NetOut: r.netOutBytes,
  };
}
