// A record for a minute that is already stored is merged, never replaced: an agent restarted in the
// middle of a minute, or windows shorter than a minute, send several partial records of one minute,
// and each carries only its own share of the counters and samples. The rules, the same in SQL (the
// upsert tails below) and in memory (records of one minute within a single batch):
// - counters (bytes, packets, errors, drops, disk, throttling) and Seconds, Samples, Missed,
//   Unsampled add up;
// - a VM's network totals are null when a TAP could not be read ("unknown"), and its error and
//   drop counters also when the agent does not send them; null + x stays null, because a sum that
//   silently drops an unknown share would understate the traffic;
// - gauge aggregates combine by their counts: Min of mins, Max of maxes, Sum and Count added,
//   Avg = Sum / Count; an absent aggregate (null) leaves the other side unchanged.
import type { Agg, HostWindow, InstanceWindow } from '../../ship/payload.js';
import { HOST_AGGS, INSTANCE_AGGS, type Col, type Dialect } from './schema.js';

export function mergeAgg(a: Agg | null, b: Agg | null): Agg | null {
  if (!a) return b;
  if (!b) return a;
  const Sum = a.Sum + b.Sum;
  const Count = a.Count + b.Count;
  return { Avg: Count > 0 ? Sum / Count : a.Avg, Min: Math.min(a.Min, b.Min), Max: Math.max(a.Max, b.Max), Sum, Count };
}

const nullableAdd = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a + b);

export function mergeHostWindows(a: HostWindow, b: HostWindow): HostWindow {
  const out: HostWindow = { ...a, Seconds: a.Seconds + b.Seconds, Samples: a.Samples + b.Samples, NetIn: a.NetIn + b.NetIn, NetOut: a.NetOut + b.NetOut };
  for (const k of Object.keys(HOST_AGGS) as (keyof typeof HOST_AGGS)[]) out[k] = mergeAgg(a[k], b[k]);
  return out;
}

export function mergeInstanceWindows(a: InstanceWindow, b: InstanceWindow): InstanceWindow {
  const out: InstanceWindow = {
    ...a,
    Seconds: a.Seconds + b.Seconds,
    Samples: a.Samples + b.Samples,
    Missed: a.Missed + b.Missed,
    NetIn: nullableAdd(a.NetIn, b.NetIn),
    NetOut: nullableAdd(a.NetOut, b.NetOut),
    NetInPackets: nullableAdd(a.NetInPackets, b.NetInPackets),
    NetOutPackets: nullableAdd(a.NetOutPackets, b.NetOutPackets),
    // Absent (an older agent) is unknown, as the stored column holds it.
    NetInErrors: nullableAdd(a.NetInErrors ?? null, b.NetInErrors ?? null),
    NetOutErrors: nullableAdd(a.NetOutErrors ?? null, b.NetOutErrors ?? null),
    NetInDropped: nullableAdd(a.NetInDropped ?? null, b.NetInDropped ?? null),
    NetOutDropped: nullableAdd(a.NetOutDropped ?? null, b.NetOutDropped ?? null),
    DiskRead: a.DiskRead + b.DiskRead,
    DiskWrite: a.DiskWrite + b.DiskWrite,
    ThrottledPeriods: a.ThrottledPeriods + b.ThrottledPeriods,
    ThrottledTimeNs: a.ThrottledTimeNs + b.ThrottledTimeNs,
  };
  const unsampled = (a.Unsampled ?? 0) + (b.Unsampled ?? 0);
  if (unsampled > 0) out.Unsampled = unsampled;
  else delete out.Unsampled;
  for (const k of Object.keys(INSTANCE_AGGS) as (keyof typeof INSTANCE_AGGS)[]) out[k] = mergeAgg(a[k], b[k]);
  return out;
}

/** The SET expressions of one gauge's five columns (`<p>_avg`, min, max, sum, count). */
function aggMergeSets(table: string, p: string, d: Dialect): string[] {
  const t = (part: string) => `${table}.${p}_${part}`;
  const e = (part: string) => `excluded.${p}_${part}`;
  // count IS NULL marks an absent aggregate (all five columns are null together).
  const pick = (both: string, part: string) => `CASE WHEN ${t('count')} IS NULL THEN ${e(part)} WHEN ${e('count')} IS NULL THEN ${t(part)} ELSE ${both} END`;
  return [
    `${p}_avg = ${pick(`(${t('sum')} + ${e('sum')}) / NULLIF(${t('count')} + ${e('count')}, 0)`, 'avg')}`,
    `${p}_min = ${pick(d.least(t('min'), e('min')), 'min')}`,
    `${p}_max = ${pick(d.greatest(t('max'), e('max')), 'max')}`,
    `${p}_sum = ${pick(`${t('sum')} + ${e('sum')}`, 'sum')}`,
    `${p}_count = ${pick(`${t('count')} + ${e('count')}`, 'count')}`,
  ];
}

/**
 * ON CONFLICT tail of a per-minute table: every non-key column is either part of a gauge (merged by
 * counts) or a counter (added; SQL's NULL + x = NULL gives the null rule for network totals).
 */
export function minuteMergeTail(table: string, cols: readonly Col[], key: readonly string[], aggPrefixes: readonly string[], d: Dialect): string {
  const aggCols = new Set(aggPrefixes.flatMap((p) => ['avg', 'min', 'max', 'sum', 'count'].map((x) => `${p}_${x}`)));
  const sets: string[] = [];
  for (const c of cols) {
    if (key.includes(c.name) || aggCols.has(c.name)) continue;
    sets.push(`${c.name} = ${table}.${c.name} + excluded.${c.name}`);
  }
  for (const p of aggPrefixes) sets.push(...aggMergeSets(table, p, d));
  return `ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}
