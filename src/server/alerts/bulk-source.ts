// Set-based alarm data: for one alarm and one tick, ONE query returns the period values of every
// instance the alarm matches, computed by the database from the per-minute tables. It depends
// only on SqlRunner (below), so it does not care how the store holds its connection.
//
// The values are exactly those GetInstanceMetricData (metric-data.ts) returns for the same
// window, instance by instance:
// - the instance set is the store's latest row per instance id (a VM migrated between hosts is
//   stored under both; the row with the greatest last_seen stands for it, on a tie the first in
//   (name, agent_id) order, as listInstances sorts), filtered by the selector in SQL (selector.ts
//   semantics), then by liveness (now − last_seen ≤ evaluationPeriods × period + grace);
// - gauges: over the minutes with Count > 0, min of Min, max of Max, Σ Sum, Σ Count, Average =
//   ΣSum / ΣCount; byte totals: over the sampled minutes with a value, one value per minute;
//   status checks: the minutes first, first + 60, … from max(startTime, first_minute) up to
//   min(endTime, ⌊(now − lag) / 60⌋ × 60 + 60), each failing the system check without a host
//   record and the instance check with a host record but no sampled instance record.
// - Σ is summed in minute order from the first value with plain IEEE additions, as metric-data.ts
//   does in JavaScript: PostgreSQL's sum(float8 ORDER BY minute) is such a sum; SQLite's own
//   sum() is compensated (Kahan–Babuška–Neumaier) and would differ in the last bits, so the SQLite
//   runner registers vmp_fsum, a plain sum, for the same ORDER BY.
// Division, min and max are exact in both engines; the PostgreSQL side packs each instance's
// periods into one text column (float8 text output is the shortest exact form since PostgreSQL 12),
// so a fleet of 100,000 instances costs 100,000 rows rather than one per period.
import type { AlarmDefinition, AlarmMetric, Selector } from './types.js';
import { INSTANCE_AGGS, INSTANCE_TOTALS } from '../store/schema.js';

/** The one thing this module needs from a store: a read-only statement runner. */
export interface SqlRunner {
  readonly engine: 'sqlite' | 'postgres';
  /**
   * Runs one statement with positional parameters (`?` for SQLite, `$n` for PostgreSQL).
   * SQLite rows come back as arrays (column order of the SELECT); PostgreSQL rows as objects.
   */
  all(sql: string, params: unknown[]): Promise<unknown[]>;
}

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
  readonly list: unknown[] = [];
  constructor(private readonly engine: SqlRunner['engine']) {}
  /** A placeholder for v; `pgType` casts it on PostgreSQL, where untyped parameters in expressions fail. */
  add(v: unknown, pgType: 'text' | 'bigint' | 'float8' = 'text'): string {
    this.list.push(v);
    return this.engine === 'sqlite' ? '?' : `$${this.list.length}::${pgType}`;
  }
}

