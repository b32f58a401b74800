// The 300 s, 3600 s and 86400 s tiers: the statements that build their rows from finer data.
//
// Ingest writes minutes only, and marks the (agent, 300 s bucket) it touched as pending
// (rollup.ts). A rollup rebuilds whole buckets set-based: 300 s rows from the minutes, an hour
// from its 300 s rows, a day from its hour rows. Rebuilding (not adding) is what keeps the tiers
// exact under merged minutes and replays: a bucket is recomputed from everything stored in it,
// however the minutes got there. Minute retention first rolls up every bucket it is about to
// cut (SqlStore.retain) and the server accepts no minute older than retention, so the minutes of
// a bucket being rebuilt are all still there; an hour's 300 s rows are kept 63 days and a day's
// hours 455, so the same holds one level up.
import {
  HOST_TIER_COLS,
  HOST_TIER_GAUGES,
  HOST_TIER_KEY,
  HOST_TIER_STATS,
  HOST_TIER_TOTALS,
  INSTANCE_TIER_COLS,
  INSTANCE_TIER_GAUGES,
  INSTANCE_TIER_KEY,
  INSTANCE_TIER_STATS,
  INSTANCE_TIER_TOTALS,
  tierTable,
  type Col,
  type TierSeconds,
} from './schema.js';

export type TierKind = 'host' | 'instance';

export const tierSpec = {
  host: { cols: HOST_TIER_COLS, key: HOST_TIER_KEY as readonly string[], stats: HOST_TIER_STATS, minutes: 'host_minutes', contributes: 'samples > 0', maskWhen: '1 = 1' },
  instance: {
    cols: INSTANCE_TIER_COLS,
    key: INSTANCE_TIER_KEY as readonly string[],
    stats: INSTANCE_TIER_STATS,
    minutes: 'instance_minutes',
    // Minutes carrying counters for time no reading covered (Unsampled) still count for totals.
    contributes: '(samples > 0 OR unsampled > 0)',
    maskWhen: 'samples > 0',
  },
} as const;

/**
 * A tier row's columns (in tier-table order) as aggregates of its source rows, grouped per key and
 * `bucket`: the 300 s tier from minutes, the 3600 s tier from 300 s rows (their masks moved to the
 * 5-minute block they hold), the day tier from hour rows (which keep no masks). `fromMinutes` builds
 * any tier straight from the minutes (migration 4, for minutes stored before the tiers existed).
 */
function tierSelect(kind: TierKind, tier: TierSeconds, fromMinutes: boolean, p = ''): { sel: string[]; source: string; time: string; bucket: string } {
  const spec = tierSpec[kind];
  const head = spec.key.filter((k) => k !== 'bucket').map((h) => p + h);
  if (tier === 300 || (fromMinutes && tier === 3600)) {
    const b = `(${p}minute / ${tier}) * ${tier}`;
    const k = `((${p}minute - ${b}) / 60)`;
    const sel: string[] = [...head, `${b} AS bucket`];
    const prefixed = (x: string) => x.replace(/\b(samples|unsampled)\b/g, `${p}$1`);
    const mask = prefixed(spec.maskWhen);
    sel.push(`SUM(CASE WHEN ${mask} AND ${k} < 30 THEN 1 << CAST(${k} AS INTEGER) ELSE 0 END)`);
    sel.push(`SUM(CASE WHEN ${mask} AND ${k} >= 30 THEN 1 << CAST(${k} - 30 AS INTEGER) ELSE 0 END)`);
    const gauges = kind === 'host' ? Object.values(HOST_TIER_GAUGES) : Object.values(INSTANCE_TIER_GAUGES);
    const totals = kind === 'host' ? Object.values(HOST_TIER_TOTALS) : Object.values(INSTANCE_TIER_TOTALS);
    for (const g of gauges as string[]) sel.push(...partsOfCounted(p + g));
    const counts = prefixed(spec.contributes);
    for (const v of totals as string[]) {
      const x = `CASE WHEN ${counts} THEN ${p}${v} END`;
      sel.push(`MIN(${x})`, `MAX(${x})`, `SUM(${x})`, `COUNT(${x})`);
    }
    return { sel, source: spec.minutes, time: 'minute', bucket: b };
  }
  if (tier === 3600) {
    // A 300 s row's mask holds its 5 minutes in bits 0-4 of mask_lo; in the hour they are bits
    // off..off+4, off a multiple of 5, so all of them land in one of the hour's two halves.
    const b = `(${p}bucket / 3600) * 3600`;
    const off = `((${p}bucket - ${b}) / 60)`;
    const sel: string[] = [...head, `${b} AS bucket`];
    sel.push(`SUM(CASE WHEN ${off} < 30 THEN ${p}mask_lo << CAST(${off} AS INTEGER) ELSE 0 END)`);
    sel.push(`SUM(CASE WHEN ${off} >= 30 THEN ${p}mask_lo << CAST(${off} - 30 AS INTEGER) ELSE 0 END)`);
    for (const st of spec.stats) sel.push(...partsOfCounted(p + st));
    return { sel, source: tierTable(kind, 300), time: 'bucket', bucket: b };
  }
  const b = `(${p}bucket / 86400) * 86400`;
  const sel: string[] = [...head, `${b} AS bucket`, '0', '0'];
  for (const st of spec.stats) sel.push(...partsOfCounted(p + st));
  return { sel, source: tierTable(kind, 3600), time: 'bucket', bucket: b };
}

