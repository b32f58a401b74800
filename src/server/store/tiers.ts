// The 300 s, 3600 s and 86400 s tiers: how a batch's minutes add to them, and how a bucket is rebuilt.
//
// Exactness under merged minutes and replays. A minute stored for the first time adds to its
// buckets what it holds (gauges: min/max/sum/count of its samples; totals: its value once; its
// mask bit). A minute merged into a stored one (its `parts` > 1 after the upsert) still adds its
// gauges and mask bit — merging only adds samples, so min of mins, max of maxes, sums and OR are
// exact — but its total changed value (x → x + y, or a known x → unknown), which a running
// min/max/count cannot follow; so the buckets of such a minute are rebuilt from the minutes in the
// same transaction. A replayed batch is a duplicate BatchID and adds nothing. Minute retention
// deletes whole hours only and the server accepts no minute older than retention, so every
// minute of a bucket being rebuilt is still there. A day bucket is rebuilt from its hour rows
// (rebuilt just before it in the same transaction), not from minutes: minute retention may have
// taken the day's first hours already, the 3600 s tier (kept longer) has them all.
import type { Agg, HostWindow, InstanceWindow } from '../../ship/payload.js';
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
  TIER_SECONDS,
  tierTable,
  type Col,
  type TierSeconds,
} from './schema.js';
import type { Dialect, Value } from './sql.js';

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

/** A minute's total counts when it was sampled (or carries unsampled seconds) and is known. */
export function hostTotalCounts(w: HostWindow): boolean {
  return w.Samples > 0;
}
export function instanceTotalCounts(w: InstanceWindow): boolean {
  return w.Samples > 0 || (w.Unsampled ?? 0) > 0;
}

/**
 * One tier row being built in memory, in the column order of the tier table: key values, the two
 * masks, then min, max, sum, count per stat (all four null while the stat has no value).
 */
export interface TierAcc {
  row: Value[];
  /** Index of mask_lo in row; the stats start two further on. */
  at: number;
}

function addStat(acc: TierAcc, i: number, min: number, max: number, sum: number, count: number): void {
  const r = acc.row;
  const j = acc.at + 2 + i * 4;
  if (r[j + 3] === null) {
    r[j] = min;
    r[j + 1] = max;
    r[j + 2] = sum;
    r[j + 3] = count;
  } else {
    if (min < (r[j] as number)) r[j] = min;
    if (max > (r[j + 1] as number)) r[j + 1] = max;
    r[j + 2] = (r[j + 2] as number) + sum;
    r[j + 3] = (r[j + 3] as number) + count;
  }
}

function addAgg(acc: TierAcc, i: number, a: Agg | null): void {
  if (a && a.Count > 0) addStat(acc, i, a.Min, a.Max, a.Sum, a.Count);
}

const HOST_GAUGE_KEYS = Object.keys(HOST_TIER_GAUGES) as (keyof typeof HOST_TIER_GAUGES)[];
const HOST_TOTAL_KEYS = Object.keys(HOST_TIER_TOTALS) as (keyof typeof HOST_TIER_TOTALS)[];
const INSTANCE_GAUGE_KEYS = Object.keys(INSTANCE_TIER_GAUGES) as (keyof typeof INSTANCE_TIER_GAUGES)[];
const INSTANCE_TOTAL_KEYS = Object.keys(INSTANCE_TIER_TOTALS) as (keyof typeof INSTANCE_TIER_TOTALS)[];

/** Accumulates one batch's contributions per tier row (a statement never touches one row twice). */
export class TierBatch {
  readonly rows = new Map<TierSeconds, Map<string, TierAcc>>(TIER_SECONDS.map((t) => [t, new Map()]));
  /** Buckets holding a merged minute: rebuilt from the minutes after the incremental upsert. */
  readonly rebuild = new Map<TierSeconds, Map<string, Value[]>>(TIER_SECONDS.map((t) => [t, new Map()]));
  private readonly width: number;

  constructor(readonly kind: TierKind) {
    this.width = tierSpec[kind].stats.length;
  }

