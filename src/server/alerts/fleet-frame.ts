// One read of the fleet per evaluation tick, shared by every alarm judged in it (bulk-source.ts
// computes each alarm's period values from it):
// - the instance set: every instance row seen within the longest alarm range + grace, with one
//   0/1 column per distinct alarm target (selector or monitoredResourceName, computed by the
//   database: selector.ts semantics, the SQL of targets.ts), reduced here to the latest row per
//   instance id (the greatest last_seen; on a tie the first in listInstances order);
// - per tier the alarms read (planPieces: 60 s minutes, 300 s or 3600 s rows), ONE time-range scan
//   of the instance table over the union of their ranges, returning only the columns those alarms
//   need, as arrays of numbers keyed by a compact instance key (SQLite: the instances rowid;
//   PostgreSQL: a text key of agent and instance id); rows of instances not in the set are dropped;
// - for status-check alarms, the hosts' minute records (or tier masks) over the same range.
// All statements of a tick run through SqlDb.arrays: back to back on SQLite's one connection
// (nothing commits between them, so rowids keep their meaning), concurrently on PostgreSQL's pool.
// Statement texts depend only on the set of tiers, columns and targets, never on the bounds.
import type { Piece } from '../metric-data.js';
import { METRICS } from '../metric-catalogue.js';
import { tierTable } from '../store/schema.js';
import { tierSpec } from '../store/tiers.js';
import type { SqlDb, Value } from '../store/sql.js';
import type { Tier } from '../store/store.js';
import { Params, targetKey, targetSql } from './targets.js';
import type { AlarmDefinition } from './types.js';

type Engine = SqlDb['dialect']['kind'];

/** One alarm's part of a tick: its definition, evaluation time, range and tier pieces. */
export interface FrameJob {
  def: AlarmDefinition;
  now: number;
  goneAfter: number;
  pieces: readonly Piece[];
}

/** The rows one tier scan returned, grouped by instance (index into FleetFrame.ids). */
export interface TierFrame {
  tier: Tier;
  /** Column index of each column in a row (row[0] is the key, row[1] the minute or bucket). */
  col: Map<string, number>;
  rows: unknown[][];
  /** Instance i's rows, in the order read: rows[first[i]], rows[next[that]], ... until −1. */
  first: Int32Array;
  next: Int32Array;
  /** Host records per agent: minute or bucket → [mask_lo, mask_hi] (minutes: [1, 0]). Status alarms only. */
  hosts: Map<string, Map<number, [number, number]>>;
}

export interface FleetFrame {
  /** The live instances, one per instance id. */
  ids: string[];
  agents: string[];
  names: string[];
  lastSeen: number[];
  /** first_minute, NaN when unknown. */
  first: number[];
  /** Per alarm target (targetKey): 0/1 per instance. */
  matches: Map<string, Uint8Array>;
  tiers: Map<Tier, TierFrame>;
}

export type Part = 'min' | 'max' | 'sum' | 'count';

/** The parts of a stored statistic an alarm's statistic is computed from. */
export function partsOf(def: AlarmDefinition): Part[] {
  switch (def.statistic) {
    case 'Minimum':
      return ['min'];
    case 'Maximum':
      return ['max'];
    case 'Sum':
      return ['sum'];
    case 'SampleCount':
      return ['count'];
    case 'Average':
      return ['sum', 'count'];
  }
}

/** What one tier scan reads, and over which range. */
interface TierPlan {
  tier: Tier;
  from: number;
  to: number;
  /** Stored statistic → its parts read (minute totals: one value, the part `sum`). */
  stats: Map<string, { kind: 'gauge' | 'total'; parts: Set<Part> }>;
  status: boolean;
}

function plan(jobs: readonly FrameJob[]): Map<Tier, TierPlan> {
  const out = new Map<Tier, TierPlan>();
  for (const j of jobs) {
    const m = METRICS[j.def.metricName];
    for (const p of j.pieces) {
      let t = out.get(p.tier);
      if (!t) out.set(p.tier, (t = { tier: p.tier, from: p.from, to: p.to, stats: new Map(), status: false }));
      t.from = Math.min(t.from, p.from);
      t.to = Math.max(t.to, p.to);
      if (m.kind === 'status') {
        t.status = true;
        continue;
      }
      let st = t.stats.get(m.stat);
      if (!st) t.stats.set(m.stat, (st = { kind: m.kind, parts: new Set() }));
      for (const part of partsOf(j.def)) st.parts.add(part);
    }
  }
  return out;
}