/** A coarser bucket's min, max, sum and count of a statistic from finer rows: those whose count is positive. */
function partsOfCounted(stat: string): string[] {
  const has = `${stat}_count > 0`;
  return [`MIN(CASE WHEN ${has} THEN ${stat}_min END)`, `MAX(CASE WHEN ${has} THEN ${stat}_max END)`, `SUM(CASE WHEN ${has} THEN ${stat}_sum END)`, `SUM(CASE WHEN ${has} THEN ${stat}_count END)`];
}

function upsertTail(kind: TierKind): string {
  const spec = tierSpec[kind];
  const cols = spec.cols.map((c: Col) => c.name);
  const sets = cols.filter((c) => !spec.key.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

const insertHead = (kind: TierKind, tier: TierSeconds) => `INSERT INTO ${tierTable(kind, tier)} (${tierSpec[kind].cols.map((c: Col) => c.name).join(', ')})`;

/**
 * INSERT ... SELECT rebuilding every key's rows of the tier from the minutes of [?, ?) (the day
 * tier: from the hour rows). For whole histories (after migrations 4 and 6).
 */
export function rebuildSql(kind: TierKind, tier: TierSeconds): string {
  const q = tierSelect(kind, tier, true);
  const head = tierSpec[kind].key.filter((k) => k !== 'bucket');
  return `${insertHead(kind, tier)} SELECT ${q.sel.join(', ')} FROM ${q.source} WHERE ${q.time} >= ? AND ${q.time} < ? GROUP BY ${[...head, q.bucket].join(', ')} ${upsertTail(kind)}`;
}

/**
 * INSERT ... SELECT rebuilding the tier's buckets listed in `work`, a row source of
 * (w_agent, w_bucket) pairs: every key of those agents, from the finer rows (tierSelect) in
 * [?, ?), the bounds of all listed buckets (so PostgreSQL prunes partitions when planning).
 * SQLite: the work drives the loop (CROSS JOIN keeps that order), and instance rows are reached
 * through the instances table, since (agent, instance, time) is the finer table's primary key: one
 * index seek per instance, not a scan of the agent's history. PostgreSQL plans the join itself
 * (a scan of the time range, joined by agent; through the instances table it took twice as long).
 */
export function rollupSql(kind: TierKind, tier: TierSeconds, work: string, engine: 'sqlite' | 'postgres'): string {
  const q = tierSelect(kind, tier, false, 'm.');
  const head = tierSpec[kind].key.filter((k) => k !== 'bucket');
  const from =
    engine === 'postgres'
      ? `${work} JOIN ${q.source} m ON m.agent_id = w.w_agent`
      : kind === 'host'
        ? `${work} CROSS JOIN ${q.source} m ON m.agent_id = w.w_agent`
        : `${work} CROSS JOIN instances i ON i.agent_id = w.w_agent CROSS JOIN ${q.source} m ON m.agent_id = i.agent_id AND m.instance_id = i.instance_id`;
  const where = `m.${q.time} >= w.w_bucket AND m.${q.time} < w.w_bucket + ${tier} AND m.${q.time} >= ? AND m.${q.time} < ?`;
  return `${insertHead(kind, tier)} SELECT ${q.sel.join(', ')} FROM ${from} WHERE ${where} GROUP BY ${[...head.map((h) => `m.${h}`), q.bucket].join(', ')} ${upsertTail(kind)}`;
}
