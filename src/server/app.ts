// The server as a library: buildApp wires routes onto a store; startServer also opens the store,
// migrates, listens and runs retention. `vmpulse server`, `vmpulse start` and the tests use it.
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { bearerOf, installAuth } from './auth.js';
import { DebugRequestLog } from '../http-log.js';
import { createLogger } from '../log.js';
import type { ServerConfig } from './config.js';
import { Credentials, loadOrCreateMasterKey } from './credentials.js';
import { ApiError, AuthError } from './errors.js';
import { trackRoutes } from './access.js';
import { BusyError, IngestGate } from './backpressure.js';
import { installDrainOnError } from './drain.js';
import { classifyFault, replyFault } from './fault.js';
import { openLease, type Lease } from './lease.js';
import { TokenCache, watchTokens, type TokenWatch } from './token-cache.js';
import { alarmRoutes, startAlerting, type Alerting } from './alerts/index.js';
import { loadConsoleSessionTtl } from './console/config.js';
import { consoleRoutes, type ConsoleAlarms } from './console/plugin.js';
import { Sessions } from './console/sessions.js';
import { ingestRoutes } from './routes/ingest.js';
import { DecodePool, defaultIngestThreads } from './ingest/decode-pool.js';
import { instanceRoutes } from './routes/instances.js';
import { lightsailRoutes } from './routes/lightsail.js';
import { serverRoutes } from './routes/servers.js';
import { installMetrics } from './metrics.js';
import { openStore, type RetentionDays, type RetentionResult, type Store } from './store/store.js';
import type { RollupResult } from './store/rollup.js';

/** Seconds after its end a bucket is rolled up by the periodic rollup. */
const ROLLUP_GRACE_S = 60;
import { TsdbUnavailableError } from './store/victoria-client.js';
import { payloadValidator } from './validate.js';

export interface BuildOptions {
  maxBodyBytes: number;
  retentionDays: number;
  logLevel: string;
  https?: { cert: Buffer; key: Buffer } | null;
  /** Ingest admission (backpressure.ts); defaults as in loadServerConfig. */
  ingestMaxInFlight?: number;
  ingestMaxBytes?: number;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Console session lifetime (default VMPULSE_CONSOLE_SESSION_TTL_S, 43200). */
  consoleSessionTtlS?: number;
  /** Ingest decode threads (ingest/decode-pool.ts); 0 decodes on the event loop. Default: defaultIngestThreads(). */
  ingestThreads?: number;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The console's alarm views read alerting once startServer has started it. */
    consoleAlarms: ConsoleAlarms;
  }
}

export const SERVER_DEFAULTS = {
  ingestMaxInFlight: 32,
  ingestMaxBytes: 64 * 1024 * 1024,
  // Batches at the size limit take a moment to arrive from a slow link.
  requestTimeoutMs: 120_000,
  headersTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
} as const;

