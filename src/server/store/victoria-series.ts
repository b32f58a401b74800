// How per-minute records map onto VictoriaMetrics series, and back. Pure: no I/O.
//
// Every batch writes its share of a minute as its own samples, at one timestamp inside the minute
// that belongs to that batch (minute start + a slot in milliseconds, allocated in VMPULSE_DB and
// reused when the batch is replayed). A replay therefore writes identical samples at identical
// timestamps, which VictoriaMetrics' dedup (-dedup.minScrapeInterval=1ms) collapses; two batches
// never share a timestamp. A minute is read back by combining its samples with the merge rules of
// merge.ts: counters and Sum/Count add, Min of mins, Max of maxes, and a network total that one
// share could not read (written as an `vmpulse_vm_unknown_total{field=...}` marker) stays unknown.
import { HOST_AGGS, INSTANCE_AGGS, INSTANCE_TOTALS } from './schema.js';
import type { HostWindow, InstanceWindow } from '../../ship/payload.js';
import type { MinuteRow } from './store.js';

export type Combine = 'sum' | 'min' | 'max';
export interface SeriesDef {
  /** Prometheus metric name. */
  name: string;
  /** The per-minute column (schema.ts) it holds. */
  column: string;
  combine: Combine;
}

const HOST_GAUGE_NAMES: Record<(typeof HOST_AGGS)[keyof typeof HOST_AGGS], string> = {
  cpu: 'vmpulse_host_cpu_usage_percent',
  iowait: 'vmpulse_host_cpu_iowait_percent',
  steal: 'vmpulse_host_cpu_steal_percent',
  ram: 'vmpulse_host_memory_usage_percent',
  swap: 'vmpulse_host_swap_usage_percent',
  load1: 'vmpulse_host_load1',
  load5: 'vmpulse_host_load5',
  load15: 'vmpulse_host_load15',
  disk: 'vmpulse_host_disk_usage_percent',
};
const HOST_COUNTERS: Record<string, string> = {
  seconds: 'vmpulse_host_window_seconds_total',
  samples: 'vmpulse_host_samples_total',
  net_in: 'vmpulse_host_network_receive_bytes_total',
  net_out: 'vmpulse_host_network_transmit_bytes_total',
};
const VM_GAUGE_NAMES: Record<(typeof INSTANCE_AGGS)[keyof typeof INSTANCE_AGGS], string> = {
  cpu: 'vmpulse_vm_cpu_usage_percent',
  cpu_core: 'vmpulse_vm_cpu_core_usage_percent',
  cpu_user: 'vmpulse_vm_cpu_user_percent',
  cpu_system: 'vmpulse_vm_cpu_system_percent',
  vcpu_busy: 'vmpulse_vm_vcpu_busy_percent',
  steal: 'vmpulse_vm_cpu_steal_percent',
  memory_rss: 'vmpulse_vm_memory_rss_bytes',
  memory_swap: 'vmpulse_vm_memory_swap_bytes',
  memory_utilization: 'vmpulse_vm_memory_usage_percent',
};
const VM_COUNTERS: Record<string, string> = {
  seconds: 'vmpulse_vm_window_seconds_total',
  samples: 'vmpulse_vm_samples_total',
  missed: 'vmpulse_vm_samples_missed_total',
  unsampled: 'vmpulse_vm_unsampled_seconds_total',
  net_in: 'vmpulse_vm_network_receive_bytes_total',
  net_out: 'vmpulse_vm_network_transmit_bytes_total',
  net_in_packets: 'vmpulse_vm_network_receive_packets_total',
  net_out_packets: 'vmpulse_vm_network_transmit_packets_total',
  net_in_errors: 'vmpulse_vm_network_receive_errors_total',
  net_out_errors: 'vmpulse_vm_network_transmit_errors_total',
  net_in_dropped: 'vmpulse_vm_network_receive_drops_total',
  net_out_dropped: 'vmpulse_vm_network_transmit_drops_total',
  disk_read: 'vmpulse_vm_disk_read_bytes_total',
  disk_write: 'vmpulse_vm_disk_written_bytes_total',
  throttled_periods: 'vmpulse_vm_cpu_throttled_periods_total',
  throttled_time_ns: 'vmpulse_vm_cpu_throttled_nanoseconds_total',
};
/** Marker of a network total one share of the minute could not read; label `field` = the column. */
export const UNKNOWN_SERIES = 'vmpulse_vm_unknown_total';
/** The per-minute record exists when this series has a sample in the minute (written always, 0 included). */
export const PRESENCE = { host: 'samples', instance: 'samples' } as const;
const NULLABLE = new Set<string>(['net_in', 'net_out', 'net_in_packets', 'net_out_packets', 'net_in_errors', 'net_out_errors', 'net_in_dropped', 'net_out_dropped']);

