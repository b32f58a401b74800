// Combining window records exactly: sums and counts add, Min of mins, Max of maxes, Average =
// Sum / Count; a null network total (a TAP could not be read) stays null. Used by the agent (two
// processes of one VM in one window) and by the server (windows shorter than a minute merged into
// their minute before they are stored).
import type { Agg, DiskWindow, HostWindow, InstanceWindow } from './payload.js';
import { compareDeviceNames } from '../collect/disks/device-order.js';

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
/** Optional (older agents do not send them): absent on either side stays absent, null stays null. */
const OPTIONAL_SUM_FIELDS = ['NetInErrors', 'NetOutErrors', 'NetInDropped', 'NetOutDropped'] as const;

export function mergeInstanceWindows(a: InstanceWindow, b: InstanceWindow): InstanceWindow {
  const out: InstanceWindow = { ...a };
  for (const f of AGG_FIELDS) out[f] = mergeAgg(a[f], b[f]);
  for (const f of SUM_FIELDS) out[f] = a[f] + b[f];
  for (const f of NULLABLE_SUM_FIELDS) {
    const x = a[f];
    const y = b[f];
    out[f] = x === null || y === null ? null : x + y;
  }
  for (const f of OPTIONAL_SUM_FIELDS) {
    const x = a[f];
    const y = b[f];
    if (x === undefined || y === undefined) delete out[f];
    else out[f] = x === null || y === null ? null : x + y;
  }
  if (a.CPUTime !== undefined || b.CPUTime !== undefined) out.CPUTime = (a.CPUTime ?? 0) + (b.CPUTime ?? 0);
  // Two processes of one VM in one window may each carry unsampled time; the window has no more.
  const unsampled = Math.min((a.Unsampled ?? 0) + (b.Unsampled ?? 0), a.Seconds);
  if (unsampled > 0) out.Unsampled = unsampled;
  const disks = mergeDiskWindows(a.Disks, b.Disks);
  if (disks) out.Disks = disks;
  return out;
}

/** Per-disk deltas of one window: a device's counters add; absent on both sides stays absent. */
export function mergeDiskWindows(a: readonly DiskWindow[] | undefined, b: readonly DiskWindow[] | undefined): DiskWindow[] | undefined {
  if (!a && !b) return undefined;
  const by = new Map<string, DiskWindow>();
  for (const d of [...(a ?? []), ...(b ?? [])]) {
    const w = by.get(d.Device);
    by.set(d.Device, w ? { Device: d.Device, ReadBytes: w.ReadBytes + d.ReadBytes, WriteBytes: w.WriteBytes + d.WriteBytes, ReadOps: w.ReadOps + d.ReadOps, WriteOps: w.WriteOps + d.WriteOps } : { ...d });
  }
  return [...by.values()].sort((x, y) => compareDeviceNames(x.Device, y.Device));
}

const HOST_AGG_FIELDS = ['CPU', 'IOWait', 'Steal', 'RAM', 'Swap', 'Load1', 'Load5', 'Load15', 'Disk'] as const;

/** Two records of one minute, from consecutive windows shorter than a minute: Seconds add up. */
export function combineInstanceMinute(a: InstanceWindow, b: InstanceWindow): InstanceWindow {
  const out = mergeInstanceWindows(a, b);
  out.Seconds = Math.min(60, a.Seconds + b.Seconds);
  const unsampled = Math.min((a.Unsampled ?? 0) + (b.Unsampled ?? 0), out.Seconds);
  if (unsampled > 0) out.Unsampled = unsampled;
  else delete out.Unsampled;
  return out;
}

export function combineHostMinute(a: HostWindow, b: HostWindow): HostWindow {
  const out: HostWindow = { ...a, Seconds: Math.min(60, a.Seconds + b.Seconds), Samples: a.Samples + b.Samples, NetIn: a.NetIn + b.NetIn, NetOut: a.NetOut + b.NetOut };
  for (const f of HOST_AGG_FIELDS) out[f] = mergeAgg(a[f], b[f]);
  return out;
}
