// Set-based alarm data: for one tick, ONE read of the fleet (fleet-frame.ts: the instance set with
// each alarm target's matches, one scan per tier of the union of the alarms' ranges) serves every
// alarm; each alarm's period values are then computed here, instance by instance, from the rows
// of its instances, without a query of its own.
//
// The values are those GetInstanceMetricData (metric-data.ts) returns for the same window,
// instance by instance, because this module reads what it reads:
// - the instance set is the store's latest row per instance id (a VM migrated between hosts is
//   stored under both; the row with the greatest last_seen stands for it, on a tie the first in
//   (name, agent_id) order, as listInstances sorts), matched by the alarm's target in SQL
//   (targets.ts, selector.ts semantics), then by liveness (now − last_seen ≤ evaluationPeriods ×
//   period + grace);
// - the same tiers: planPieces picks the minutes, the 300 s or the 3600 s tier exactly as for
//   GetInstanceMetricData (a 300 s period is read from 300 s tier rows, one row per instance and
//   period instead of five minutes);
// - the same per-bucket rules as the store's statRows (min of mins, max of maxes, sums of sums and
//   counts of the rows whose count is positive; byte totals of minutes that count by the store's
//   rule, tierSpec.instance.contributes), added per period with metric-data's rules;
// - status checks from the same minute masks as maskRows, judged by metric-data's statusOf, with
//   the same grace: the ingest lag plus the agent's window delay (agent-windows.ts).
// Sums are added here in time order; the store's SUM adds in the order its engine feeds the rows,
// so a Sum or an Average may differ from GetInstanceMetricData's in the last bits.
import type { AlarmDefinition } from './types.js';
import { agentWindowDelay } from '../agent-windows.js';
import { planPieces, statusOf, type Piece } from '../metric-data.js';
import { METRICS } from '../metric-catalogue.js';
import type { SqlStore } from '../store/sql-store.js';
import type { MaskRow, Tier } from '../store/store.js';
import { partsOf, readFleet, type FleetFrame, type FrameJob } from './fleet-frame.js';
import { LATEST, Params, targetKey, targetSql } from './targets.js';

export { globToLike, globToSqliteGlob } from './targets.js';

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

/** Every judged instance of one alarm, column-wise: no object per instance. */
export interface Judged {
  /** Periods per instance (the alarm's evaluationPeriods). */
  n: number;
  ids: string[];
  names: string[];
  agents: string[];
  /** ids.length × n values, instance i's at [i × n, (i + 1) × n), oldest first; NaN = missing. */
  values: Float64Array;
  /**
   * Where each instance stood in the tick's instance list (usually the same place from tick to
   * tick: the evaluator finds its state there before asking a map).
   */
  pos: Int32Array;
}

export interface AlarmJob {
  def: AlarmDefinition;
  w: AlarmWindow;
}

export interface BulkSource {
  /** Every live instance each alarm matches, with its period values (in `jobs` order). Throws when the store cannot answer. */
  judgeAll(jobs: readonly AlarmJob[]): Promise<Judged[]>;
  /** One alarm's judged instances as objects (tests). */
  judge(def: AlarmDefinition, w: AlarmWindow): Promise<JudgedInstance[]>;
  /** Which of `ids` the alarm still matches, live or not (to word a resolve). */
  stillMatched(def: AlarmDefinition, ids: readonly string[]): Promise<Set<string>>;
  /** Minute starts (multiples of 60) in [from, to) with a host record from at least one agent. */
  fleetMinutes(from: number, to: number): Promise<Set<number>>;
}

/** One alarm's result as objects (tests, and the per-instance source's native form). */
export function toInstances(j: Judged): JudgedInstance[] {
  return j.ids.map((instanceId, i) => ({
    instanceId,
    name: j.names[i]!,
    agentId: j.agents[i]!,
    values: Array.from(j.values.subarray(i * j.n, (i + 1) * j.n), (v) => (Number.isFinite(v) ? v : null)),
  }));
}

export function fromInstances(list: readonly JudgedInstance[], n: number): Judged {
  const values = new Float64Array(list.length * n).fill(NaN);
  list.forEach((x, i) => x.values.forEach((v, k) => v !== null && k < n && (values[i * n + k] = v)));
  return { n, ids: list.map((x) => x.instanceId), names: list.map((x) => x.name), agents: list.map((x) => x.agentId), values, pos: Int32Array.from(list, (_, i) => i) };
}

