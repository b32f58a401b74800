// The statement that reads one metric's statistics from one tier, per period bucket, for statRows.
// When the period is the tier's resolution every stored row is a bucket: rows are read in key
// order with no GROUP BY (which would sort them through a temporary B-tree). Coarser periods are
// grouped in SQL, which costs less than handing every finer row to JavaScript. Rows are read as
// arrays (Exec.rows), not objects.
//
// Buckets not rolled up yet (rollup.ts) are read from finer data: staleBounds says where each
// tier of the chain (say 86400 → 3600 → 300 → minutes) stops being complete, and mergeStatRows
// reads each tier up to that point and the next finer one from there, in one statement.
import { tierTable } from './schema.js';
import type { Value } from './sql.js';
import type { MaskRow, SeriesTarget, StatKind, StatRow, Tier } from './store.js';
import { tierSpec, type TierKind } from './tiers.js';

const STAT_SETS = { host: new Set(tierSpec.host.stats), instance: new Set(tierSpec.instance.stats) };

/**
 * SQL and parameters whose rows are [t, min, max, sum, count], ascending by t. `ordered: false`
 * leaves out the ORDER BY (a member of a UNION ALL); `pending: true` adds to every row the columns
 * of pendingColumns (the same in every row), so that one round trip also says whether the answer
 * is complete.
 */
export function statQuery(
  target: SeriesTarget,
  tier: Tier,
  from: number,
  to: number,
  stat: string,
  kind: StatKind,
  period: number,
  opts: { ordered?: boolean; pending?: boolean } = {},
): { sql: string; params: Value[] } {
  const ordered = opts.ordered ?? true;
  const extra = opts.pending ? pendingColumns(target.agentId, tier, from, to) : { sql: '', params: [] };
  const k: TierKind = target.instanceId === undefined ? 'host' : 'instance';
  // `stat` becomes part of an identifier: only the tier's own statistic names pass.
  if (!STAT_SETS[k].has(stat)) throw new Error(`unknown ${k} statistic ${stat}`);
  if (!Number.isInteger(period) || period <= 0 || period % tier !== 0) throw new Error(`period ${period} is not a multiple of tier ${tier}`);
  const keyWhere = k === 'host' ? 'agent_id = ?' : 'agent_id = ? AND instance_id = ?';
  const key: Value[] = k === 'host' ? [target.agentId] : [target.agentId, target.instanceId!];
  const time = tier === 60 ? 'minute' : 'bucket';
  const table = tier === 60 ? tierSpec[k].minutes : tierTable(k, tier);
  // A minute's total is one value (count 1) when the minute contributes and the total is known.
  const minuteTotal = tier === 60 && kind === 'total';
  const has = minuteTotal ? `${tierSpec[k].contributes} AND ${stat} IS NOT NULL` : `${stat}_count > 0`;
  const where = `${keyWhere} AND ${time} >= ? AND ${time} < ? AND ${has}`;
  if (period === tier) {
    const cols = minuteTotal ? `${stat}, ${stat}, ${stat}, 1` : `${stat}_min, ${stat}_max, ${stat}_sum, ${stat}_count`;
    return { sql: `SELECT ${time}, ${cols}${extra.sql} FROM ${table} WHERE ${where}${ordered ? ` ORDER BY ${time}` : ''}`, params: [...extra.params, ...key, from, to] };
  }
  const aggs = minuteTotal ? `MIN(${stat}), MAX(${stat}), SUM(${stat}), COUNT(*)` : `MIN(${stat}_min), MAX(${stat}_max), SUM(${stat}_sum), SUM(${stat}_count)`;
  return {
    sql: `SELECT (${time} / CAST(? AS BIGINT)) * CAST(? AS BIGINT) AS t, ${aggs}${extra.sql} FROM ${table} WHERE ${where} GROUP BY 1${ordered ? ' ORDER BY 1' : ''}`,
    params: [period, period, ...extra.params, ...key, from, to],
  };
}

/** The tiers a query at `tier` reads, coarsest first, ending with the minutes. */
export function tierChain(tier: Tier): Tier[] {
  return ([86400, 3600, 300, 60] as const).filter((t) => t <= tier);
}

/** The tiers of tierChain(tier) that can have pending buckets: all but the minutes. */
export function staleLevels(tier: Tier): Tier[] {
  return tierChain(tier).filter((t) => t !== 60);
}