/** SQLite keys rows by the instances rowid, PostgreSQL by a text key no two (agent, instance) pairs share. */
const keyOf = (engine: Engine, alias: string) =>
  engine === 'sqlite' ? `${alias}.rowid` : `length(${alias}.agent_id)::text || ':' || ${alias}.agent_id || ${alias}.instance_id`;

/**
 * Column names in TierFrame.col: `vm` (minutes: 1 when sampled) or `vm_lo`/`vm_hi` (tier masks),
 * and `<stat>.<part>`, NULL where the row does not count for that statistic (the store's statRows
 * rules: a gauge or tier row with count > 0; a minute total that is known and counts, by
 * tierSpec.instance.contributes), so that only values that count cross the wire.
 */
function tierQuery(engine: Engine, t: TierPlan): { sql: string; params: Value[]; col: Map<string, number> } {
  const p = new Params(engine);
  const minutes = t.tier === 60;
  const time = minutes ? 'minute' : 'bucket';
  const cols: [string, string][] = [];
  if (t.status) {
    if (minutes) cols.push(['vm', 'CASE WHEN m.samples > 0 THEN 1 ELSE 0 END']);
    else cols.push(['vm_lo', 'm.mask_lo'], ['vm_hi', 'm.mask_hi']);
  }
  for (const [stat, st] of [...t.stats].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    if (minutes && st.kind === 'total') {
      cols.push([`${stat}.sum`, `CASE WHEN ${tierSpec.instance.contributes.replace(/\b(samples|unsampled)\b/g, 'm.$1')} THEN m.${stat} END`]);
      continue;
    }
    for (const part of ['min', 'max', 'sum', 'count'] as const) if (st.parts.has(part)) cols.push([`${stat}.${part}`, `CASE WHEN m.${stat}_count > 0 THEN m.${stat}_${part} END`]);
  }
  const table = t.tier === 60 ? 'instance_minutes' : tierTable('instance', t.tier);
  const from = p.add(t.from, 'bigint');
  const to = p.add(t.to, 'bigint');
  const sel = cols.map((c) => `, ${c[1]}`).join('');
  // SQLite: the time-range index drives (CROSS JOIN keeps it the outer loop); each row finds its
  // instance's rowid through the instances primary key.
  const sql =
    engine === 'sqlite'
      ? `SELECT i.rowid, m.${time}${sel} FROM ${table} m CROSS JOIN instances i ON i.agent_id = m.agent_id AND i.instance_id = m.instance_id WHERE m.${time} >= ${from} AND m.${time} < ${to}`
      : `SELECT ${keyOf(engine, 'm')}, m.${time}${sel} FROM ${table} m WHERE m.${time} >= ${from} AND m.${time} < ${to}`;
  return { sql, params: p.list, col: new Map(cols.map((c, i) => [c[0], i + 2])) };
}

function hostQuery(engine: Engine, t: TierPlan): { sql: string; params: Value[] } {
  const p = new Params(engine);
  const from = p.add(t.from, 'bigint');
  const to = p.add(t.to, 'bigint');
  const tier = t.tier;
  const sql =
    tier === 60
      ? `SELECT agent_id, minute, 1, 0 FROM host_minutes WHERE minute >= ${from} AND minute < ${to}`
      : `SELECT agent_id, bucket, mask_lo, mask_hi FROM ${tierTable('host', tier)} WHERE bucket >= ${from} AND bucket < ${to}`;
  return { sql, params: p.list };
}