/** Period accumulators of one instance, reused across instances and alarms. */
class Acc {
  mn = new Float64Array(0);
  mx = new Float64Array(0);
  s = new Float64Array(0);
  c = new Float64Array(0);
  reset(n: number): void {
    if (this.c.length < n) {
      this.mn = new Float64Array(n);
      this.mx = new Float64Array(n);
      this.s = new Float64Array(n);
      this.c = new Float64Array(n);
    }
    this.c.fill(0, 0, n);
  }
  /** metric-data's addTo; c = 0 marks a period without data (every added part has count > 0). */
  add(k: number, min: number, max: number, sum: number, count: number, has: boolean): void {
    if (!has) {
      this.mn[k] = min;
      this.mx[k] = max;
      this.s[k] = sum;
      this.c[k] = count;
      return;
    }
    if (min < this.mn[k]!) this.mn[k] = min;
    if (max > this.mx[k]!) this.mx[k] = max;
    this.s[k] += sum;
    this.c[k] += count;
  }
}

/** Status parts have count = minutes judged ≥ 1; a period with data is one whose c > 0. */
function statOf(def: AlarmDefinition, a: Acc, k: number): number {
  switch (def.statistic) {
    case 'Minimum':
      return a.mn[k]!;
    case 'Maximum':
      return a.mx[k]!;
    case 'Sum':
      return a.s[k]!;
    case 'SampleCount':
      return a.c[k]!;
    case 'Average':
      return a.s[k]! / a.c[k]!;
  }
}

