// The server's own Prometheus metrics (GET /metrics, text exposition, reader or admin credential):
// ingest outcomes and latency, and alerting (passes, instances judged, transitions, the
// notification outbox). Ingest is observed from the outside of its route (the response it gave),
// alerting from the evaluator's and delivery's running totals, read at scrape time.
import type { RollupResult } from './store/rollup.js';
import type { DecodePool } from './ingest/decode-pool.js';
import type { TimeSeriesStore } from './store/store.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, Registry, type Metric } from 'prom-client';
import type { Alerting } from './alerts/index.js';
import type { AlarmState } from './alerts/types.js';
import type { TokenCache } from './token-cache.js';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ServerMetrics;
  }
}

interface Point {
  labels: Record<string, string>;
  value: number;
}

/** A metric whose series are computed when scraped (counters from running totals, gauges from the database). */
function collector(registry: Registry, name: string, help: string, type: 'counter' | 'gauge', points: () => Promise<Point[]> | Point[]): void {
  registry.registerMetric({
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: await points() }),
    reset: () => {},
  } as unknown as Metric<string>);
}

export const INGEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const PASS_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly batches = new Counter({
    name: 'vmpulse_server_ingest_batches_total',
    help: 'Batches POSTed to /v1/ingest by outcome: stored, duplicate (BatchID seen before), rejected.',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'vmpulse_server_ingest_rejected_total',
    help: 'Batches refused by reason (the error code of the answer: invalid_payload, unauthorized, agent_mismatch, payload_too_large, internal, ...).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  private readonly vmMinutes = new Counter({
    name: 'vmpulse_server_ingest_vm_records_stored_total',
    help: 'VM-minutes stored: per-VM minute records of stored batches (promtool reserves the word minutes for units).',
    registers: [this.registry],
  });
  private readonly hostMinutes = new Counter({
    name: 'vmpulse_server_ingest_host_records_stored_total',
    help: 'Host minute records of stored batches.',
    registers: [this.registry],
  });
  private readonly ingestSeconds = new Histogram({
    name: 'vmpulse_server_ingest_request_duration_seconds',
    help: 'Time from receiving a POST /v1/ingest to answering it, by outcome.',
    labelNames: ['outcome'],
    buckets: INGEST_BUCKETS,
    registers: [this.registry],
  });
  private readonly passSeconds = new Histogram({
    name: 'vmpulse_server_alarm_pass_duration_seconds',
    help: 'Duration of one alarm evaluation pass over every alarm.',
    buckets: PASS_BUCKETS,
    registers: [this.registry],
  });
  private readonly rollupBuckets = new Counter({
    name: 'vmpulse_server_rollup_buckets_total',
    help: 'Agent-buckets of the 300 s, 3600 s and 86400 s tiers rebuilt by the periodic rollup, by tier (seconds).',
    labelNames: ['tier'],
    registers: [this.registry],
  });
  private readonly rollupSeconds = new Histogram({
    name: 'vmpulse_server_rollup_duration_seconds',
    help: 'Duration of one periodic tier rollup.',
    buckets: PASS_BUCKETS,
    registers: [this.registry],
  });
  private readonly decodeSeconds = new Histogram({
    name: 'vmpulse_server_ingest_decode_seconds',
    help: 'From an ingest body handed to the decoders to its rows back (waiting for a thread, gunzip, parse, validation, rows), accepted or refused.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private alerting: Alerting | null = null;

  constructor() {
    const ev = () => this.alerting?.evaluator.totals;
    const dl = () => this.alerting?.delivery.totals;
    const one = (v: number | undefined): Point[] => (v === undefined ? [] : [{ labels: {}, value: v }]);
    collector(this.registry, 'vmpulse_server_alarm_passes_total', 'Alarm evaluation passes by result (failed: the store could not be read or written for some alarm).', 'counter', () => {
      const t = ev();
      return t ? [{ labels: { result: 'ok' }, value: t.passes - t.failedPasses }, { labels: { result: 'failed' }, value: t.failedPasses }] : [];
    });
    collector(this.registry, 'vmpulse_server_alarm_instances_judged_total', 'Instance-alarm pairs judged by evaluation passes.', 'counter', () => one(ev()?.evaluated));
    collector(this.registry, 'vmpulse_server_alarm_instances_judged', 'Instance-alarm pairs judged by the last pass.', 'gauge', () => one(this.alerting?.evaluator.lastPass?.evaluated));
    collector(this.registry, 'vmpulse_server_alarm_transitions_total', 'Instance state transitions by the state entered.', 'counter', () => {
      const t = ev();
      return t ? (Object.keys(t.entered) as AlarmState[]).map((s) => ({ labels: { state: s }, value: t.entered[s] })) : [];
    });
    collector(this.registry, 'vmpulse_server_alarm_evaluations_failed_total', 'Alarm evaluations that failed (store query or write); their states were left unchanged.', 'counter', () =>
      one(ev()?.failedAlarms),
    );
    collector(
      this.registry,
      'vmpulse_server_alarm_evaluations_deferred_total',
      "Alarm evaluations that waited because no agent had data for minutes the server could not vouch for (its own outage).",
      'counter',
      () => one(ev()?.deferredAlarms),
    );
    collector(this.registry, 'vmpulse_server_alarm_notifications_queued_total', 'Notifications written to the outbox by transitions.', 'counter', () => one(ev()?.notifications));
    collector(this.registry, 'vmpulse_server_alarm_notifications_pending', 'Notifications in the outbox not yet delivered or given up.', 'gauge', async () =>
      this.alerting ? [{ labels: {}, value: await this.alerting.db.pendingOutbox() }] : [],
    );
    collector(this.registry, 'vmpulse_server_alarm_notifications_delivered_total', 'Notifications delivered.', 'counter', () => one(dl()?.delivered));
    collector(this.registry, 'vmpulse_server_alarm_notifications_failed_total', 'Failed delivery attempts (each is retried with backoff).', 'counter', () => one(dl()?.failed));
    collector(this.registry, 'vmpulse_server_alarm_notifications_expired_total', 'Notifications given up after VMPULSE_ALARM_DELIVERY_MAX_AGE_S.', 'counter', () => one(dl()?.expired));
  }

  observeRollup(r: RollupResult, seconds: number): void {
    for (const [tier, n] of Object.entries(r.buckets)) this.rollupBuckets.inc({ tier }, n);
    this.rollupSeconds.observe(seconds);
  }

  /** The credential cache's totals and state (token-cache.ts), read at scrape time from whatever cache `credentials` holds then. */
  attachCredentials(credentials: { readonly cache: TokenCache }): void {
    collector(this.registry, 'vmpulse_server_token_cache_lookups_total', 'Credential lookups by result: hit (from memory), miss (from the database, then kept), uncached (from the database: not listening for token changes, or SQLite).', 'counter', () =>
      Object.entries(credentials.cache.lookups).map(([result, value]) => ({ labels: { result }, value })),
    );
    collector(this.registry, 'vmpulse_server_token_cache_listening', '1 while this server hears every change to the credentials table (PostgreSQL LISTEN), the only time it keeps credentials in memory.', 'gauge', () => [
      { labels: {}, value: credentials.cache.listening ? 1 : 0 },
    ]);
  }

  /** The rollup's backlog, read from the store at scrape time. */
  attachStore(store: Pick<TimeSeriesStore, 'rollupBacklog'>): void {
    // Both gauges come from one read per scrape.
    let read: { at: number; rows: ReturnType<typeof store.rollupBacklog> } | null = null;
    const backlog = () => {
      if (!read || Date.now() - read.at > 1000) read = { at: Date.now(), rows: store.rollupBacklog() };
      return read.rows;
    };
    collector(this.registry, 'vmpulse_server_rollup_pending_buckets', 'Agent-buckets of each tier waiting for the rollup (ingested, not yet built into the tier).', 'gauge', async () =>
      (await backlog()).map((b) => ({ labels: { tier: String(b.tier) }, value: b.buckets })),
    );
    collector(this.registry, 'vmpulse_server_rollup_lag_seconds', 'Seconds since the earliest bucket of each tier waiting for the rollup ended (0 when none has ended).', 'gauge', async () => {
      const now = Date.now() / 1000;
      return (await backlog()).map((b) => ({ labels: { tier: String(b.tier) }, value: b.oldestEnd === null ? 0 : Math.max(0, Math.round(now - b.oldestEnd)) }));
    });
  }

  /** The ingest decoders: their threads, the bodies waiting for one, and each decode's time. */
  attachDecoder(d: DecodePool): void {
    d.onDecoded = (seconds) => this.decodeSeconds.observe(seconds);
    collector(this.registry, 'vmpulse_server_ingest_decode_threads', 'Worker threads decoding ingest bodies (0: decoded on the event loop).', 'gauge', () => [{ labels: {}, value: d.threads }]);
    collector(this.registry, 'vmpulse_server_ingest_decode_queued', 'Ingest bodies waiting for a decode thread.', 'gauge', () => [{ labels: {}, value: d.queued() }]);
  }

  attachAlerting(a: Alerting): void {
    this.alerting = a;
    a.evaluator.onPass = (s) => this.passSeconds.observe(s.ms / 1000);
  }

  /** One answered POST /v1/ingest: its status, its JSON answer and how long it took. */
  observeIngest(status: number, body: unknown, seconds: number): void {
    const b = (body ?? {}) as Record<string, unknown>;
    let outcome: string;
    if (status === 200 && b.status === 'stored') {
      outcome = 'stored';
      this.vmMinutes.inc(Number(b.instance_minutes) || 0);
      this.hostMinutes.inc(Number(b.host_minutes) || 0);
    } else if (status === 200 && b.status === 'duplicate') outcome = 'duplicate';
    else {
      outcome = 'rejected';
      this.rejected.inc({ reason: typeof b.code === 'string' ? b.code : `http_${status}` });
    }
    this.batches.inc({ outcome });
    this.ingestSeconds.observe({ outcome }, seconds);
  }
}

const parseJson = (p: unknown): unknown => {
  try {
    return typeof p === 'string' ? JSON.parse(p) : Buffer.isBuffer(p) ? JSON.parse(p.toString('utf8')) : null;
  } catch {
    return null;
  }
};

/** Installs the ingest observers and GET /metrics (reader or admin). Call before the routes are registered. */
export function installMetrics(app: FastifyInstance, metrics: ServerMetrics = new ServerMetrics()): void {
  app.decorate('metrics', metrics);
  const started = new WeakMap<FastifyRequest, bigint>();
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.url === '/v1/ingest') started.set(req, process.hrtime.bigint());
  });
  app.addHook('onSend', async (req: FastifyRequest, reply: FastifyReply, payload) => {
    const t0 = started.get(req);
    if (t0 !== undefined) {
      started.delete(req);
      metrics.observeIngest(reply.statusCode, parseJson(payload), Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return payload;
  });
  app.get('/metrics', { onRequest: app.requireRole('reader') }, async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
