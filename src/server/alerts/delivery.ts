// The delivery loop, apart from evaluation: it drains the persisted outbox (webhooks and
// Alertmanager transitions) with retries and exponential backoff, and re-sends every active
// alert to Alertmanager at the resend interval. Both run in one sequential loop on purpose: a
// resolve queued by the evaluator is always posted after any re-send that read the state before
// it, so Alertmanager never sees a stale "firing" after the "resolved".
import type { AlertDb, OutboxRow } from './db.js';
import { urlForLog } from '../log-safe.js';
import { amAlert, sendAlerts } from './notify/alertmanager.js';
import { sendWebhook } from './notify/webhook.js';
import type { AlarmDefinition } from './types.js';
import { backoffCeiling } from '../../ship/backoff.js';
import { LeaseLoop } from './lease-loop.js';

export interface DeliveryOptions {
  db: AlertDb;
  intervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  maxAgeS: number;
  httpTimeoutMs: number;
  resendSeconds: number;
  publicUrl: string;
  /** Concurrent requests per round. */
  concurrency?: number;
  log?: { warn(o: object, m: string): void };
  /** Asked before each scheduled round; false = another replica delivers (src/server/lease.ts). */
  lease?: () => Promise<boolean>;
}

export interface RoundStats {
  delivered: number;
  failed: number;
  expired: number;
  resent: number;
}

/** Delay after the `attempts`-th failed attempt (1 = the first): the ceiling of the one backoff. */
export function backoffMs(attempts: number, base: number, max: number): number {
  return backoffCeiling(attempts - 1, { initialMs: base, maxMs: max });
}

export class Delivery {
  private running: Promise<RoundStats> | null = null;
  private readonly loop: LeaseLoop;
  private lastResendMs = 0;
  /** Running totals since start, for /metrics. */
  readonly totals = { delivered: 0, failed: 0, expired: 0 };

  constructor(private readonly o: DeliveryOptions) {
    this.loop = new LeaseLoop({
      wait: () => o.intervalMs,
      lease: o.lease,
      round: () => this.round(),
      failed: (e) => o.log?.warn({ err: e.message }, 'delivery round failed'),
    });
  }

  round(nowMs: number = Date.now()): Promise<RoundStats> {
    if (this.running) return this.running;
    this.running = this.doRound(nowMs).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async doRound(nowMs: number): Promise<RoundStats> {
    const stats: RoundStats = { delivered: 0, failed: 0, expired: 0, resent: 0 };
    if (nowMs - this.lastResendMs >= this.o.resendSeconds * 1000) {
      this.lastResendMs = nowMs;
      stats.resent = await this.resendFiring();
    }
    const due = await this.o.db.dueOutbox(Date.now(), 200);
    let next = 0;
    const worker = async () => {
      while (next < due.length) await this.deliver(due[next++]!, stats);
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 8, due.length) }, worker));
    if (stats.delivered) await this.o.db.pruneOutbox(Date.now() - 7 * 86400_000);
    return stats;
  }

  private async deliver(r: OutboxRow, stats: RoundStats): Promise<void> {
    const send = { timeoutMs: this.o.httpTimeoutMs, retries: 1 };
    try {
      if (r.kind === 'webhook') await sendWebhook(r.url, r.body, r.dedupKey, send);
      else await sendAlerts(r.url, r.body, send);
      await this.o.db.outboxDone(r.id, Date.now(), 'delivered');
      stats.delivered++;
      this.totals.delivered++;
    } catch (e) {
      const msg = (e as Error).message;
      const now = Date.now();
      if (now - r.createdMs > this.o.maxAgeS * 1000) {
        await this.o.db.outboxDone(r.id, now, 'expired', msg);
        stats.expired++;
        this.totals.expired++;
        this.o.log?.warn({ kind: r.kind, url: urlForLog(r.url), dedupKey: r.dedupKey, err: msg }, 'notification given up after the maximum age');
        return;
      }
      const attempts = r.attempts + 1;
      await this.o.db.outboxRetry(r.id, attempts, now + backoffMs(attempts, this.o.retryBaseMs, this.o.retryMaxMs), msg);
      stats.failed++;
      this.totals.failed++;
    }
  }

  /** Posts every alert currently in ALARM to each Alertmanager of its alarm; returns alerts sent. */
  async resendFiring(): Promise<number> {
    const firing = await this.o.db.statesIn('ALARM');
    if (!firing.length) return 0;
    const defs = new Map<string, AlarmDefinition>((await this.o.db.listAlarms()).map((a) => [a.definition.alarmName, a.definition]));
    const byUrl = new Map<string, unknown[]>();
    for (const s of firing) {
      const d = defs.get(s.alarmName);
      if (!d || !d.notificationEnabled || !d.notificationTriggers.includes('ALARM')) continue;
      for (const url of d.contacts.alertmanagers) {
        let l = byUrl.get(url);
        if (!l) byUrl.set(url, (l = []));
        l.push(amAlert(d, s, this.o.publicUrl));
      }
    }
    let sent = 0;
    for (const [url, alerts] of byUrl) {
      for (let i = 0; i < alerts.length; i += 1000) {
        const part = alerts.slice(i, i + 1000);
        try {
          await sendAlerts(url, JSON.stringify(part), { timeoutMs: this.o.httpTimeoutMs, retries: 0 });
          sent += part.length;
        } catch (e) {
          // The next re-send retries; Alertmanager keeps the alert until resolve_timeout meanwhile.
          this.o.log?.warn({ url: urlForLog(url), err: (e as Error).message }, 'Alertmanager re-send failed');
        }
      }
    }
    return sent;
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.loop.stop();
    if (this.running) await this.running.catch(() => {});
  }
}
