// What `vmpulse top` shows, independent of where it came from: cumulative counters of each VM as
// a source read them (TopVm), and the per-second view of two such reads (TopRow). Pure.
import { counterDelta } from '../agent/rates.js';

/** One VM's cumulative counters at one moment, as the agent or a direct read gave them. */
export interface TopVm {
  /** Stable across reads of the same process (a reused PID is another key). */
  readonly key: string;
  readonly name: string;
  readonly id: string;
  readonly hypervisor: string;
  readonly pid: number;
  readonly vcpus: number;
  /** vCPU threads whose runqueue wait makes the steal figure; 0 when none were found. */
  readonly vcpuThreads: number;
  /** Bytes; 0 when unknown (then no MEM%). */
  readonly allocatedMemoryBytes: number;
  /** Wall clock of the read, ms. */
  readonly tMs: number;
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  /** VM view, summed over its TAPs: In = what the VM received. Null when not measured. */
  readonly netInBytes: number | null;
  readonly netOutBytes: number | null;
  readonly diskReadBytes: number | null;
  readonly diskWriteBytes: number | null;
  /** Runqueue wait of the vCPU threads, seconds, summed over vCPUs. */
  readonly stealSeconds: number | null;
}

/** One line of the table. A rate is null before the second read of the VM or when unmeasured. */
export interface TopRow {
  readonly key: string;
  readonly name: string;
  readonly hypervisor: string;
  readonly pid: number;
  readonly vcpus: number;
  /** Percent of one core (200 = two cores busy), as top(1) counts. */
  readonly cpuPct: number | null;
  readonly rssBytes: number;
  /** RSS / allocated memory, percent. */
  readonly memPct: number | null;
  /** Bytes per second, VM view. */
  readonly netInBps: number | null;
  readonly netOutBps: number | null;
  readonly diskReadBps: number | null;
  readonly diskWriteBps: number | null;
  /** Runqueue wait per vCPU, percent of the interval. */
  readonly stealPct: number | null;
}

/** Host facts and the host's latest figures, for the header; null where not known. */
export interface TopHost {
  readonly hostname: string;
  readonly cpus: number | null;
  readonly ramBytes: number | null;
  readonly uptimeSeconds: number | null;
  readonly load: readonly [number, number, number] | null;
  readonly cpuPct: number | null;
  readonly memPct: number | null;
}

export type SortKey = 'cpu' | 'mem' | 'net' | 'disk' | 'pid' | 'name';
export const SORT_KEYS: readonly SortKey[] = ['cpu', 'mem', 'net', 'disk', 'pid', 'name'];

export interface SortOrder {
  readonly key: SortKey;
  /** Reverses the key's natural order (largest first for figures, smallest first for PID and name). */
  readonly reverse: boolean;
}

/** Rows of `cur`, with rates against the same VM's read in `prev` when there is one. */
export function topRows(prev: ReadonlyMap<string, TopVm> | null, cur: readonly TopVm[]): TopRow[] {
  return cur.map((v) => {
    const p = prev?.get(v.key);
    const seconds = p ? (v.tMs - p.tMs) / 1000 : 0;
    const usable = p !== undefined && seconds > 0;
    // Counters that went down were reset (a TAP re-created): counted from zero, never negative.
    const rate = (a: number | null | undefined, b: number | null): number | null =>
      usable && a != null && b != null ? counterDelta(a, b) / seconds : null;
    const cpu = rate(p?.cpuSeconds, v.cpuSeconds);
    const steal = v.vcpuThreads > 0 ? rate(p?.stealSeconds, v.stealSeconds) : null;
    return {
      key: v.key,
      name: v.name,
      hypervisor: v.hypervisor,
      pid: v.pid,
      vcpus: v.vcpus,
      cpuPct: cpu === null ? null : cpu * 100,
      rssBytes: v.rssBytes,
      memPct: v.allocatedMemoryBytes > 0 ? (v.rssBytes / v.allocatedMemoryBytes) * 100 : null,
      netInBps: rate(p?.netInBytes, v.netInBytes),
      netOutBps: rate(p?.netOutBytes, v.netOutBytes),
      diskReadBps: rate(p?.diskReadBytes, v.diskReadBytes),
      diskWriteBps: rate(p?.diskWriteBytes, v.diskWriteBytes),
      stealPct: steal === null ? null : (steal / v.vcpuThreads) * 100,
    };
  });
}

const sum = (a: number | null, b: number | null) => (a === null && b === null ? null : (a ?? 0) + (b ?? 0));

/** The figure a key sorts by; null sorts last whatever the direction. */
function figure(r: TopRow, key: SortKey): number | null {
  switch (key) {
    case 'cpu':
      return r.cpuPct;
    case 'mem':
      return r.rssBytes;
    case 'net':
      return sum(r.netInBps, r.netOutBps);
    case 'disk':
      return sum(r.diskReadBps, r.diskWriteBps);
    case 'pid':
      return r.pid;
    case 'name':
      return null;
  }
}

const byName = (a: TopRow, b: TopRow) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.pid - b.pid);

/** A sorted copy: figures largest first, PID and name smallest first; ties by name, then PID. */
export function sortRows(rows: readonly TopRow[], order: SortOrder): TopRow[] {
  const dir = order.reverse ? -1 : 1;
  const cmp = (a: TopRow, b: TopRow): number => {
    if (order.key === 'name') return dir * byName(a, b);
    const x = figure(a, order.key);
    const y = figure(b, order.key);
    if (x !== y) {
      if (x === null) return 1;
      if (y === null) return -1;
      return dir * (order.key === 'pid' ? x - y : y - x);
    }
    return byName(a, b);
  };
  return [...rows].sort(cmp);
}

/** Whether a VM's name or instance id contains `text` (case-insensitive); any VM without a filter. */
export function matchesFilter(name: string, id: string, text: string | null): boolean {
  if (!text) return true;
  const t = text.toLowerCase();
  return name.toLowerCase().includes(t) || id.toLowerCase().includes(t);
}

export function filterVms(vms: readonly TopVm[], text: string | null): TopVm[] {
  return vms.filter((v) => matchesFilter(v.name, v.id, text));
}
