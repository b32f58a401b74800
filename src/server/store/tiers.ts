// The 300 s and 3600 s tiers: how a batch's minutes add to them, and how a bucket is rebuilt.
//
// Exactness under merged minutes and replays. A minute stored for the first time adds to its
// buckets what it holds (gauges: min/max/sum/count of its samples; totals: its value once; its
// mask bit). A minute merged into a stored one (its `parts` > 1 after the upsert) still adds its
// gauges and mask bit — merging only adds samples, so min of mins, max of maxes, sums and OR are
// exact — but its total changed value (x → x + y, or a known x → unknown), which a running
// min/max/count cannot follow; so the buckets of such a minute are rebuilt from the minutes in the
// same transaction. A replayed batch is a duplicate BatchID and adds nothing. Minute retention
// deletes whole hours only and the server accepts no minute older than retention, so every
// minute of a bucket being rebuilt is still there.
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

/** One tier row being built in memory: key values, masks, then [min, max, sum, count] per stat (null = none). */
export interface TierAcc {
  key: Value[];
  lo: number;
  hi: number;
  stats: ([number, number, number, number] | null)[];
}

function addStat(acc: TierAcc, i: number, min: number, max: number, sum: number, count: number): void {
  const s = acc.stats[i];
  if (!s) acc.stats[i] = [min, max, sum, count];
  else {
    if (min < s[0]) s[0] = min;
    if (max > s[1]) s[1] = max;
    s[2] += sum;
    s[3] += count;
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

  constructor(readonly kind: TierKind) {}

  private acc(tier: TierSeconds, keyHead: Value[], bucket: number): TierAcc {
    const id = `${keyHead.join('\u0000')}\u0000${bucket}`;
    const m = this.rows.get(tier)!;
    let a = m.get(id);
    if (!a) {
      a = { key: [...keyHead, bucket], lo: 0, hi: 0, stats: new Array(tierSpec[this.kind].stats.length).fill(null) };
      m.set(id, a);
    }
    return a;
  }

  private each(keyHead: Value[], minute: number, merged: boolean, fn: (a: TierAcc) => void, maskBit: boolean): void {
    for (const tier of TIER_SECONDS) {
      const bucket = Math.floor(minute / tier) * tier;
      const a = this.acc(tier, keyHead, bucket);
      if (maskBit) {
        const k = (minute - bucket) / 60;
        if (k < 30) a.lo |= 1 << k;
        else a.hi |= 1 << (k - 30);
      }
      fn(a);
      if (merged) this.rebuild.get(tier)!.set(`${keyHead.join('\u0000')}\u0000${bucket}`, [...keyHead, bucket]);
    }
  }

  addHost(agentId: string, w: HostWindow, merged: boolean): void {
    const g = HOST_GAUGE_KEYS;
    const t = HOST_TOTAL_KEYS;
    const counts = !merged && hostTotalCounts(w);
    this.each(
      [agentId],
      w.Minute,
      merged,
      (a) => {
        g.forEach((k, i) => addAgg(a, i, w[k]));
        if (counts) t.forEach((k, i) => addStat(a, g.length + i, w[k], w[k], w[k], 1));
      },
      true,
    );
  }

  addInstance(agentId: string, instanceId: string, w: InstanceWindow, merged: boolean): void {
    const g = INSTANCE_GAUGE_KEYS;
    const t = INSTANCE_TOTAL_KEYS;
    const counts = !merged && instanceTotalCounts(w);
    this.each(
      [agentId, instanceId],
      w.Minute,
      merged,
      (a) => {
        g.forEach((k, i) => addAgg(a, i, w[k]));
        if (counts)
          t.forEach((k, i) => {
            const v = w[k];
            if (v !== null) addStat(a, g.length + i, v, v, v, 1);
          });
      },
      w.Samples > 0,
    );
  }

  values(tier: TierSeconds): Value[][] {
    const out: Value[][] = [];
    for (const a of this.rows.get(tier)!.values()) {
      const row: Value[] = [...a.key, a.lo, a.hi];
      for (const s of a.stats) row.push(...(s ?? [null, null, null, null]));
      out.push(row);
    }
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
  const spec = tierSpec[kind];
  const table = tierTable(kind, tier);
  const head = spec.key.filter((k) => k !== 'bucket');
  const b = `(minute / ${tier}) * ${tier}`;
  const k = `((minute - ${b}) / 60)`;
  const sel: string[] = [...head, `${b} AS bucket`];
  sel.push(`SUM(CASE WHEN ${spec.maskWhen} AND ${k} < 30 THEN 1 << CAST(${k} AS INTEGER) ELSE 0 END)`);
  sel.push(`SUM(CASE WHEN ${spec.maskWhen} AND ${k} >= 30 THEN 1 << CAST(${k} - 30 AS INTEGER) ELSE 0 END)`);
  const gauges = kind === 'host' ? Object.values(HOST_TIER_GAUGES) : Object.values(INSTANCE_TIER_GAUGES);
  const totals = kind === 'host' ? Object.values(HOST_TIER_TOTALS) : Object.values(INSTANCE_TIER_TOTALS);
  for (const g of gauges as string[]) {
    const has = `${g}_count > 0`;
    sel.push(`MIN(CASE WHEN ${has} THEN ${g}_min END)`, `MAX(CASE WHEN ${has} THEN ${g}_max END)`, `SUM(CASE WHEN ${has} THEN ${g}_sum END)`, `SUM(CASE WHEN ${has} THEN ${g}_count END)`);
  }
  for (const v of totals as string[]) {
    const x = `CASE WHEN ${spec.contributes} THEN ${v} END`;
    sel.push(`MIN(${x})`, `MAX(${x})`, `SUM(${x})`, `COUNT(${x})`);
  }
  const where = [...(oneKey ? head.map((h) => `${h} = ?`) : []), 'minute >= ?', 'minute < ?'].join(' AND ');
  const cols = spec.cols.map((c: Col) => c.name);
  const sets = cols.filter((c) => !spec.key.includes(c)).map((c) => `${c} = excluded.${c}`);
  return `INSERT INTO ${table} (${cols.join(', ')}) SELECT ${sel.join(', ')} FROM ${spec.minutes} WHERE ${where} GROUP BY ${[...head, b].join(', ')} ON CONFLICT (${spec.key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}
