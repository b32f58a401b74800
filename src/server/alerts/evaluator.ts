// The evaluation loop: at each tick, ONE set-based read of the fleet for all alarms (bulk-source.ts,
// fleet-frame.ts) gives the period values of every instance each alarm matches; the pure decision
// of evaluate.ts per instance (its state only, decideState; the reason text is built for
// transitions); and one transaction per alarm writing the changed states, their history and the
// notifications to send (db.ts applyPass, multi-row statements). Delivery is not done here (see
// delivery.ts), so a dead receiver never slows evaluation down.
//
// The current states of each alarm are kept in memory between passes (only changed states are
// written), and trusted only while the alarm's row says this process wrote its last pass: its
// evaluated_ms and created_ms are those this process saw. A pass by another replica (after a lease
// handover), or an alarm deleted and created again, makes the next pass read them from the table.
//
// Window: with lag L (VMPULSE_ALARM_EVAL_LAG_SECONDS) an alarm of period P evaluated at time t
// judges the N periods ending at floor((t − L) / P) × P. A newly matched instance starts in
// INSUFFICIENT_DATA; an instance not seen for N × P + grace, or no longer matched, has its state
// removed (a resolve is sent first when it was in ALARM).
//
// The server's own outage is not the VMs' fault (README, "Alarms"): a pass whose store query fails
// changes nothing for that alarm; and a minute that no agent at all has a record for, at a time the
// server cannot vouch for having been up with its store reachable (before this process's first
// successful pass, or between a failed pass and the next good one), makes the alarm wait: its
// states stay as they are until the agents' backfill arrives or the minute leaves the window.
import { monotonicFactory } from 'ulid';
import type { AlertDb, PassWrite, StateHead } from './db.js';
import { decideState, evaluateAt, startOkReason } from './evaluate.js';
import { notificationsFor, type Transition } from './notifications.js';
import { StoreHealth } from './store-health.js';
import { LeaseLoop } from './lease-loop.js';
import type { AlarmWindow, BulkSource, Judged } from './bulk-source.js';
import type { AlarmDefinition, AlarmState, Datapoint, HistoryEntry, InstanceState, StoredAlarm } from './types.js';

export interface EvaluatorOptions {
  db: AlertDb;
  source: BulkSource;
  lagSeconds: number;
  goneGraceSeconds: number;
  publicUrl: string;
  /**
   * Alarms evaluated at the same time (default 1). On PostgreSQL, 2–4 let the database compute one
   * alarm's query while this process judges another's rows; SQLite runs in this thread anyway.
   */
  concurrency?: number;
  log?: { warn(o: object, m: string): void; info?(o: object, m: string): void };
  /** Asked before each scheduled pass; false = another replica evaluates (src/server/lease.ts). */
  lease?: () => Promise<boolean>;
}

export interface PassStats {
  alarms: number;
  /** Instance-alarm pairs judged. */
  evaluated: number;
  transitions: number;
  /** Transitions by the state entered. */
  entered: Record<AlarmState, number>;
  removed: number;
  notifications: number;
  /** Alarms whose query or write failed (nothing of theirs changed). */
  failed: number;
  /** Alarms that waited for data missing through the server's own outage. */
  deferred: number;
  ms: number;
}

/** Running totals since start, for /metrics. */
export interface EvaluatorTotals {
  passes: number;
  failedPasses: number;
  evaluated: number;
  entered: Record<AlarmState, number>;
  notifications: number;
  failedAlarms: number;
  deferredAlarms: number;
}

const emptyStats = (): PassStats => ({
  alarms: 0,
  evaluated: 0,
  transitions: 0,
  entered: { OK: 0, ALARM: 0, INSUFFICIENT_DATA: 0 },
  removed: 0,
  notifications: 0,
  failed: 0,
  deferred: 0,
  ms: 0,
});

/** A current state as the evaluator keeps it; `seen` = the last pass generation that judged it. */
type Head = StateHead & { seen: number };
/** A state row of a pass, which becomes a head once committed. */
type Row = InstanceState & { seen: number };
interface HeadCache {
  /** The alarm row's evaluated_ms and created_ms when these states were last known to be the table's. */
  evaluatedMs: number | null;
  createdMs: number;
  map: Map<string, Head>;
  /** The heads by their instance's place in the last pass's instance list (Judged.pos). */
  byPos: (Head | undefined)[];
}

