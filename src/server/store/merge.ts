// A record for a minute that is already stored is merged, never replaced: an agent restarted in the
// middle of a minute, or windows shorter than a minute, send several partial records of one minute,
// and each carries only its own share of the counters and samples. The rules, the same in SQL (the
// upsert tails below) and in memory (records of one minute within a single batch, combined by
// ship/window-merge.ts's combineHostMinute and combineInstanceMinute, which the agent uses too):
// - counters (bytes, packets, errors, drops, disk, throttling) and Seconds, Samples, Missed,
//   Unsampled add up (in memory, Seconds and Unsampled to at most the minute's 60);
// - a VM's network totals are null when a TAP could not be read ("unknown"), and its error and
//   drop counters also when the agent does not send them; null + x stays null, because a sum that
//   silently drops an unknown share would understate the traffic;
// - gauge aggregates combine by their counts: Min of mins, Max of maxes, Sum and Count added,
//   Avg = Sum / Count; an absent aggregate (null) leaves the other side unchanged.
import type { Col, Dialect } from './schema.js';

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
