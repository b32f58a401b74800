// Set-based alarm data: for one alarm and one tick, ONE query (per tier the window is read from)
// returns the period values of every instance the alarm matches, computed by the database on the
// store's own connection (SqlStore.db; `?` placeholders, numbered by the PostgreSQL side).
//
// The values are those GetInstanceMetricData (metric-data.ts) returns for the same window,
// instance by instance, because this module reads what it reads:
// - the instance set is the store's latest row per instance id (a VM migrated between hosts is
//   stored under both; the row with the greatest last_seen stands for it, on a tie the first in
//   (name, agent_id) order, as listInstances sorts), filtered by the selector in SQL (selector.ts
//   semantics), then by liveness (now − last_seen ≤ evaluationPeriods × period + grace);
// - the same tiers: planPieces picks the minutes, the 300 s or the 3600 s tier exactly as for
//   GetInstanceMetricData (a 300 s period is read from 300 s tier rows, one row per instance and
//   period instead of five minutes);
// - the same per-bucket SQL as the store's statRows (min of mins, max of maxes, SUM of sums and
//   counts; byte totals of minutes that count by the store's rule, tierSpec.instance.contributes),
//   grouped additionally by instance, combined across pieces with metric-data's addTo;
// - status checks from the same minute masks as maskRows, judged by metric-data's statusOf, with
//   the same grace: the ingest lag plus the agent's window delay (agent-windows.ts).
// SUM in a GROUP BY adds in the order the engine feeds the rows, which the two statements need not
// share, so a Sum or an Average may differ from GetInstanceMetricData's in the last bits.
// The PostgreSQL side packs each instance's periods into one text column (float8 text output is
// the shortest exact form since PostgreSQL 12), so a fleet of 100,000 instances costs 100,000 rows
// rather than one per period. Every statement text is fixed per alarm shape and tier (bounds are
// parameters), so both engines' statement caches stay small.
import type { AlarmDefinition, Selector } from './types.js';
import { agentWindowDelay } from '../agent-windows.js';
import { METRICS, addTo, planPieces, statusOf, type Acc, type Piece } from '../metric-data.js';
import { tierTable } from '../store/schema.js';
import type { SqlDb, Value } from '../store/sql.js';
import type { SqlStore } from '../store/sql-store.js';
import type { Tier } from '../store/store.js';
import { tierSpec } from '../store/tiers.js';

type Engine = SqlDb['dialect']['kind'];
type MetricSpec = (typeof METRICS)[keyof typeof METRICS];

/** What this module reads: the SQL store's connection (store.db), its tier retention, and the agents' windows. */
export type BulkStore = SqlStore;

export interface AlarmWindow {
  /** Unix seconds; [start, end) is a whole number of periods, aligned to the period. */
  start: number;
  end: number;
  /** Evaluation time (unix seconds, may be fractional) and the ingest lag. */
  now: number;
  lagSeconds: number;
  /** Seconds after its last batch an instance is still judged (evaluationPeriods × period + grace). */
  goneAfter: number;
}

export interface JudgedInstance {
  instanceId: string;
  name: string;
  agentId: string;
  /** One value per period, oldest first (index k ↔ start + k × period); null = missing. */
  values: (number | null)[];
}

class Params {
  readonly list: Value[] = [];
  constructor(private readonly engine: Engine) {}
  /**
   * A placeholder for v. PostgreSQL casts it (untyped parameters in expressions fail); SQLite casts
   * integers, which better-sqlite3 binds as REAL otherwise (and `minute / ?` would not truncate).
   */
  add(v: Value, type: 'text' | 'bigint' | 'float8' = 'text'): string {
    this.list.push(v);
    if (this.engine === 'postgres') return `?::${type}`;
    return type === 'bigint' ? 'CAST(? AS BIGINT)' : '?';
  }
}

/** `*` any run, `?` one character, everything else literal (selector.ts), as SQLite GLOB. */
export function globToSqliteGlob(glob: string): string {
  // GLOB's only other special character is `[` (a class); `[[]` is a literal `[`.
  return glob.replace(/\[/g, '[[]');
}

/** The same glob as a PostgreSQL LIKE pattern with `\` as the escape character. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, '\\$&').replace(/\*/g, '%').replace(/\?/g, '_');
}

function selectorSql(s: Selector, p: Params, engine: Engine): string {
  const parts: string[] = [];
  if (s.host !== undefined) {
    const h = p.add(s.host);
    const h2 = p.add(s.host);
    parts.push(`(l.agent_id = ${h} OR COALESCE(a.hostname, '') = ${h2})`);
  }
  if (s.hypervisor !== undefined) parts.push(`l.hypervisor = ${p.add(s.hypervisor)}`);
  if (s.instanceName !== undefined) {
    parts.push(engine === 'sqlite' ? `l.name GLOB ${p.add(globToSqliteGlob(s.instanceName))}` : `l.name LIKE ${p.add(globToLike(s.instanceName))} ESCAPE '\\'`);
  }
  return parts.length ? parts.join(' AND ') : 'TRUE';
}