/** Only integers ever reach the SQL text itself (periods, window bounds); anything else is a bug. */
function int(v: number): string {
  if (!Number.isSafeInteger(v)) throw new Error(`not an integer: ${v}`);
  return String(v);
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

function selectorSql(s: Selector, p: Params, engine: SqlRunner['engine']): string {
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
function targetSql(def: AlarmDefinition, p: Params, engine: SqlRunner['engine']): string {
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

/** Where each metric lives in instance_minutes (the definitions of metric-data.ts, as columns). */
type MinuteSource = { kind: 'gauge'; agg: string } | { kind: 'total'; column: string } | { kind: 'status'; check: 'any' | 'instance' | 'system' };
const SOURCES: Record<AlarmMetric, MinuteSource> = {
  CPUUtilization: { kind: 'gauge', agg: INSTANCE_AGGS.CPU },
  MemoryUtilization: { kind: 'gauge', agg: INSTANCE_AGGS.MemoryUtilization },
  CPUStealPercent: { kind: 'gauge', agg: INSTANCE_AGGS.Steal },
  NetworkIn: { kind: 'total', column: INSTANCE_TOTALS.NetIn },
  NetworkOut: { kind: 'total', column: INSTANCE_TOTALS.NetOut },
  DiskReadBytes: { kind: 'total', column: INSTANCE_TOTALS.DiskRead },
  DiskWriteBytes: { kind: 'total', column: INSTANCE_TOTALS.DiskWrite },
  StatusCheckFailed: { kind: 'status', check: 'any' },
  StatusCheckFailed_Instance: { kind: 'status', check: 'instance' },
  StatusCheckFailed_System: { kind: 'status', check: 'system' },
};
type Kind = MinuteSource['kind'];
/** A minute record that counts as sampled (byte totals, the instance status check). */
const SAMPLED = 'm.samples <> 0';

/** The last minute (exclusive) status checks judge: the current window is not shipped yet. */
export function statusLast(w: AlarmWindow): number {
  return Math.min(w.end, Math.floor((w.now - w.lagSeconds) / 60) * 60 + 60);
}

/** Minutes first + 60k (k ≥ 0) inside [a, b). */
function stepsIn(first: number, a: number, b: number): number {
  const lo = Math.max(a, first);
  if (b <= lo) return 0;
  return Math.ceil((b - first) / 60) - Math.ceil((lo - first) / 60);
}

/** The alarm's statistic from the aggregate columns mn, mx, s, c (c an integer count). */
function statExpr(def: AlarmDefinition, engine: SqlRunner['engine']): string {
  switch (def.statistic) {
    case 'Minimum':
      return 'mn';
    case 'Maximum':
      return 'mx';
    case 'Sum':
      return 's';
    case 'SampleCount':
      return 'c';
    case 'Average':
      return engine === 'postgres' ? 's / c::float8' : 's / c';
  }
}

export interface AlarmQuery {
  sql: string;
  params: unknown[];
  kind: Kind;
}

/** The single statement for one alarm and window (exported for tests and EXPLAIN). */
export function alarmQuery(def: AlarmDefinition, w: AlarmWindow, engine: SqlRunner['engine']): AlarmQuery {
  const metric = SOURCES[def.metricName];
  const p = new Params(engine);
  const P = int(def.period);
  const lo = int(w.start);
  const hi = int(w.end);
  const fsum = engine === 'sqlite' ? 'vmp_fsum' : 'sum';
  const greatest = engine === 'sqlite' ? 'max' : 'GREATEST';
  const target = targetSql(def, p, engine);
  const now = p.add(w.now, 'float8');
  const gone = p.add(w.goneAfter, 'float8');
  // Materialized once: both the scan and the output read it. On PostgreSQL k numbers the rows, so
  // that grouping sorts integers rather than text in the database's collation.
  const live = `live AS MATERIALIZED (
  SELECT ${engine === 'postgres' ? 'row_number() OVER () AS k, ' : ''}l.instance_id, l.agent_id, l.name,
         CASE WHEN l.first_minute IS NULL THEN NULL ELSE ${greatest}(${lo}, l.first_minute) END AS f
  FROM latest l LEFT JOIN agents a ON a.agent_id = l.agent_id
  WHERE ${target} AND (${now} - l.last_seen) <= ${gone}
)`;
  // The per-minute rows of the window joined to the live instances, as (join, group key, select list).
  let join: string;
  let aggs: string[];
  let packed: string;
  if (metric.kind === 'status') {
    const last = int(statusLast(w));
    join = `JOIN host_minutes h ON h.agent_id = t.agent_id AND h.minute >= ${lo} AND h.minute >= t.f AND h.minute < ${last} AND (h.minute - t.f) % 60 = 0
  LEFT JOIN instance_minutes m ON m.agent_id = t.agent_id AND m.instance_id = t.instance_id AND m.minute >= ${lo} AND m.minute < ${last} AND m.minute = h.minute AND ${SAMPLED}`;
    aggs = ['h.minute / ' + P + ' AS b', 'count(h.minute) AS hc', 'count(m.minute) AS hs'];
    packed = `b::text || ':' || hc::text || ':' || hs::text`;
  } else {
    const where = metric.kind === 'gauge' ? `m.${metric.agg}_count > 0` : `${SAMPLED} AND m.${metric.column} IS NOT NULL`;
    const [mn, mx, sumCol, cnt] =
      metric.kind === 'gauge'
        ? [`m.${metric.agg}_min`, `m.${metric.agg}_max`, `m.${metric.agg}_sum`, `sum(m.${metric.agg}_count)`]
        : [`m.${metric.column}`, `m.${metric.column}`, `m.${metric.column}`, 'count(m.minute)'];
    const want = def.statistic;
    join = `JOIN instance_minutes m ON m.agent_id = t.agent_id AND m.instance_id = t.instance_id AND m.minute >= ${lo} AND m.minute < ${hi} AND ${where}`;
    aggs = [
      `m.minute / ${P} AS b`,
      want === 'Minimum' ? `min(${mn}) AS mn` : null,
      want === 'Maximum' ? `max(${mx}) AS mx` : null,
      want === 'Sum' || want === 'Average' ? `${fsum}(${sumCol} ORDER BY m.minute) AS s` : null,
      want === 'SampleCount' || want === 'Average' ? `${cnt} AS c` : null,
    ].filter((x): x is string => x !== null);
    packed = `b::text || ':' || (${statExpr(def, engine)})::text`;
  }
  const groupB = metric.kind === 'status' ? `h.minute / ${P}` : `m.minute / ${P}`;
  let sql: string;
  if (engine === 'postgres') {
    sql = `WITH ${LATEST},
${live},
agg AS (
  SELECT t.k, ${aggs.join(', ')}
  FROM live t ${join}
  GROUP BY t.k, ${groupB}
),
per AS (SELECT k, string_agg(${packed}, ',') AS v FROM agg GROUP BY k)
SELECT t.instance_id, t.name, t.agent_id, t.f, p.v FROM live t LEFT JOIN per p ON p.k = t.k`;
  } else {
    // One row per (instance, period with data); an instance without any has one row with b NULL.
    // Driven from live (LEFT JOIN keeps it the outer loop): one primary-key range per instance.
    const vals = metric.kind === 'status' ? 'hc, hs' : statExpr(def, engine);
    sql = `WITH ${LATEST},
${live}
SELECT instance_id, name, agent_id, f, b, ${vals} FROM (
  SELECT t.instance_id, t.name, t.agent_id, t.f, ${aggs.join(', ')}
  FROM live t LEFT ${join}
  GROUP BY t.agent_id, t.instance_id, ${groupB}
)`;
  }
  return { sql, params: p.list, kind: metric.kind };
}

/** The status-check value of one period from its minute count n, host minutes hc and sampled hs. */
function statusValue(def: AlarmDefinition, check: 'any' | 'instance' | 'system', n: number, hc: number, hs: number): number {
  const failed = check === 'system' ? n - hc : check === 'instance' ? hc - hs : n - hs;
  switch (def.statistic) {
    case 'Minimum':
      return failed === n ? 1 : 0;
    case 'Maximum':
      return failed > 0 ? 1 : 0;
    case 'Sum':
      return failed;
    case 'SampleCount':
      return n;
    case 'Average':
      return failed / n;
  }
}

export interface BulkSource {
  /** Every live instance the alarm matches, with its period values. Throws when the store cannot answer. */
  judge(def: AlarmDefinition, w: AlarmWindow): Promise<JudgedInstance[]>;
  /** Which of `ids` the alarm still matches, live or not (to word a resolve). */
  stillMatched(def: AlarmDefinition, ids: readonly string[]): Promise<Set<string>>;
  /** Minute starts (multiples of 60) in [from, to) with a host record from at least one agent. */
  fleetMinutes(from: number, to: number): Promise<Set<number>>;
}

export function bulkSource(runner: SqlRunner): BulkSource {
  const engine = runner.engine;
  return {
    async judge(def, w) {
      const q = alarmQuery(def, w, engine);
      const rows = await runner.all(q.sql, q.params);
      const n = Math.round((w.end - w.start) / def.period);
      const src = SOURCES[def.metricName];
      const check = src.kind === 'status' ? src.check : null;
      const last = statusLast(w);
      const bucket0 = w.start / def.period;
      const out: JudgedInstance[] = [];
      const put = (inst: JudgedInstance, f: number | null, k: number, a: number, b: number | null) => {
        if (k < 0 || k >= n) return;
        let v: number;
        if (check) {
          const from = w.start + k * def.period;
          const minutes = f === null ? 0 : stepsIn(f, from, Math.min(from + def.period, last));
          if (minutes === 0) return;
          v = statusValue(def, check, minutes, a, b!);
        } else v = a;
        if (Number.isFinite(v)) inst.values[k] = v;
      };
      // Status periods with no host record at all still have minutes (all failing the system check).
      const fillStatus = (inst: JudgedInstance, f: number | null, seen: Set<number>) => {
        if (!check || f === null) return;
        for (let k = 0; k < n; k++) if (!seen.has(k)) put(inst, f, k, 0, 0);
      };
      if (engine === 'postgres') {
        for (const r of rows as Record<string, unknown>[]) {
          const inst: JudgedInstance = { instanceId: String(r.instance_id), name: String(r.name), agentId: String(r.agent_id), values: new Array(n).fill(null) };
          const f = r.f === null ? null : Number(r.f);
          const seen = new Set<number>();
          if (typeof r.v === 'string' && r.v !== '') {
            for (const part of r.v.split(',')) {
              const x = part.split(':');
              const k = Number(x[0]) - bucket0;
              seen.add(k);
              put(inst, f, k, Number(x[1]), check ? Number(x[2]) : null);
            }
          }
          fillStatus(inst, f, seen);
          out.push(inst);
        }
      } else {
        // One row per (instance, period with data), or one row with a null period for an instance without.
        let cur: JudgedInstance | null = null;
        let curF: number | null = null;
        let seen = new Set<number>();
        const byId = new Map<string, { inst: JudgedInstance; f: number | null; seen: Set<number> }>();
        for (const r of rows as unknown[][]) {
          const id = String(r[0]);
          if (!cur || cur.instanceId !== id) {
            const had = byId.get(id);
            if (had) {
              cur = had.inst;
              curF = had.f;
              seen = had.seen;
            } else {
              cur = { instanceId: id, name: String(r[1]), agentId: String(r[2]), values: new Array(n).fill(null) };
              curF = r[3] === null ? null : Number(r[3]);
              seen = new Set();
              byId.set(id, { inst: cur, f: curF, seen });
              out.push(cur);
            }
          }
          if (r[4] === null) continue;
          const k = Number(r[4]) - bucket0;
          seen.add(k);
          put(cur, curF, k, Number(r[5]), check ? Number(r[6]) : null);
        }
        if (check) for (const x of byId.values()) fillStatus(x.inst, x.f, x.seen);
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
        const rows = await runner.all(`WITH ${LATEST}
SELECT l.instance_id FROM latest l LEFT JOIN agents a ON a.agent_id = l.agent_id WHERE ${target} AND l.instance_id IN (${list})`, p.list);
        for (const r of rows) out.add(String(Array.isArray(r) ? r[0] : (r as Record<string, unknown>).instance_id));
      }
      return out;
    },

    async fleetMinutes(from, to) {
      const p = new Params(engine);
      const rows = await runner.all(
        `SELECT DISTINCT (minute / 60) * 60 AS m FROM host_minutes WHERE minute >= ${p.add(from, 'bigint')} AND minute < ${p.add(to, 'bigint')}`,
        p.list,
      );
      return new Set(rows.map((r) => Number(Array.isArray(r) ? r[0] : (r as Record<string, unknown>).m)));
    },
  };
}