function gaugeDefs(names: Record<string, string>): SeriesDef[] {
  const out: SeriesDef[] = [];
  for (const [p, base] of Object.entries(names)) {
    out.push({ name: `${base}_min`, column: `${p}_min`, combine: 'min' }, { name: `${base}_max`, column: `${p}_max`, combine: 'max' });
    out.push({ name: `${base}_sum`, column: `${p}_sum`, combine: 'sum' }, { name: `${base}_count`, column: `${p}_count`, combine: 'sum' });
  }
  return out;
}
const counterDefs = (names: Record<string, string>): SeriesDef[] => Object.entries(names).map(([column, name]) => ({ name, column, combine: 'sum' }));

export type SeriesKind = 'host' | 'instance';
export const SERIES: Record<SeriesKind, readonly SeriesDef[]> = {
  host: [...counterDefs(HOST_COUNTERS), ...gaugeDefs(HOST_GAUGE_NAMES)],
  instance: [...counterDefs(VM_COUNTERS), ...gaugeDefs(VM_GAUGE_NAMES)],
};
const BY_COLUMN: Record<SeriesKind, Map<string, SeriesDef>> = {
  host: new Map(SERIES.host.map((d) => [d.column, d])),
  instance: new Map(SERIES.instance.map((d) => [d.column, d])),
};
const BY_NAME: Record<SeriesKind, Map<string, SeriesDef>> = {
  host: new Map(SERIES.host.map((d) => [d.name, d])),
  instance: new Map(SERIES.instance.map((d) => [d.name, d])),
};
const AGG_PREFIXES: Record<SeriesKind, readonly string[]> = { host: Object.values(HOST_AGGS), instance: Object.values(INSTANCE_AGGS) };

/** Every column a minute row can be read with (the stored parts; `<p>_avg` and `parts` are derived). */
export function readableColumns(kind: SeriesKind): string[] {
  return [...BY_COLUMN[kind].keys(), ...AGG_PREFIXES[kind].map((p) => `${p}_avg`), 'parts'];
}

/** The series a set of columns needs (avg from sum and count; parts from the presence series). */
export function seriesFor(kind: SeriesKind, columns: readonly string[]): { names: string[]; unknown: boolean } {
  const names = new Set<string>([BY_COLUMN[kind].get(PRESENCE[kind])!.name]);
  let unknown = false;
  for (const c of columns) {
    if (c === 'minute' || c === 'parts') continue;
    const avg = c.endsWith('_avg') ? c.slice(0, -4) : null;
    if (avg !== null) {
      names.add(BY_COLUMN[kind].get(`${avg}_sum`)!.name);
      names.add(BY_COLUMN[kind].get(`${avg}_count`)!.name);
      continue;
    }
    const d = BY_COLUMN[kind].get(c);
    if (!d) throw new Error(`unknown ${kind} column ${c}`);
    names.add(d.name);
    if (kind === 'instance' && NULLABLE.has(c)) unknown = true;
  }
  return { names: [...names], unknown };
}

/** One sample to import: series name, its extra label (unknown marker), value. */
export interface Sample {
  name: string;
  field?: string;
  value: number;
}

function aggSamples(defs: Map<string, SeriesDef>, prefix: string, a: { Min: number; Max: number; Sum: number; Count: number } | null, out: Sample[]): void {
  if (!a) return;
  out.push({ name: defs.get(`${prefix}_min`)!.name, value: a.Min }, { name: defs.get(`${prefix}_max`)!.name, value: a.Max });
  out.push({ name: defs.get(`${prefix}_sum`)!.name, value: a.Sum }, { name: defs.get(`${prefix}_count`)!.name, value: a.Count });
}