export function bulkSource(store: BulkStore): BulkSource {
  const db = store.db;
  const engine = db.dialect.kind;
  const acc = new Acc();
  const hostMask: MaskRow = { t: 0, lo: 0, hi: 0 };
  const vmMask: MaskRow = { t: 0, lo: 0, hi: 0 };

  /** One alarm's values from the frame. */
  function judgeFrom(f: FleetFrame, def: AlarmDefinition, w: AlarmWindow, pieces: readonly Piece[]): Judged {
    const n = Math.round((w.end - w.start) / def.period);
    const P = def.period;
    const first0 = w.start / P;
    const metric = METRICS[def.metricName];
    const match = f.matches.get(targetKey(def))!;
    const out: Judged = { n, ids: [], names: [], agents: [], values: new Float64Array(0), pos: new Int32Array(0) };
    const live: number[] = [];
    for (let i = 0; i < f.ids.length; i++) if (match[i] === 1 && w.now - f.lastSeen[i]! <= w.goneAfter) live.push(i);
    const values = new Float64Array(live.length * n).fill(NaN);
    const statusLastAll = statusLast(w);
    // Per piece: its tier's rows, and the columns of [min, max, sum, count] this statistic reads
    // (−1: not read; a minute total's one value stands for min, max and sum, with count 1), then the
    // first column read.
    const tiersIn = pieces.map((pc) => f.tiers.get(pc.tier)!);
    const colsIn = pieces.map((pc) => {
      if (metric.kind === 'status') return [-1, -1, -1, -1, -1];
      const col = f.tiers.get(pc.tier)!.col;
      const at = (part: string) => col.get(`${metric.stat}.${part}`) ?? -1;
      const cs = pc.tier === 60 && metric.kind === 'total' ? [at('sum'), at('sum'), at('sum'), -1] : [at('min'), at('max'), at('sum'), at('count')];
      const used = partsOf(def).map((part) => ['min', 'max', 'sum', 'count'].indexOf(part));
      for (let x = 0; x < 4; x++) if (!used.includes(x) && !(pc.tier === 60 && metric.kind === 'total')) cs[x] = -1;
      const first = pc.tier === 60 && metric.kind === 'total' ? at('sum') : cs[used[0]!]!;
      return [...cs, first] as [number, number, number, number, number];
    });
    for (let x = 0; x < live.length; x++) {
      const i = live[x]!;
      out.ids.push(f.ids[i]!);
      out.names.push(f.names[i]!);
      out.agents.push(f.agents[i]!);
      acc.reset(n);
      if (metric.kind === 'status') {
        const fm = f.first[i]!;
        if (Number.isNaN(fm)) continue;
        const first = Math.max(w.start, fm);
        const delay = agentWindowDelay(store, f.agents[i]!);
        const last = delay === 0 ? statusLastAll : statusLast(w, delay);
        if (first >= last) continue;
        for (const piece of pieces) statusPiece(f, i, metric.check, piece, first, last, P, first0, n);
      } else {
        for (let q = 0; q < pieces.length; q++) {
          const piece = pieces[q]!;
          const tf = tiersIn[q]!;
          const [cMin, cMax, cSum, cCount, cFirst] = colsIn[q]!;
          for (let y = tf.first[i]!; y >= 0; y = tf.next[y]!) {
            const r = tf.rows[y]!;
            const t = r[1] as number;
            if (t < piece.from || t >= piece.to) continue;
            // NULL: the row does not count for this statistic (fleet-frame.ts).
            if (r[cFirst] === null) continue;
            const k = Math.floor(t / P) - first0;
            if (k < 0 || k >= n) continue;
            acc.add(k, cMin < 0 ? 0 : Number(r[cMin]), cMax < 0 ? 0 : Number(r[cMax]), cSum < 0 ? 0 : Number(r[cSum]), cCount < 0 ? 1 : Number(r[cCount]), acc.c[k]! > 0);
          }
        }
      }
      for (let k = 0; k < n; k++) {
        if (acc.c[k] === 0) continue;
        const v = statOf(def, acc, k);
        if (Number.isFinite(v)) values[x * n + k] = v;
      }
    }
    out.values = values;
    out.pos = Int32Array.from(live);
    return out;
  }

  /** statusBuckets (metric-data.ts) for one instance and piece, into acc. */
  function statusPiece(f: FleetFrame, i: number, check: 'any' | 'instance' | 'system', piece: Piece, first: number, last: number, P: number, first0: number, n: number): void {
    const tier = piece.tier;
    const from = Math.max(piece.from, Math.floor(first / tier) * tier);
    const to = Math.min(piece.to, last);
    if (from >= to) return;
    const lo = Math.max(first, piece.from);
    const hi = Math.min(last, piece.to);
    const tf = f.tiers.get(tier)!;
    const hosts = tf.hosts.get(f.agents[i]!);

    for (let t = Math.floor(from / tier) * tier; t < to; t += tier) {
      const h = hosts?.get(t);
      let v: unknown[] | undefined;
      for (let y = tf.first[i]!; y >= 0; y = tf.next[y]!) if (tf.rows[y]![1] === t) v = tf.rows[y];
      if (h) {
        hostMask.t = t;
        hostMask.lo = h[0];
        hostMask.hi = h[1];
      }
      // Minutes: the VM's bit is a record with samples > 0; tiers: its mask.
      if (v) {
        vmMask.t = t;
        // Status columns come first (fleet-frame.ts): `vm`, or `vm_lo` and `vm_hi`.
        vmMask.lo = Number(v[2]);
        vmMask.hi = tier === 60 ? 0 : Number(v[3]);
      }
      const c = statusOf(t, tier, h ? hostMask : undefined, v ? vmMask : undefined, lo, hi);
      if (c.minutes === 0) continue;
      const failed = check === 'system' ? c.system : check === 'instance' ? c.instance : c.any;
      const k = Math.floor(t / P) - first0;
      if (k < 0 || k >= n) continue;
      acc.add(k, failed === c.minutes ? 1 : 0, failed > 0 ? 1 : 0, failed, c.minutes, acc.c[k]! > 0);
    }
  }

  return {
    async judge(def, w) {
      return toInstances((await this.judgeAll([{ def, w }]))[0]!);
    },

    async judgeAll(jobs) {
      const withPieces = jobs.map((j) => {
        const pieces = planPieces(j.w.start, j.w.end, j.def.period, j.w.now, store.retentionDays);
        return { ...j, pieces };
      });
      // The fleet scan reads tier rows as stored: the closed buckets it is about to read are rolled
      // up first (store/rollup.ts; usually the periodic rollup has done it and this finds nothing).
      let closedBy = -Infinity;
      for (const j of withPieces) for (const p of j.pieces) if (p.tier !== 60) closedBy = Math.max(closedBy, Math.min(p.to, Math.floor(j.w.now)));
      if (closedBy > -Infinity) await store.rollup(closedBy);
      const frameJobs: FrameJob[] = withPieces.map((j) => ({ def: j.def, now: j.w.now, goneAfter: j.w.goneAfter, pieces: j.pieces }));
      const f = await readFleet(db, frameJobs);
      return withPieces.map((j) => judgeFrom(f, j.def, j.w, j.pieces));
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

/** The last minute (exclusive) status checks judge for an agent: the current window is not shipped yet. */
export function statusLast(w: AlarmWindow, delay = 0): number {
  return Math.min(w.end, Math.floor((w.now - w.lagSeconds - delay) / 60) * 60 + 60);
}

export type { Tier };
