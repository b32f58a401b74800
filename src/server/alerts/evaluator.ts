// The evaluation loop: at each tick, for every alarm, the instances it matches, their last N
// periods, the pure decision of evaluate.ts, and one transaction per alarm writing the changed
// states, their history and the notifications to send. Delivery is not done here (see
// delivery.ts), so a dead receiver never slows evaluation down.
//
// Window: with lag L (VMPULSE_ALARM_EVAL_LAG_SECONDS) an alarm of period P evaluated at time t
// judges the N periods ending at floor((t − L) / P) × P. A newly matched instance starts in
// INSUFFICIENT_DATA; an instance not seen for N × P + grace, or no longer matched, has its state
// removed (a resolve is sent first when it was in ALARM).
import { ulid } from 'ulid';
import type { AlertDb, OutboxRow, PassWrite } from './db.js';
import { evaluate } from './evaluate.js';
import { amAlert } from './notify/alertmanager.js';
import { webhookBody } from './notify/webhook.js';
import { selectTargets } from './selector.js';
import type { AlarmDataSource } from './source.js';
import type { AlarmDefinition, AlarmState, Datapoint, HistoryEntry, InstanceState, TargetInstance } from './types.js';

export interface EvaluatorOptions {
  db: AlertDb;
  source: AlarmDataSource;
  lagSeconds: number;
  goneGraceSeconds: number;
  publicUrl: string;
  log?: { warn(o: object, m: string): void; info?(o: object, m: string): void };
  /** Asked before each scheduled pass; false = another replica evaluates (src/server/lease.ts). */
  lease?: () => Promise<boolean>;
}

export interface PassStats {
  alarms: number;
  instances: number;
  evaluated: number;
  transitions: number;
  removed: number;
  notifications: number;
  ms: number;
}

interface Transition {
  inst: { instanceId: string; name: string; agentId: string };
  from: AlarmState | null;
  to: AlarmState;
  /** When the instance entered `from` (for Alertmanager's startsAt of a resolve). */
  fromSinceMs: number;
  reason: string;
  datapoints: Datapoint[];
  notify: boolean;
}

/** Outbox rows for one transition, after notificationEnabled / notificationTriggers filtering. */
export function notificationsFor(def: AlarmDefinition, t: Transition, historyId: string, atMs: number, publicUrl: string): OutboxRow[] {
  if (!def.notificationEnabled || !t.notify) return [];
  const out: OutboxRow[] = [];
  const dedupKey = `${def.alarmName}/${t.inst.instanceId}/${historyId}`;
  const row = (kind: OutboxRow['kind'], url: string, body: string): OutboxRow => ({
    id: ulid(atMs),
    kind,
    url,
    alarmName: def.alarmName,
    instanceId: t.inst.instanceId,
    dedupKey,
    body,
    attempts: 0,
    nextMs: atMs,
    createdMs: atMs,
  });
  if (def.notificationTriggers.includes(t.to)) {
    const body = JSON.stringify(webhookBody(def, t.inst, { dedupKey, state: t.to, previousState: t.from, reason: t.reason, datapoints: t.datapoints, atMs }));
    for (const url of def.contacts.webhooks) out.push(row('webhook', url, body));
  }
  // Alertmanager sees only firing and resolved: an alert exists while the instance is in ALARM.
  // A resolve is always sent for an alert that was pushed, whatever the triggers say now.
  if (def.notificationTriggers.includes('ALARM')) {
    const st = { instanceId: t.inst.instanceId, instanceName: t.inst.name, agentId: t.inst.agentId, reason: t.reason };
    let alert: string | null = null;
    if (t.to === 'ALARM') alert = JSON.stringify([amAlert(def, { ...st, sinceMs: atMs }, publicUrl)]);
    else if (t.from === 'ALARM') alert = JSON.stringify([amAlert(def, { ...st, sinceMs: t.fromSinceMs }, publicUrl, atMs)]);
    if (alert) for (const url of def.contacts.alertmanagers) out.push(row('alertmanager', url, alert));
  }
  return out;
}

export class Evaluator {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PassStats> | null = null;
  private stopped = true;
  lastPass: PassStats | null = null;