/** The alarm's target condition over `latest l LEFT JOIN agents a` (selectTargets in selector.ts). */
function targetSql(def: AlarmDefinition, p: Params, engine: Engine): string {
  if (def.monitoredResourceName !== null) {
    // By id first; only when no instance has that id, by name (all instances of that name).
    const r = def.monitoredResourceName;
    return `(l.instance_id = ${p.add(r)} OR (l.name = ${p.add(r)} AND NOT EXISTS (SELECT 1 FROM instances x WHERE x.instance_id = ${p.add(r)})))`;
  }
  if (!def.selector) return 'FALSE';
  return selectorSql(def.selector, p, engine);
}

/** One row per instance id: the latest-seen (see the header). */
const LATEST = `latest AS (
  SELECT i.instance_id, i.agent_id, i.name, i.hypervisor, i.last_seen, i.first_minute
  FROM instances i
  WHERE NOT EXISTS (
    SELECT 1 FROM instances j
    WHERE j.instance_id = i.instance_id AND j.agent_id <> i.agent_id
      AND (j.last_seen > i.last_seen OR (j.last_seen = i.last_seen AND (j.name < i.name OR (j.name = i.name AND j.agent_id < i.agent_id))))
  )
)`;

type Kind = 'gauge' | 'total' | 'status';

/** The last minute (exclusive) status checks judge for an agent: the current window is not shipped yet. */
export function statusLast(w: AlarmWindow, delay = 0): number {
  return Math.min(w.end, Math.floor((w.now - w.lagSeconds - delay) / 60) * 60 + 60);
}

const tableOf = (tier: Tier, kind: 'host' | 'instance'): { table: string; time: string } =>
  tier === 60 ? { table: tierSpec[kind].minutes, time: 'minute' } : { table: tierTable(kind, tier), time: 'bucket' };

export interface AlarmQuery {
  sql: string;
  params: Value[];
  kind: Kind;
}