export async function buildApp(store: Store, credentials: Credentials, opts: BuildOptions): Promise<FastifyInstance> {
  payloadValidator(); // compile the schema once, before the first request
  const requestTimeout = opts.requestTimeoutMs ?? SERVER_DEFAULTS.requestTimeoutMs;
  // Node checks the header and request deadlines only every connectionsCheckingInterval (30 s by
  // default), so a slow client would otherwise get up to 30 s more than it is allowed.
  const nodeServer = {
    headersTimeout: Math.min(opts.headersTimeoutMs ?? SERVER_DEFAULTS.headersTimeoutMs, requestTimeout),
    requestTimeout,
    connectionsCheckingInterval: 1000,
  };
  const app = Fastify({
    // JSON lines (readable on a terminal or with VMPULSE_LOG_FORMAT=pretty), secrets redacted.
    loggerInstance: createLogger('vmpulse-server', process.env, opts.logLevel),
    bodyLimit: opts.maxBodyBytes,
    logController: new DebugRequestLog(),
    requestTimeout,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? SERVER_DEFAULTS.keepAliveTimeoutMs,
    ...(opts.https ? { https: { ...opts.https, ...nodeServer } } : { http: nodeServer }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  trackRoutes(app);

  const sessions = new Sessions(store, credentials, opts.consoleSessionTtlS ?? loadConsoleSessionTtl());
  installAuth(app, store, credentials, sessions);
  // GET /metrics and the ingest observers; before the routes, so their hooks see every route.
  installMetrics(app);
  // An early refusal (401, 413, 429) is read by clients that send the whole body first; beyond
  // four times the body limit or the headers timeout, the connection is closed instead.
  installDrainOnError(app, { maxBytes: 4 * opts.maxBodyBytes, maxMs: opts.headersTimeoutMs ?? SERVER_DEFAULTS.headersTimeoutMs });
  const gate = new IngestGate({
    maxInFlight: opts.ingestMaxInFlight ?? SERVER_DEFAULTS.ingestMaxInFlight,
    maxBytes: opts.ingestMaxBytes ?? SERVER_DEFAULTS.ingestMaxBytes,
    maxBodyBytes: opts.maxBodyBytes,
  });

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (err instanceof BusyError) return reply.code(429).header('retry-after', String(err.retryAfterS)).send(err.body());
    if (err instanceof ApiError) return reply.code(err.statusCode).send(err.body());
    if (err instanceof AuthError) {
      return reply.code(err.kind === 'unauthenticated' ? 401 : 403).send({ code: err.kind === 'unauthenticated' ? 'unauthorized' : 'forbidden', message: err.message });
    }
    if (err instanceof TsdbUnavailableError) {
      req.log.warn({ err }, 'metrics engine unavailable');
      return reply.code(503).header('retry-after', String(err.retryAfterSeconds)).send({ code: 'unavailable', message: 'the metrics engine is unavailable; retry later' });
    }
    const fe = err as FastifyError;
    if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ code: 'payload_too_large', message: `the body exceeds ${opts.maxBodyBytes} bytes` });
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send({ code: (fe.code ?? 'bad_request').toLowerCase(), message: fe.message });
    }
    const fault = classifyFault(err);
    if (fault) {
      req.log.warn({ fault: fault.kind, err: (err as Error).message }, 'storage unavailable, answered 503');
      return replyFault(reply, fault, 'rest');
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).send({ code: 'internal', message: 'internal server error' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  app.get('/healthz', async () => ({ status: 'ok', engine: store.engine }));
  // Who a credential is, for any role: lets `vmpulse agent --check` confirm its token and
  // AgentID binding without writing anything.
  app.get('/v1/whoami', async (req) => {
    const secret = bearerOf(req);
    if (!secret) throw new AuthError('unauthenticated', 'missing credentials: send Authorization: Bearer <secret>');
    const token = await credentials.verifyBearer(secret);
    if (!token) throw new AuthError('unauthenticated', 'invalid or revoked credentials');
    return { access_key_id: token.accessKeyId, name: token.name, role: token.role, agent_id: token.agentId };
  });
  // Only a store that takes rows (SQL) is fed by the decoders; VictoriaMetrics' ingest reads the payload.
  const decoder = new DecodePool(store.ingestRows ? (opts.ingestThreads ?? defaultIngestThreads()) : 0);
  app.addHook('onClose', () => decoder.close());
  app.metrics.attachDecoder(decoder);
  await app.register(ingestRoutes, { maxBodyBytes: opts.maxBodyBytes, retentionDays: opts.retentionDays, gate, decoder });
  await app.register(serverRoutes);
  await app.register(instanceRoutes);
  await app.register(lightsailRoutes);
  const consoleAlarms: ConsoleAlarms = { service: null };
  app.decorate('consoleAlarms', consoleAlarms);
  await app.register(consoleRoutes, { sessions, secure: Boolean(opts.https), alarms: consoleAlarms });
  await app.register(alarmRoutes, { alarms: consoleAlarms });
  return app;
}

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  store: Store;
  credentials: Credentials;
  /** Alarm evaluation and notification (src/server/alerts). */
  alerts: Alerting;
  /** Held by one replica among those on one database: it evaluates, delivers and retains. */
  lease: Lease;
  /** Runs retention now (also run at start and every retentionIntervalS). */
  runRetention(now?: number): Promise<RetentionResult>;
  /** Rolls up the tier buckets closed a minute ago or earlier (also run every rollupIntervalS). */
  runRollup(now?: number): Promise<RollupResult>;
  close(): Promise<void>;
}

/** Opens the store and master key the config names (shared by the server and the token CLI). */
/** Days each tier is kept, from the server's config (defaults: Lightsail's 15, 63, 455; the daily tier as long as the hourly one). */
export function retentionOf(config: Partial<Pick<ServerConfig, 'retentionDays' | 'retention5mDays' | 'retention1hDays' | 'retention1dDays'>>): RetentionDays {
  return { 60: config.retentionDays ?? 15, 300: config.retention5mDays ?? 63, 3600: config.retention1hDays ?? 455, 86400: config.retention1dDays ?? 455 };
}

export async function openBackend(
  config: Pick<ServerConfig, 'db' | 'keyFile' | 'pgPoolMax'> & Partial<Pick<ServerConfig, 'retentionDays' | 'retention5mDays' | 'retention1hDays' | 'retention1dDays' | 'tsdb'>>,
): Promise<{ store: Store; credentials: Credentials }> {
  const masterKey = loadOrCreateMasterKey(config.keyFile);
  const store = await openStore(config.db, { poolMax: config.pgPoolMax, retentionDays: retentionOf(config), tsdb: config.tsdb ?? null });
  try {
    await store.migrate();
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return { store, credentials: new Credentials(store, masterKey) };
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const { store, credentials } = await openBackend(config);
  let app: FastifyInstance;
  let alerts: Alerting | null = null;
  let lease: Lease | null = null;
  let tokenWatch: TokenWatch | null = null;
  try {
    const https = config.tls ? { cert: readFileSync(config.tls.certFile), key: readFileSync(config.tls.keyFile) } : null;
    app = await buildApp(store, credentials, {
      maxBodyBytes: config.maxBodyBytes,
      retentionDays: config.retentionDays,
      logLevel: config.logLevel,
      https,
      ingestMaxInFlight: config.ingestMaxInFlight,
      ingestMaxBytes: config.ingestMaxBytes,
      requestTimeoutMs: config.requestTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      consoleSessionTtlS: config.consoleSessionTtlS,
      ingestThreads: config.ingestThreads,
    });
    const held = (lease = openLease(config.db, { log: app.log }));
    const tokenCacheS = config.tokenCacheS ?? 30;
    if (tokenCacheS > 0) {
      credentials.cache = new TokenCache(tokenCacheS * 1000);
      tokenWatch = await watchTokens(config.db, credentials.cache, { log: app.log });
    }
    alerts = await startAlerting({ store, overrides: config.alerts, log: app.log, lease: () => held.acquire() });
    app.metrics.attachAlerting(alerts);
    app.metrics.attachStore(store);
    app.metrics.attachCredentials(credentials);
    app.consoleAlarms.service = alerts.service;
    await app.listen({ host: config.host, port: config.port });
  } catch (e) {
    await alerts?.stop().catch(() => {});
    await lease?.release().catch(() => {});
    await tokenWatch?.close().catch(() => {});
    await store.close().catch(() => {});
    throw e;
  }
  const held = lease;
  const watching = tokenWatch;
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${addr.port}`;

  const days = retentionOf(config);
  const runRetention = (now = Date.now() / 1000) =>
    store.retain(Math.floor(now - days[60] * 86400), { 300: Math.floor(now - days[300] * 86400), 3600: Math.floor(now - days[3600] * 86400), 86400: Math.floor(now - days[86400] * 86400) });
  let retaining: Promise<unknown> = Promise.resolve();
  const tick = () => {
    // Retention runs on the lease holder only (on SQLite the only process).
    retaining = held
      .acquire()
      .then((mine) => (mine ? runRetention() : null))
      .then(
      (r) => {
        if (r && (r.deletedRows || r.droppedPartitions.length)) app.log.info({ retention: r }, 'retention removed old per-minute data');
      },
      (err) => app.log.error({ err }, 'retention failed'),
    );
  };
  tick();
  const timer = setInterval(tick, config.retentionIntervalS * 1000);
  timer.unref();

  // A bucket is rolled up a minute after it ends, once its last minute's batch has normally
  // arrived; one arriving later makes it pending again (store/rollup.ts).
  const runRollup = async (now = Date.now() / 1000): Promise<RollupResult> => {
    const t0 = process.hrtime.bigint();
    const r = await store.rollup(Math.floor(now) - ROLLUP_GRACE_S);
    app.metrics.observeRollup(r, Number(process.hrtime.bigint() - t0) / 1e9);
    return r;
  };
  let rolling: Promise<unknown> = Promise.resolve();
  let rollupBusy = false;
  const rollupTick = () => {
    if (rollupBusy) return;
    rollupBusy = true;
    rolling = held
      .acquire()
      .then((mine) => (mine ? runRollup() : null))
      .catch((err) => app.log.error({ err }, 'tier rollup failed'))
      .finally(() => (rollupBusy = false));
  };
  const rollupTimer = setInterval(rollupTick, (config.rollupIntervalS ?? 30) * 1000);
  rollupTimer.unref();

  let closed: Promise<void> | null = null;
  return {
    url,
    app,
    store,
    credentials,
    alerts,
    lease: held,
    runRetention,
    runRollup,
    close() {
      closed ??= (async () => {
        clearInterval(timer);
        clearInterval(rollupTimer);
        await app.close();
        await alerts.stop();
        await retaining;
        await rolling;
        await held.release();
        await watching?.close();
        await store.close();
      })();
      return closed;
    },
  };
}
