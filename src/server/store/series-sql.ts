// The statement that reads one metric's statistics from one tier, per period bucket, for statRows.
// When the period is the tier's resolution every stored row is a bucket: rows are read in key
// order with no GROUP BY (which would sort them through a temporary B-tree). Coarser periods are
// grouped in SQL, which costs less than handing every finer row to JavaScript. Rows are read as
// arrays (Exec.rows), not objects.
import { tierTable } from './schema.js';
import type { Value } from './sql.js';
import type { SeriesTarget, StatKind, StatRow, Tier } from './store.js';
import { tierSpec, type TierKind } from './tiers.js';

const STAT_SETS = { host: new Set(tierSpec.host.stats), instance: new Set(tierSpec.instance.stats) };

/** SQL and parameters whose rows are [t, min, max, sum, count], ascending by t. */
export function statQuery(target: SeriesTarget, tier: Tier, from: number, to: number, stat: string, kind: StatKind, period: number): { sql: string; params: Value[] } {
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
    return { sql: `SELECT ${time}, ${cols} FROM ${table} WHERE ${where} ORDER BY ${time}`, params: [...key, from, to] };
  }
  const aggs = minuteTotal ? `MIN(${stat}), MAX(${stat}), SUM(${stat}), COUNT(*)` : `MIN(${stat}_min), MAX(${stat}_max), SUM(${stat}_sum), SUM(${stat}_count)`;
  return {
    sql: `SELECT (${time} / CAST(? AS BIGINT)) * CAST(? AS BIGINT) AS t, ${aggs} FROM ${table} WHERE ${where} GROUP BY 1 ORDER BY 1`,
    params: [period, period, ...key, from, to],
  };
}

/** Array rows of statQuery as StatRows (PostgreSQL returns SUM of bigint as text). */
export function toStatRows(rows: readonly unknown[][]): StatRow[] {
  const out: StatRow[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    out[i] = { t: Number(r[0]), min: Number(r[1]), max: Number(r[2]), sum: Number(r[3]), count: Number(r[4]) };
  }
  return out;
}