/** The statement for one alarm, one piece of its window (one tier) (exported for tests and EXPLAIN). */
export function alarmQuery(def: AlarmDefinition, w: AlarmWindow, piece: Piece, engine: Engine): AlarmQuery {
  const metric: MetricSpec = METRICS[def.metricName];
  const p = new Params(engine);
  const target = targetSql(def, p, engine);
  const now = p.add(w.now, 'float8');
  const gone = p.add(w.goneAfter, 'float8');
  // Materialized once: both the scan and the output read it. On PostgreSQL k numbers the rows, so
  // that grouping sorts integers rather than text in the database's collation.
  const live = `live AS MATERIALIZED (
  SELECT ${engine === 'postgres' ? 'row_number() OVER () AS k, ' : ''}l.instance_id, l.agent_id, l.name, l.first_minute AS f
  FROM latest l LEFT JOIN agents a ON a.agent_id = l.agent_id
  WHERE ${target} AND (${now} - l.last_seen) <= ${gone}
)`;
  const inst = tableOf(piece.tier, 'instance');
  let join: string;
  let cols: string[];
  let groupB: string;
  if (metric.kind === 'status') {
    const host = tableOf(piece.tier, 'host');
    const from = p.add(piece.from, 'bigint');
    const to = p.add(Math.min(piece.to, statusLast(w)), 'bigint');
    // Host masks of the instance's agent, and the instance's own (sampled minutes) beside them.
    join = `JOIN ${host.table} h ON h.agent_id = t.agent_id AND h.${host.time} >= ${from} AND h.${host.time} < ${to}
  LEFT JOIN ${inst.table} m ON m.agent_id = t.agent_id AND m.instance_id = t.instance_id AND m.${inst.time} = h.${host.time}${piece.tier === 60 ? ' AND m.samples > 0' : ''}`;
    cols =
      piece.tier === 60
        ? [`h.minute AS b`, `1 AS hl`, `0 AS hh`, `CASE WHEN m.minute IS NULL THEN 0 ELSE 1 END AS vl`, `0 AS vh`]
        : [`h.bucket AS b`, `h.mask_lo AS hl`, `h.mask_hi AS hh`, `COALESCE(m.mask_lo, 0) AS vl`, `COALESCE(m.mask_hi, 0) AS vh`];
    groupB = '';
  } else {
    const stat = metric.stat;
    const P = p.add(def.period, 'bigint');
    const from = p.add(piece.from, 'bigint');
    const to = p.add(piece.to, 'bigint');
    // statRows' statement, grouped by instance too.
    const minuteTotals = piece.tier === 60 && metric.kind === 'total';
    const where = minuteTotals ? `${tierSpec.instance.contributes} AND m.${stat} IS NOT NULL` : `m.${stat}_count > 0`;
    join = `JOIN ${inst.table} m ON m.agent_id = t.agent_id AND m.instance_id = t.instance_id AND m.${inst.time} >= ${from} AND m.${inst.time} < ${to} AND ${where}`;
    cols = minuteTotals
      ? [`m.${inst.time} / ${P} AS b`, `MIN(m.${stat}) AS mn`, `MAX(m.${stat}) AS mx`, `SUM(m.${stat}) AS s`, `COUNT(*) AS c`]
      : [`m.${inst.time} / ${P} AS b`, `MIN(m.${stat}_min) AS mn`, `MAX(m.${stat}_max) AS mx`, `SUM(m.${stat}_sum) AS s`, `SUM(m.${stat}_count) AS c`];
    groupB = 'b';
  }
  const names = metric.kind === 'status' ? ['b', 'hl', 'hh', 'vl', 'vh'] : ['b', 'mn', 'mx', 's', 'c'];
  let sql: string;
  if (engine === 'postgres') {
    const packed = names.map((n) => `${n}::text`).join(` || ':' || `);
    const inner =
      metric.kind === 'status'
        ? `SELECT t.k, ${cols.join(', ')} FROM live t ${join}`
        : `SELECT t.k, ${cols.join(', ')} FROM live t ${join} GROUP BY t.k, ${groupB}`;
    sql = `WITH ${LATEST},
${live},
agg AS (${inner}),
per AS (SELECT k, string_agg(${packed}, ',') AS v FROM agg GROUP BY k)
SELECT t.instance_id, t.name, t.agent_id, t.f, p.v FROM live t LEFT JOIN per p ON p.k = t.k`;
  } else {
    // One row per (instance, period or bucket with data); an instance without any has one row with
    // b NULL. Driven from live (LEFT JOIN keeps it the outer loop): one primary-key range per instance.
    const inner =
      metric.kind === 'status'
        ? `SELECT t.instance_id, t.name, t.agent_id, t.f, ${cols.join(', ')} FROM live t LEFT ${join}`
        : `SELECT t.instance_id, t.name, t.agent_id, t.f, ${cols.join(', ')} FROM live t LEFT ${join} GROUP BY t.agent_id, t.instance_id, ${groupB}`;
    sql = `WITH ${LATEST},
${live}
${inner}`;
  }
  return { sql, params: p.list, kind: metric.kind };
}

/** The alarm's statistic of one period, as GetInstanceMetricData computes it. */
function statOf(def: AlarmDefinition, a: Acc): number {
  switch (def.statistic) {
    case 'Minimum':
      return a.min;
    case 'Maximum':
      return a.max;
    case 'Sum':
      return a.sum;
    case 'SampleCount':
      return a.count;
    case 'Average':
      return a.sum / a.count;
  }
}

interface Seen {
  inst: JudgedInstance;
  f: number | null;
  /** Non-status: period start → accumulated statistics. Status: tier bucket → [host lo, hi, vm lo, hi] of this piece. */
  acc: Map<number, Acc>;
  masks: Map<number, number[]>;
}

export interface BulkSource {
  /** Every live instance the alarm matches, with its period values. Throws when the store cannot answer. */
  judge(def: AlarmDefinition, w: AlarmWindow): Promise<JudgedInstance[]>;
  /** Which of `ids` the alarm still matches, live or not (to word a resolve). */
  stillMatched(def: AlarmDefinition, ids: readonly string[]): Promise<Set<string>>;
  /** Minute starts (multiples of 60) in [from, to) with a host record from at least one agent. */
  fleetMinutes(from: number, to: number): Promise<Set<number>>;
}