export class Evaluator {
  private loop: LeaseLoop | null = null;
  private readonly heads = new Map<string, HeadCache>();
  private generation = 0;
  private running: Promise<PassStats> | null = null;
  lastPass: PassStats | null = null;
  readonly totals: EvaluatorTotals = {
    passes: 0,
    failedPasses: 0,
    evaluated: 0,
    entered: { OK: 0, ALARM: 0, INSUFFICIENT_DATA: 0 },
    notifications: 0,
    failedAlarms: 0,
    deferredAlarms: 0,
  };
  private readonly health: StoreHealth;
  /** Called with every finished pass (metrics). */
  onPass: ((s: PassStats) => void) | null = null;

  constructor(private readonly o: EvaluatorOptions) {
    this.health = new StoreHealth(o.lagSeconds);
  }

  /** One pass over every alarm. Concurrent calls share the pass already running. */
  evaluateOnce(nowMs: number = Date.now()): Promise<PassStats> {
    if (this.running) return this.running;
    this.running = this.pass(nowMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(nowMs: number): Promise<PassStats> {
    const t0 = performance.now();
    const stats = emptyStats();
    let alarms: StoredAlarm[];
    try {
      alarms = await this.o.db.listAlarms();
    } catch (e) {
      this.health.note(nowMs, false);
      this.totals.passes++;
      this.totals.failedPasses++;
      throw e;
    }
    stats.alarms = alarms.length;
    const listed = new Set(alarms.map((a) => a.definition.alarmName));
    for (const name of this.heads.keys()) if (!listed.has(name)) this.heads.delete(name);
    let good = true;
    const failed = (name: string, e: unknown) => {
      // One alarm failing (a query error, a dropped connection) must not stop the others; its
      // states are left exactly as they were.
      good = false;
      stats.failed++;
      this.heads.delete(name);
      this.o.log?.warn({ alarm: name, err: (e as Error).message }, 'alarm evaluation failed');
    };
    const jobs: { stored: StoredAlarm; w: AlarmWindow }[] = [];
    for (const a of alarms) {
      try {
        const w = this.windowOf(a.definition, nowMs);
        if (await this.waits(a.definition, w, stats)) continue;
        jobs.push({ stored: a, w });
      } catch (e) {
        failed(a.definition.alarmName, e);
      }
    }
    let judged: Judged[] | null = null;
    try {
      if (jobs.length) judged = await this.o.source.judgeAll(jobs.map((j) => ({ def: j.stored.definition, w: j.w })));
    } catch (e) {
      for (const j of jobs) failed(j.stored.definition.alarmName, e);
    }
    if (judged) {
      let next = 0;
      const worker = async () => {
        while (next < jobs.length) {
          const k = next++;
          const j = jobs[k]!;
          try {
            await this.decide(j.stored, j.w, judged[k]!, nowMs, stats);
          } catch (e) {
            failed(j.stored.definition.alarmName, e);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(this.o.concurrency ?? 1, jobs.length)) }, worker));
    }
    this.health.note(nowMs, good);
    stats.ms = performance.now() - t0;
    this.lastPass = stats;
    const t = this.totals;
    t.passes++;
    if (!good) t.failedPasses++;
    t.evaluated += stats.evaluated;
    for (const k of Object.keys(t.entered) as AlarmState[]) t.entered[k] += stats.entered[k];
    t.notifications += stats.notifications;
    t.failedAlarms += stats.failed;
    t.deferredAlarms += stats.deferred;
    this.onPass?.(stats);
    return stats;
  }

  private windowOf(def: AlarmDefinition, nowMs: number): AlarmWindow {
    const now = nowMs / 1000;
    const p = def.period;
    const n = def.evaluationPeriods;
    const end = Math.floor((now - this.o.lagSeconds) / p) * p;
    return { start: end - n * p, end, now, lagSeconds: this.o.lagSeconds, goneAfter: n * p + this.o.goneGraceSeconds };
  }

  /** True (and counted as deferred) when the alarm must wait for minutes missing through the server's own outage. */
  private async waits(def: AlarmDefinition, w: AlarmWindow, into: PassStats): Promise<boolean> {
    const blind = await this.blindMinutes(w.start, w.end);
    if (!blind.length) return false;
    into.deferred++;
    this.o.log?.info?.(
      { alarm: def.alarmName, minutes: blind.length, first: new Date(blind[0]! * 1000).toISOString() },
      'alarm waits: no agent has data for minutes the server was not up to receive',
    );
    return true;
  }

  /** The alarm's current states: the ones in memory while this process wrote the alarm's last pass, else the table's. */
  private async headsOf(stored: StoredAlarm | null, name: string): Promise<HeadCache> {
    const c = this.heads.get(name);
    if (c && stored && c.evaluatedMs === stored.evaluatedMs && c.createdMs === stored.createdMs) return c;
    const rows = await this.o.db.stateHeads(name);
    const fresh: HeadCache = { evaluatedMs: stored?.evaluatedMs ?? null, createdMs: stored?.createdMs ?? NaN, map: new Map(rows.map((h) => [h.instanceId, { ...h, seen: 0 }])), byPos: [] };
    this.heads.set(name, fresh);
    return fresh;
  }

  /**
   * Minutes of [start, end) that no agent has a record for and that the server cannot vouch for:
   * missing there is the server's outage, not the instances' (empty when every minute is vouched).
   */
  private async blindMinutes(start: number, end: number): Promise<number[]> {
    const unvouched: number[] = [];
    for (let m = Math.floor(start / 60) * 60; m < end; m += 60) if (!this.health.vouched(m)) unvouched.push(m);
    if (!unvouched.length) return [];
    const seen = await this.o.source.fleetMinutes(unvouched[0]!, unvouched[unvouched.length - 1]! + 60);
    return unvouched.filter((m) => !seen.has(m));
  }

  /** One alarm on its own (as a pass does it, with a query of its own). */
  async evaluateAlarm(def: AlarmDefinition, nowMs: number, into: PassStats = emptyStats()): Promise<void> {
    const w = this.windowOf(def, nowMs);
    if (await this.waits(def, w, into)) return;
    const stored = await this.o.db.getAlarm(def.alarmName);
    const [judged] = await this.o.source.judgeAll([{ def, w }]);
    try {
      await this.decide(stored && { ...stored, definition: def }, w, judged!, nowMs, into);
    } catch (e) {
      this.heads.delete(def.alarmName);
      throw e;
    }
  }

  /** Decisions of one alarm over its judged instances, committed in one transaction; counted into `into` once committed. */
  private async decide(stored: StoredAlarm | null, win: AlarmWindow, j: Judged, nowMs: number, into: PassStats): Promise<void> {
    const def = stored?.definition;
    if (!def) return;
    const stats = emptyStats();
    const p = def.period;
    const n = j.n;
    const start = win.start;
    const cache = await this.headsOf(stored, def.alarmName);
    const heads = cache.map;
    const gen = ++this.generation;

    const w: PassWrite<Row> = { inserts: [], upserts: [], removals: [], history: [], outbox: [], evaluatedMs: nowMs };
    // One random draw per alarm pass, then increments: a cold pass over a fleet writes one history
    // row per instance, and a fresh random ULID each costs more than the row.
    const newId = monotonicFactory();
    const record = (t: Transition) => {
      const id = newId(nowMs);
      const h: HistoryEntry = {
        id,
        alarmName: def.alarmName,
        instanceId: t.inst.instanceId,
        agentId: t.inst.agentId,
        instanceName: t.inst.name,
        atMs: nowMs,
        oldState: t.from,
        newState: t.to,
        reason: t.reason,
        datapoints: t.datapoints,
      };
      w.history.push(h);
      const rows = notificationsFor(def, t, id, nowMs, this.o.publicUrl, newId);
      for (const r of rows) w.outbox.push(r);
      stats.transitions++;
      stats.entered[t.to]++;
      stats.notifications += rows.length;
    };
    const valuesOf = (i: number): (number | null)[] => {
      const out: (number | null)[] = new Array(n);
      for (let k = 0; k < n; k++) {
        const v = j.values[i * n + k]!;
        out[k] = Number.isFinite(v) ? v : null;
      }
      return out;
    };
    const pointsOf = (values: readonly (number | null)[]): Datapoint[] => values.map((value, k) => ({ timestamp: start + k * p, value }));

    const byPos = cache.byPos;
    const nextPos: (Head | undefined)[] = [];
    const upPos: number[] = [];
    const insPos: number[] = [];
    for (let i = 0; i < j.ids.length; i++) {
      const id = j.ids[i]!;
      const at = j.pos[i]!;
      let prev = byPos[at];
      if (prev === undefined || prev.instanceId !== id) prev = heads.get(id);
      if (prev) {
        prev.seen = gen;
        nextPos[at] = prev;
      }
      const current: AlarmState = prev?.state ?? 'INSUFFICIENT_DATA';
      const state = decideState(def, j.values, i * n, current);
      stats.evaluated++;
      if (prev && state === prev.state) continue;
      if (!prev && state === 'OK') {
        // The starting INSUFFICIENT_DATA is a placeholder, not an observation. A newly matched
        // instance judged OK starts OK: its state row (reason, since) says so, and it is counted,
        // but it is neither history nor announced (a new fleet alarm, or a fleet seen for the
        // first time, would otherwise write and send one OK per VM), and its reason gives the
        // decision's counts without the values (startOkReason).
        insPos.push(at);
        w.inserts.push({ alarmName: def.alarmName, instanceId: id, agentId: j.agents[i]!, instanceName: j.names[i]!, state, reason: startOkReason(def, j.values, i * n), sinceMs: nowMs, evaluatedMs: nowMs, seen: gen });
        stats.transitions++;
        stats.entered.OK++;
        continue;
      }
      // A new state, or a new instance not OK: the full decision, with its reason. Starting in
      // ALARM is a transition like any other: history and notifications.
      const d = evaluateAt(def, j.values, i * n, current);
      const inst = { instanceId: id, name: j.names[i]!, agentId: j.agents[i]! };
      const row: Row = { alarmName: def.alarmName, instanceId: id, agentId: inst.agentId, instanceName: inst.name, state: d.state, reason: d.reason, sinceMs: nowMs, evaluatedMs: nowMs, seen: gen };
      if (prev) {
        upPos.push(at);
        w.upserts.push(row);
        record({ inst, from: prev.state, to: d.state, fromSinceMs: prev.sinceMs, reason: d.reason, datapoints: pointsOf(valuesOf(i)), notify: true });
      } else {
        insPos.push(at);
        w.inserts.push(row);
        if (d.state === 'ALARM') record({ inst, from: 'INSUFFICIENT_DATA', to: d.state, fromSinceMs: nowMs, reason: d.reason, datapoints: pointsOf(valuesOf(i)), notify: true });
      }
    }

    const leaving: Head[] = [];
    for (const h of heads.values()) if (h.seen !== gen) leaving.push(h);
    const firing = leaving.filter((s) => s.state === 'ALARM');
    const matched = firing.length ? await this.o.source.stillMatched(def, firing.map((s) => s.instanceId)) : new Set<string>();
    for (const prev of leaving) {
      w.removals.push(prev.instanceId);
      stats.removed++;
      if (prev.state === 'ALARM') {
        const why = matched.has(prev.instanceId)
          ? `Resolved: the instance has not been seen for more than ${win.goneAfter} s (evaluation range + grace) and is taken as gone for good.`
          : 'Resolved: the instance is no longer matched by the alarm.';
        record({ inst: { instanceId: prev.instanceId, name: prev.instanceName, agentId: prev.agentId }, from: 'ALARM', to: 'OK', fromSinceMs: prev.sinceMs, reason: why, datapoints: [], notify: true });
      }
    }
    await this.o.db.applyPass(def.alarmName, w);
    // Committed: the states in memory follow the table.
    for (const id of w.removals) heads.delete(id);
    // The written rows become the heads (no second object per state; a cold pass writes one per
    // instance), without their reason, which only the table keeps.
    const written = (rows: readonly Row[], pos: readonly number[]) =>
      rows.forEach((u, x) => {
        u.reason = '';
        heads.set(u.instanceId, u);
        nextPos[pos[x]!] = u;
      });
    written(w.inserts, insPos);
    written(w.upserts, upPos);
    cache.byPos = nextPos;
    cache.evaluatedMs = nowMs;
    into.evaluated += stats.evaluated;
    into.transitions += stats.transitions;
    for (const k of Object.keys(into.entered) as AlarmState[]) into.entered[k] += stats.entered[k];
    into.removed += stats.removed;
    into.notifications += stats.notifications;
  }

  /**
   * Ticks every intervalMs, or (null) just after each minute boundary: every period is a
   * multiple of 60 s, so each alarm's window moves on at most once per minute.
   */
  start(intervalMs: number | null): void {
    this.loop?.stop();
    this.loop = new LeaseLoop({
      wait: () => intervalMs ?? 60_000 - (Date.now() % 60_000) + 250,
      lease: this.o.lease,
      round: () => this.evaluateOnce(),
      failed: (e) => this.o.log?.warn({ err: e.message }, 'alarm evaluation pass failed'),
    });
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.loop?.stop();
    if (this.running) await this.running.catch(() => {});
  }
}

export type { InstanceState };
export { notificationsFor };
