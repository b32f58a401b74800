// The host's HetrixTools fields for one tick, from two consecutive HostReader reads.
import type { HostCounters } from '../collect/host.js';
import type { FilesystemUsage } from '../collect/host.js';
import { counterDelta } from './rates.js';
import type { HostTick } from './windows.js';

export function diskUsedPercent(fs: readonly FilesystemUsage[]): number | null {
  let size = 0;
  let used = 0;
  for (const f of fs) {
    size += f.Size;
    used += f.Used;
  }
  return size > 0 ? (used / size) * 100 : null;
}

/**
 * `physical` names the interfaces whose traffic counts as the host's NetIn/NetOut (TAPs,
 * bridges and veths would count every VM byte twice).
 */
export function hostTick(prev: HostCounters | null, cur: HostCounters, physical: ReadonlySet<string>, diskPct: number | null): HostTick {
  const m = cur.memory;
  const ramPct = m.memTotalBytes > 0 && m.memAvailableBytes !== null ? ((m.memTotalBytes - m.memAvailableBytes) / m.memTotalBytes) * 100 : null;
  // No swap configured: 0 % of nothing is in use, which is what HetrixTools reports too.
  const swapPct = m.swapTotalBytes > 0 ? ((m.swapTotalBytes - m.swapFreeBytes) / m.swapTotalBytes) * 100 : 0;
  const t: HostTick = {
    cpuPct: null,
    iowaitPct: null,
    stealPct: null,
    ramPct,
    swapPct,
    load1: cur.load.load1,
    load5: cur.load.load5,
    load15: cur.load.load15,
    diskPct,
    netInBytes: 0,
    netOutBytes: 0,
  };
  if (!prev) return t;
  const a = prev.stat.cpu;
  const b = cur.stat.cpu;
  const d = (k: keyof typeof a) => counterDelta(a[k], b[k]);
  // guest and guest_nice are already inside user and nice.
  const total = d('user') + d('nice') + d('system') + d('idle') + d('iowait') + d('irq') + d('softirq') + d('steal');
  if (total > 0) {
    t.cpuPct = ((total - d('idle') - d('iowait')) / total) * 100;
    t.iowaitPct = (d('iowait') / total) * 100;
    t.stealPct = (d('steal') / total) * 100;
  }
  const before = new Map(prev.net.map((n) => [n.name, n]));
  for (const n of cur.net) {
    if (!physical.has(n.name)) continue;
    const p = before.get(n.name);
    if (!p) continue;
    t.netInBytes += counterDelta(p.rxBytes, n.rxBytes);
    t.netOutBytes += counterDelta(p.txBytes, n.txBytes);
  }
  return t;
}