  /**
   * The tier rows of one minute, one per tier (in TIER_SECONDS order), created as needed, with
   * the minute's mask bit set when `maskBit`. `head` is the key without the bucket, `id` its text.
   */
  private accs(head: Value[], id: string, minute: number, merged: boolean, maskBit: boolean): TierAcc[] {
    const out: TierAcc[] = [];
    for (const tier of TIER_SECONDS) {
      const bucket = Math.floor(minute / tier) * tier;
      const rowId = `${id}\u0000${bucket}`;
      const m = this.rows.get(tier)!;
      let a = m.get(rowId);
      if (!a) {
        const row: Value[] = new Array(head.length + 3 + this.width * 4).fill(null);
        for (let i = 0; i < head.length; i++) row[i] = head[i]!;
        row[head.length] = bucket;
        row[head.length + 1] = 0;
        row[head.length + 2] = 0;
        a = { row, at: head.length + 1 };
        m.set(rowId, a);
      }
      // The day tier keeps no masks (schema.ts): 1,440 bits do not fit.
      if (maskBit && tier !== 86400) {
        const k = (minute - bucket) / 60;
        if (k < 30) a.row[a.at] = (a.row[a.at] as number) | (1 << k);
        else a.row[a.at + 1] = (a.row[a.at + 1] as number) | (1 << (k - 30));
      }
      if (merged) this.rebuild.get(tier)!.set(rowId, a.row.slice(0, a.at));
      out.push(a);
    }
    return out;
  }

  addHost(agentId: string, w: HostWindow, merged: boolean): void {
    const g = HOST_GAUGE_KEYS;
    const t = HOST_TOTAL_KEYS;
    const counts = !merged && hostTotalCounts(w);
    for (const a of this.accs([agentId], agentId, w.Minute, merged, true)) {
      for (let i = 0; i < g.length; i++) addAgg(a, i, w[g[i]!]);
      if (counts)
        for (let i = 0; i < t.length; i++) {
          const v = w[t[i]!];
          addStat(a, g.length + i, v, v, v, 1);
        }
    }
  }

  addInstance(agentId: string, instanceId: string, w: InstanceWindow, merged: boolean): void {
    const g = INSTANCE_GAUGE_KEYS;
    const t = INSTANCE_TOTAL_KEYS;
    const counts = !merged && instanceTotalCounts(w);
    for (const a of this.accs([agentId, instanceId], `${agentId}\u0000${instanceId}`, w.Minute, merged, w.Samples > 0)) {
      for (let i = 0; i < g.length; i++) addAgg(a, i, w[g[i]!]);
      if (counts)
        for (let i = 0; i < t.length; i++) {
          const v = w[t[i]!];
          if (v !== null) addStat(a, g.length + i, v, v, v, 1);
        }
    }
  }

  values(tier: TierSeconds): Value[][] {
    const out: Value[][] = [];
    for (const a of this.rows.get(tier)!.values()) out.push(a.row);
    return out;
  }
}