export function hostSamples(w: HostWindow): Sample[] {
  const d = BY_COLUMN.host;
  const out: Sample[] = [
    { name: d.get('seconds')!.name, value: w.Seconds },
    { name: d.get('samples')!.name, value: w.Samples },
    { name: d.get('net_in')!.name, value: w.NetIn },
    { name: d.get('net_out')!.name, value: w.NetOut },
  ];
  for (const [k, p] of Object.entries(HOST_AGGS)) aggSamples(d, p, w[k as keyof typeof HOST_AGGS], out);
  return out;
}

export function instanceSamples(w: InstanceWindow): Sample[] {
  const d = BY_COLUMN.instance;
  const out: Sample[] = [
    { name: d.get('seconds')!.name, value: w.Seconds },
    { name: d.get('samples')!.name, value: w.Samples },
    { name: d.get('missed')!.name, value: w.Missed },
    { name: d.get('unsampled')!.name, value: w.Unsampled ?? 0 },
  ];
  for (const [k, col] of Object.entries(INSTANCE_TOTALS)) {
    const v = w[k as keyof typeof INSTANCE_TOTALS] ?? null;
    if (v === null) out.push({ name: UNKNOWN_SERIES, field: col, value: 1 });
    else out.push({ name: d.get(col)!.name, value: v });
  }
  for (const [k, p] of Object.entries(INSTANCE_AGGS)) aggSamples(d, p, w[k as keyof typeof INSTANCE_AGGS], out);
  return out;
}

/** One exported series: its labels and its samples (milliseconds). */
export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/**
 * Minute rows (keyed by minute start, unix seconds) from exported series, combining each minute's
 * samples; only minutes with a presence sample have a row. Columns not asked for are left out.
 */
export function combineMinutes(kind: SeriesKind, series: readonly ExportedSeries[], columns: readonly string[]): Map<number, MinuteRow> {
  const acc = new Map<number, Map<string, number>>();
  const parts = new Map<number, number>();
  const unknown = new Map<number, Set<string>>();
  const presence = BY_COLUMN[kind].get(PRESENCE[kind])!.name;
  for (const s of series) {
    const name = s.metric.__name__ ?? '';
    if (name === UNKNOWN_SERIES) {
      for (const ts of s.timestamps) {
        const m = Math.floor(ts / 60000) * 60;
        let set = unknown.get(m);
        if (!set) unknown.set(m, (set = new Set()));
        set.add(s.metric.field ?? '');
      }
      continue;
    }
    const def = BY_NAME[kind].get(name);
    if (!def) continue;
    for (let i = 0; i < s.timestamps.length; i++) {
      const m = Math.floor(s.timestamps[i]! / 60000) * 60;
      const v = s.values[i]!;
      if (name === presence) parts.set(m, (parts.get(m) ?? 0) + 1);
      let row = acc.get(m);
      if (!row) acc.set(m, (row = new Map()));
      const had = row.get(def.column);
      row.set(def.column, had === undefined ? v : def.combine === 'sum' ? had + v : def.combine === 'min' ? Math.min(had, v) : Math.max(had, v));
    }
  }
  const out = new Map<number, MinuteRow>();
  for (const m of [...parts.keys()].sort((a, b) => a - b)) {
    const row = acc.get(m)!;
    const r: MinuteRow = { minute: m };
    for (const c of columns) {
      if (c === 'minute') continue;
      if (c === 'parts') r.parts = parts.get(m)!;
      else if (c.endsWith('_avg')) {
        const p = c.slice(0, -4);
        const count = row.get(`${p}_count`);
        r[c] = count ? row.get(`${p}_sum`)! / count : null;
      } else if (unknown.get(m)?.has(c)) r[c] = null;
      else {
        const v = row.get(c);
        // An absent gauge part is null (as in SQL); an absent counter share is 0 only if the column is a counter.
        r[c] = v ?? (c.endsWith('_min') || c.endsWith('_max') || c.endsWith('_sum') || c.endsWith('_count') ? null : kind === 'instance' && NULLABLE.has(c) ? null : 0);
      }
    }
    out.set(m, r);
  }
  return out;
}