export function bulkSource(store: BulkStore): BulkSource {
  const db = store.db;
  const engine = db.dialect.kind;
  /** Rows of one piece as [instance_id, name, agent_id, f, packed or null] (PostgreSQL) or one per bucket (SQLite). */
  async function read(def: AlarmDefinition, w: AlarmWindow, piece: Piece, byId: Map<string, Seen>, out: JudgedInstance[], n: number): Promise<void> {
    const q = alarmQuery(def, w, piece, engine);
    const rows = await db.all(q.sql, q.params);
    const entry = (r: Record<string, unknown>): Seen => {
      const id = String(r.instance_id);
      let e = byId.get(id);
      if (!e) {
        e = { inst: { instanceId: id, name: String(r.name), agentId: String(r.agent_id), values: new Array(n).fill(null) }, f: r.f === null || r.f === undefined ? null : Number(r.f), acc: new Map(), masks: new Map() };
        byId.set(id, e);
        out.push(e.inst);
      }
      return e;
    };
    const take = (e: Seen, x: number[]) => {
      if (q.kind === 'status') e.masks.set(x[0]!, [x[1]!, x[2]!, x[3]!, x[4]!]);
      else addTo(e.acc, x[0]! * def.period, x[1]!, x[2]!, x[3]!, x[4]!);
    };
    if (engine === 'postgres') {
      for (const r of rows) {
        const e = entry(r);
        if (typeof r.v === 'string' && r.v !== '') for (const part of r.v.split(',')) take(e, part.split(':').map(Number));
      }
    } else {
      for (const r of rows) {
        const e = entry(r);
        if (r.b === null || r.b === undefined) continue;
        take(e, q.kind === 'status' ? [Number(r.b), Number(r.hl), Number(r.hh), Number(r.vl), Number(r.vh)] : [Number(r.b), Number(r.mn), Number(r.mx), Number(r.s), Number(r.c)]);
      }
    }
  }

  /** statusBuckets (metric-data.ts) for one instance and piece, from the masks read. */
  function statusPiece(def: AlarmDefinition, w: AlarmWindow, piece: Piece, e: Seen): void {
    if (e.f === null) return;
    const check = (METRICS[def.metricName] as { check: 'any' | 'instance' | 'system' }).check;
    const first = Math.max(w.start, e.f);
    const last = statusLast(w, agentWindowDelay(store, e.inst.agentId));
    if (first >= last) return;
    const from = Math.max(piece.from, Math.floor(first / piece.tier) * piece.tier);
    const to = Math.min(piece.to, last);
    if (from >= to) return;
    const lo = Math.max(first, piece.from);
    const hi = Math.min(last, piece.to);
    for (let t = Math.floor(from / piece.tier) * piece.tier; t < to; t += piece.tier) {
      const m = e.masks.get(t);
      const c = statusOf(t, piece.tier, m ? { t, lo: m[0]!, hi: m[1]! } : undefined, m ? { t, lo: m[2]!, hi: m[3]! } : undefined, lo, hi);
      if (c.minutes === 0) continue;
      const failed = check === 'system' ? c.system : check === 'instance' ? c.instance : c.any;
      addTo(e.acc, Math.floor(t / def.period) * def.period, failed === c.minutes ? 1 : 0, failed > 0 ? 1 : 0, failed, c.minutes);
    }
    e.masks.clear();
  }

  return {
    async judge(def, w) {
      const n = Math.round((w.end - w.start) / def.period);
      const pieces = planPieces(w.start, w.end, def.period, w.now, store.retentionDays);
      const status = METRICS[def.metricName].kind === 'status';
      const byId = new Map<string, Seen>();
      const out: JudgedInstance[] = [];
      // Pieces in time order, as metric-data adds them. Every piece's query returns every live
      // instance; a window with no piece (nothing retained) still lists them.
      const list = pieces.length ? pieces : [{ tier: 60 as Tier, from: w.start, to: w.start }];
      for (const piece of list) {
        await read(def, w, piece, byId, out, n);
        if (status) for (const e of byId.values()) statusPiece(def, w, piece, e);
      }
      for (const e of byId.values()) {
        for (let k = 0; k < n; k++) {
          const a = e.acc.get(w.start + k * def.period);
          if (!a) continue;
          const v = statOf(def, a);
          if (Number.isFinite(v)) e.inst.values[k] = v;
        }
      }
      return out;
    },

    async stillMatched(def, ids) {
      const out = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const p = new Params(engine);
        const target = targetSql(def, p, engine);
        const part = ids.slice(i, i + 500);
        const list = part.map((id) => p.add(id)).join(', ');
        const rows = await db.all(`WITH ${LATEST}
SELECT l.instance_id FROM latest l LEFT JOIN agents a ON a.agent_id = l.agent_id WHERE ${target} AND l.instance_id IN (${list})`, p.list);
        for (const r of rows) out.add(String(r.instance_id));
      }
      return out;
    },

    async fleetMinutes(from, to) {
      const p = new Params(engine);
      const rows = await db.all(`SELECT DISTINCT (minute / 60) * 60 AS m FROM host_minutes WHERE minute >= ${p.add(from, 'bigint')} AND minute < ${p.add(to, 'bigint')}`, p.list);
      return new Set(rows.map((r) => Number(r.m)));
    },
  };
}