/** ON CONFLICT tail adding a tier row's contribution to the stored one. */
export function tierMergeTail(kind: TierKind, tier: TierSeconds, d: Dialect): string {
  const table = tierTable(kind, tier);
  const spec = tierSpec[kind];
  const sets = [`mask_lo = ${table}.mask_lo | excluded.mask_lo`, `mask_hi = ${table}.mask_hi | excluded.mask_hi`];
  for (const p of spec.stats) {
    const t = (part: string) => `${table}.${p}_${part}`;
    const e = (part: string) => `excluded.${p}_${part}`;
    const pick = (both: string, part: string) =>
      `CASE WHEN ${t('count')} IS NULL OR ${t('count')} = 0 THEN ${e(part)} WHEN ${e('count')} IS NULL OR ${e('count')} = 0 THEN ${t(part)} ELSE ${both} END`;
    sets.push(
      `${p}_min = ${pick(d.least(t('min'), e('min')), 'min')}`,
      `${p}_max = ${pick(d.greatest(t('max'), e('max')), 'max')}`,
      `${p}_sum = ${pick(`${t('sum')} + ${e('sum')}`, 'sum')}`,
      `${p}_count = ${pick(`${t('count')} + ${e('count')}`, 'count')}`,
    );
  }
  return `ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

/**
 * INSERT ... SELECT rebuilding tier rows from the minutes of [?, ?) — for one key when `oneKey`
 * (parameters: key head values, from, to), else for every key (parameters: from, to).
 */
export function rebuildSql(kind: TierKind, tier: TierSeconds, oneKey: boolean): string {
  if (tier === 86400) return rebuildDaySql(kind, oneKey);
  const spec = tierSpec[kind];
  const head = spec.key.filter((k) => k !== 'bucket');
  const b = `(minute / ${tier}) * ${tier}`;
  const k = `((minute - ${b}) / 60)`;
  const sel: string[] = [...head, `${b} AS bucket`];
  sel.push(`SUM(CASE WHEN ${spec.maskWhen} AND ${k} < 30 THEN 1 << CAST(${k} AS INTEGER) ELSE 0 END)`);
  sel.push(`SUM(CASE WHEN ${spec.maskWhen} AND ${k} >= 30 THEN 1 << CAST(${k} - 30 AS INTEGER) ELSE 0 END)`);
  const gauges = kind === 'host' ? Object.values(HOST_TIER_GAUGES) : Object.values(INSTANCE_TIER_GAUGES);
  const totals = kind === 'host' ? Object.values(HOST_TIER_TOTALS) : Object.values(INSTANCE_TIER_TOTALS);
  for (const g of gauges as string[]) sel.push(...partsOfCounted(g));
  for (const v of totals as string[]) {
    const x = `CASE WHEN ${spec.contributes} THEN ${v} END`;
    sel.push(`MIN(${x})`, `MAX(${x})`, `SUM(${x})`, `COUNT(${x})`);
  }
  return upsertFrom(kind, tier, sel, spec.minutes, 'minute', oneKey, b);
}

/** As rebuildSql for the day tier: from the hour rows of [?, ?), which hold every statistic exactly (masks stay 0). */
function rebuildDaySql(kind: TierKind, oneKey: boolean): string {
  const spec = tierSpec[kind];
  const head = spec.key.filter((k) => k !== 'bucket');
  const b = '(bucket / 86400) * 86400';
  const sel: string[] = [...head, `${b} AS bucket`, '0', '0'];
  for (const st of spec.stats) sel.push(...partsOfCounted(st));
  return upsertFrom(kind, 86400, sel, tierTable(kind, 3600), 'bucket', oneKey, b);
}

/** A coarser bucket's min, max, sum and count of a statistic from finer rows: those whose count is positive. */
function partsOfCounted(stat: string): string[] {
  const has = `${stat}_count > 0`;
  return [`MIN(CASE WHEN ${has} THEN ${stat}_min END)`, `MAX(CASE WHEN ${has} THEN ${stat}_max END)`, `SUM(CASE WHEN ${has} THEN ${stat}_sum END)`, `SUM(CASE WHEN ${has} THEN ${stat}_count END)`];
}

/** INSERT of the tier's rows selected (`sel`, in column order) from `source` over [?, ?) of `time`, grouped per key and bucket `b`, replacing stored ones. */
function upsertFrom(kind: TierKind, tier: TierSeconds, sel: readonly string[], source: string, time: string, oneKey: boolean, b: string): string {
  const spec = tierSpec[kind];
  const head = spec.key.filter((k) => k !== 'bucket');
  const where = [...(oneKey ? head.map((h) => `${h} = ?`) : []), `${time} >= ?`, `${time} < ?`].join(' AND ');
  const cols = spec.cols.map((c: Col) => c.name);
  const sets = cols.filter((c) => !spec.key.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${tierTable(kind, tier)} (${cols.join(', ')}) SELECT ${sel.join(', ')} FROM ${source} WHERE ${where} GROUP BY ${[...head, b].join(', ')} ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}