const floorTo = (x: number, step: number) => Math.floor(x / step) * step;

/**
 * Columns (`, (SELECT ...), ...`) giving, for each tier of tierChain(tier) but the minutes, the
 * earliest pending bucket in [from, to) of that tier or a finer one (rollup.ts), NULL when none:
 * uncorrelated scalar subqueries, which both engines evaluate once per statement.
 */
export function pendingColumns(agentId: string, tier: Tier, from: number, to: number): { sql: string; params: Value[] } {
  const levels = staleLevels(tier);
  return {
    sql: levels.map((t) => `, (SELECT MIN(bucket) FROM rollup_pending WHERE agent_id = ? AND tier <= ${t} AND bucket >= ? AND bucket < ?)`).join(''),
    params: levels.flatMap(() => [agentId, from, to]),
  };
}

/**
 * For each tier of tierChain(tier) but the minutes: the first of its buckets in [from, to) that is
 * not complete — it holds a pending bucket of its own tier or a finer one — or `to` when none is.
 * `firsts`: the pendingColumns values. Ascending: a finer tier's pending buckets are also counted
 * in every coarser tier's bound, so a finer bound is never before a coarser one.
 */
export function staleBounds(firsts: readonly unknown[], tier: Tier, from: number, to: number): number[] {
  return staleLevels(tier).map((t, i) => {
    const first = firsts[i];
    return first === null || first === undefined ? to : Math.min(to, Math.max(from, floorTo(Number(first), t)));
  });
}

/**
 * One statement reading [from, to) through the chain of tiers: tier i in [bound i−1, bound i),
 * the minutes from the last bound on (see staleBounds). Rows come back ordered by t; the pieces of
 * a period bucket read from two tiers come as two rows, which toStatRows adds up.
 */
export function mergeStatRows(target: SeriesTarget, tier: Tier, from: number, to: number, bounds: readonly number[], stat: string, kind: StatKind, period: number): { sql: string; params: Value[] } {
  const chain = tierChain(tier);
  const sql: string[] = [];
  const params: Value[] = [];
  let lo = from;
  for (const [i, t] of chain.entries()) {
    const hi = i < bounds.length ? bounds[i]! : to;
    if (lo < hi) {
      const q = statQuery(target, t, lo, hi, stat, kind, period, { ordered: false });
      sql.push(q.sql);
      params.push(...q.params);
    }
    lo = hi;
  }
  return { sql: `${sql.join(' UNION ALL ')} ORDER BY 1`, params };
}

/**
 * Masks of a tier read only before `from` (`rows`), and of the buckets from `from` on built from
 * their `minutes` (ascending), which is what the tier will hold once they are rolled up.
 */
export function staleMaskRows(rows: readonly MaskRow[], minutes: readonly number[], tier: Tier, from: number): MaskRow[] {
  const out = rows.filter((r) => r.t < from);
  for (const m of minutes) {
    const t = floorTo(m, tier);
    let last = out[out.length - 1];
    if (!last || last.t !== t) out.push((last = { t, lo: 0, hi: 0 }));
    const k = (m - t) / 60;
    if (k < 30) last.lo |= 1 << k;
    else last.hi |= 1 << (k - 30);
  }
  return out;
}

/** Array rows [t, lo, hi, ...] as MaskRows. */
export function toMaskRows(rows: readonly unknown[][]): MaskRow[] {
  return rows.map((r) => ({ t: Number(r[0]), lo: Number(r[1]), hi: Number(r[2]) }));
}

/** Array rows of statQuery as StatRows (PostgreSQL returns SUM of bigint as text); rows of one t (mergeStatRows) are added up. */
export function toStatRows(rows: readonly unknown[][]): StatRow[] {
  const out: StatRow[] = [];
  for (const r of rows) {
    const t = Number(r[0]);
    const min = Number(r[1]);
    const max = Number(r[2]);
    const sum = Number(r[3]);
    const count = Number(r[4]);
    const last = out[out.length - 1];
    if (last && last.t === t) {
      if (min < last.min) last.min = min;
      if (max > last.max) last.max = max;
      last.sum += sum;
      last.count += count;
    } else out.push({ t, min, max, sum, count });
  }
  return out;
}