  constructor(private readonly o: EvaluatorOptions) {}

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
    const stats: PassStats = { alarms: 0, instances: 0, evaluated: 0, transitions: 0, removed: 0, notifications: 0, ms: 0 };
    const alarms = await this.o.db.listAlarms();
    // The fleet's instance list is large (100,000 rows for 1,000 hosts): not read for nothing.
    const instances = alarms.length ? await this.o.source.listInstances() : [];
    stats.alarms = alarms.length;
    stats.instances = instances.length;
    for (const a of alarms) {
      try {
        await this.evaluateAlarm(a.definition, instances, nowMs, stats);
      } catch (e) {
        // One alarm failing (a query error, a dropped connection) must not stop the others.
        this.o.log?.warn({ alarm: a.definition.alarmName, err: (e as Error).message }, 'alarm evaluation failed');
      }
    }
    stats.ms = performance.now() - t0;
    this.lastPass = stats;
    return stats;
  }

  async evaluateAlarm(def: AlarmDefinition, instances: readonly TargetInstance[], nowMs: number, stats: PassStats): Promise<void> {
    const now = nowMs / 1000;
    const p = def.period;
    const n = def.evaluationPeriods;
    const end = Math.floor((now - this.o.lagSeconds) / p) * p;
    const start = end - n * p;
    const targets = selectTargets(def, instances);
    const goneAfter = n * p + this.o.goneGraceSeconds;
    const live = targets.filter((t) => now - t.lastSeen <= goneAfter);
    const liveIds = new Set(live.map((t) => t.instanceId));
    const matchedIds = new Set(targets.map((t) => t.instanceId));
    const existing = new Map((await this.o.db.states(def.alarmName)).map((s) => [s.instanceId, s]));
    const series = await this.o.source.series(live, {
      metricName: def.metricName,
      statistic: def.statistic,
      period: p,
      startTime: start,
      endTime: end,
      now,
      lagSeconds: this.o.lagSeconds,
    });

    const w: PassWrite = { upserts: [], removals: [], history: [], outbox: [], touched: [], evaluatedMs: nowMs };
    const record = (t: Transition) => {
      const id = ulid(nowMs);
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
      const rows = notificationsFor(def, t, id, nowMs, this.o.publicUrl);
      w.outbox.push(...rows);
      stats.transitions++;
      stats.notifications += rows.length;
    };

    for (const t of live) {
      const s = series.get(t.instanceId) ?? new Map<number, number>();
      const points: Datapoint[] = [];
      for (let ts = start; ts < end; ts += p) points.push({ timestamp: ts, value: s.get(ts) ?? null });
      const prev = existing.get(t.instanceId);
      const current: AlarmState = prev?.state ?? 'INSUFFICIENT_DATA';
      const d = evaluate(def, points, current);
      stats.evaluated++;
      const inst = { instanceId: t.instanceId, name: t.name, agentId: t.agentId };
      if (!prev) {
        w.upserts.push({ alarmName: def.alarmName, instanceId: t.instanceId, agentId: t.agentId, instanceName: t.name, state: d.state, reason: d.reason, sinceMs: nowMs, evaluatedMs: nowMs });
        // The starting INSUFFICIENT_DATA is a placeholder, not an observation: leaving it for OK on
        // the first pass is recorded but not announced (a new fleet alarm would otherwise send
        // one OK per VM). Leaving it for ALARM is announced.
        if (d.state !== 'INSUFFICIENT_DATA') record({ inst, from: 'INSUFFICIENT_DATA', to: d.state, fromSinceMs: nowMs, reason: d.reason, datapoints: points, notify: d.state !== 'OK' });
      } else if (d.state !== prev.state) {
        w.upserts.push({ ...prev, agentId: t.agentId, instanceName: t.name, state: d.state, reason: d.reason, sinceMs: nowMs, evaluatedMs: nowMs });
        record({ inst, from: prev.state, to: d.state, fromSinceMs: prev.sinceMs, reason: d.reason, datapoints: points, notify: true });
      } else {
        w.touched.push(t.instanceId);
      }
    }

    for (const [id, prev] of existing) {
      if (liveIds.has(id)) continue;
      w.removals.push(id);
      stats.removed++;
      if (prev.state === 'ALARM') {
        const why = matchedIds.has(id)
          ? `Resolved: the instance has not been seen for more than ${goneAfter} s (evaluation range + grace) and is taken as gone for good.`
          : 'Resolved: the instance is no longer matched by the alarm.';
        record({ inst: { instanceId: id, name: prev.instanceName, agentId: prev.agentId }, from: 'ALARM', to: 'OK', fromSinceMs: prev.sinceMs, reason: why, datapoints: [], notify: true });
      }
    }
    await this.o.db.applyPass(def.alarmName, w);
  }

  /**
   * Ticks every intervalMs, or (null) just after each minute boundary: every period is a
   * multiple of 60 s, so each alarm's window moves on at most once per minute.
   */
  start(intervalMs: number | null): void {
    this.stopped = false;
    const schedule = () => {
      if (this.stopped) return;
      const wait = intervalMs ?? 60_000 - (Date.now() % 60_000) + 250;
      this.timer = setTimeout(() => {
        (this.o.lease ? this.o.lease() : Promise.resolve(true))
          .then((mine) => (mine && !this.stopped ? this.evaluateOnce() : null))
          .catch((e) => this.o.log?.warn({ err: (e as Error).message }, 'alarm evaluation pass failed'))
          .finally(schedule);
      }, wait);
      this.timer.unref?.();
    };
    schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running) await this.running.catch(() => {});
  }
}

export type { InstanceState };