/** Reads the fleet for one tick of `jobs`. Throws when the store cannot answer. */
export async function readFleet(db: SqlDb, jobs: readonly FrameJob[]): Promise<FleetFrame> {
  const engine = db.dialect.kind;
  const targets = new Map<string, AlarmDefinition>();
  for (const j of jobs) {
    const k = targetKey(j.def);
    if (!targets.has(k)) targets.set(k, j.def);
  }
  const p = new Params(engine);
  const flags = [...targets.values()].map((d) => `CASE WHEN ${targetSql(d, p, engine)} THEN 1 ELSE 0 END`);
  const now = p.add(jobs.length ? jobs[0]!.now : 0, 'float8');
  const gone = p.add(Math.max(0, ...jobs.map((j) => j.goneAfter)), 'float8');
  const ident = {
    sql: `SELECT ${keyOf(engine, 'l')}, l.instance_id, l.agent_id, l.name, l.last_seen, l.first_minute${flags.map((f) => `, ${f}`).join('')}
FROM instances l LEFT JOIN agents a ON a.agent_id = l.agent_id WHERE (${now} - l.last_seen) <= ${gone}`,
    params: p.list,
  };
  const plans = [...plan(jobs).values()];
  const tq = plans.map((t) => tierQuery(engine, t));
  const statusPlans = plans.filter((t) => t.status);
  const res = await db.arrays([ident, ...tq, ...statusPlans.map((t) => hostQuery(engine, t))]);

  // The latest row per instance id; ties go to the first in listInstances order (name, agent_id).
  const idRows = res[0]!;
  const best = new Map<string, unknown[]>();
  let tied: Set<string> | null = null;
  for (const r of idRows) {
    const id = r[1] as string;
    const had = best.get(id);
    if (!had) best.set(id, r);
    else if (Number(r[4]) > Number(had[4])) best.set(id, r);
    else if (Number(r[4]) === Number(had[4])) (tied ??= new Set()).add(id);
  }
  if (tied) {
    // Rare (one VM reported by two hosts in the same second): the database's own order decides,
    // as it does for listInstances.
    const q = new Params(engine);
    const list = [...tied].map((id) => q.add(id)).join(', ');
    const [order] = await db.arrays([{ sql: `SELECT ${keyOf(engine, 'l')}, l.instance_id FROM instances l WHERE l.instance_id IN (${list}) ORDER BY l.name, l.instance_id, l.agent_id`, params: q.list }]);
    const byKey = new Map(idRows.map((r) => [r[0], r]));
    const top = new Map<string, number>();
    for (const r of idRows) if (tied.has(r[1] as string)) top.set(r[1] as string, Math.max(top.get(r[1] as string) ?? -Infinity, Number(r[4])));
    const done = new Set<string>();
    for (const [key, id] of order! as [unknown, string][]) {
      const r = byKey.get(key);
      if (!r || done.has(id) || Number(r[4]) !== top.get(id)) continue;
      best.set(id, r);
      done.add(id);
    }
  }

  const n = best.size;
  const f: FleetFrame = { ids: [], agents: [], names: [], lastSeen: [], first: [], matches: new Map(), tiers: new Map() };
  const flagArrays = [...targets.keys()].map((k) => {
    const a = new Uint8Array(n);
    f.matches.set(k, a);
    return a;
  });
  const index = new Map<unknown, number>();
  let i = 0;
  for (const r of best.values()) {
    index.set(r[0], i);
    f.ids.push(r[1] as string);
    f.agents.push(r[2] as string);
    f.names.push(r[3] as string);
    f.lastSeen.push(Number(r[4]));
    f.first.push(r[5] === null || r[5] === undefined ? NaN : Number(r[5]));
    for (let k = 0; k < flagArrays.length; k++) flagArrays[k]![i] = Number(r[6 + k]) === 1 ? 1 : 0;
    i++;
  }
  plans.forEach((t, k) => {
    // Linked lists in typed arrays rather than an array per instance: less garbage per tick.
    const rows = res[1 + k]!;
    const first = new Int32Array(n).fill(-1);
    const last = new Int32Array(n).fill(-1);
    const next = new Int32Array(rows.length).fill(-1);
    for (let x = 0; x < rows.length; x++) {
      const at = index.get(rows[x]![0]);
      if (at === undefined) continue;
      if (last[at] === -1) first[at] = x;
      else next[last[at]!] = x;
      last[at] = x;
    }
    f.tiers.set(t.tier, { tier: t.tier, col: tq[k]!.col, rows, first, next, hosts: new Map() });
  });
  statusPlans.forEach((t, k) => {
    const hosts = f.tiers.get(t.tier)!.hosts;
    for (const r of res[1 + plans.length + k]!) {
      const agent = r[0] as string;
      let m = hosts.get(agent);
      if (!m) hosts.set(agent, (m = new Map()));
      m.set(Number(r[1]), [Number(r[2]), Number(r[3])]);
    }
  });
  return f;
}
