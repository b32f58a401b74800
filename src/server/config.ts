// Every environment variable of `vmpulse server` and `vmpulse token`, read in one place.
//
//   VMPULSE_SERVER_LISTEN          host:port to listen on                       default 127.0.0.1:8480
//   VMPULSE_SERVER_TLS_CERT        PEM certificate file; with ..._TLS_KEY → HTTPS  default unset (HTTP)
//   VMPULSE_SERVER_TLS_KEY         PEM private key file                          default unset
//   VMPULSE_DB                     SQLite file path or postgres:// URL           default ./data/vmpulse.db
//   VMPULSE_SERVER_KEY_FILE        32-byte master key secrets are derived from   default <dir of the SQLite db>/server.key,
//                                  (created 0600 on first use)                           ./data/server.key for PostgreSQL
//   VMPULSE_SERVER_MAX_BODY_BYTES  ingest body limit, compressed and decompressed default 8388608 (8 MiB)
//   VMPULSE_RETENTION_DAYS         days of per-minute data kept                  default 15
//   VMPULSE_RETENTION_5M_DAYS      days of 300 s tier data kept (>= the above)   default 63
//   VMPULSE_RETENTION_1H_DAYS      days of 3600 s tier data kept (>= the above)  default 455
//   VMPULSE_RETENTION_1D_DAYS      days of 86400 s tier data kept (>= the above) default 455
//   VMPULSE_RETENTION_INTERVAL_S   seconds between retention runs                default 3600
//   VMPULSE_ROLLUP_INTERVAL_S      seconds between tier rollups                  default 30
//   VMPULSE_SERVER_LOG_LEVEL       pino level (fatal..trace, silent)             default info
//   VMPULSE_PG_POOL_MAX            PostgreSQL connections in the pool            default 10
//   VMPULSE_CONSOLE_SESSION_TTL_S  console sign-in lifetime, seconds             default 43200 (console/config.ts)
//   VMPULSE_TSDB_URL               VictoriaMetrics single node (time series there) default unset (in VMPULSE_DB)
//   VMPULSE_TSDB_WRITE_URL         cluster: vminsert .../insert/<tenant>/prometheus  default unset
//   VMPULSE_TSDB_READ_URL          cluster: vmselect .../select/<tenant>/prometheus  default unset
//   VMPULSE_SERVER_INGEST_MAX_INFLIGHT  batches decoded and stored at once; more wait   default 32
//                                       (32 × this ingest requests held at once; more → 429)
//   VMPULSE_SERVER_INGEST_MAX_BYTES     declared body bytes held at once; more → 429     default 67108864 (64 MiB)
//   VMPULSE_SERVER_INGEST_THREADS       threads decoding batches (0: on the event loop)  default cores − 1, 1 to 4
//   VMPULSE_SERVER_REQUEST_TIMEOUT_MS   a whole request (headers and body) must arrive within default 120000
//   VMPULSE_SERVER_HEADERS_TIMEOUT_MS   the request headers must arrive within     default 30000
//   VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS an idle keep-alive connection is closed after default 72000
//   VMPULSE_ENV_FILE               optional KEY=VALUE file (see config/env.ts)    default unset
import { dirname, join, resolve } from 'node:path';
import { ConfigError, envReader, intVar, loadEnv, parseListen } from '../config/env.js';
import { isPostgresUrl } from '../config/db-url.js';
import type { AlertingOverrides } from './alerts/index.js';
import { defaultIngestThreads } from './ingest/decode-pool.js';

export interface ServerConfig {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string } | null;
  db: string;
  keyFile: string;
  maxBodyBytes: number;
  retentionDays: number;
  retentionIntervalS: number;
  /** Seconds between tier rollups (store/rollup.ts); default 30. */
  rollupIntervalS?: number;
  /** Days the 300 s, 3600 s and 86400 s tiers are kept (default 63, 455 and 455). */
  retention5mDays?: number;
  retention1hDays?: number;
  retention1dDays?: number;
  logLevel: string;
  pgPoolMax: number;
  /** Console session lifetime; unset: VMPULSE_CONSOLE_SESSION_TTL_S (src/server/console/config.ts). */
  consoleSessionTtlS?: number;
  /** VictoriaMetrics base URLs for writes and reads; null keeps the time series in `db`. */
  tsdb?: { write: string; read: string } | null;
  /** Defaults as in loadServerConfig when a caller (a test, a bench) leaves them out. */
  ingestMaxInFlight?: number;
  ingestMaxBytes?: number;
  /** Ingest decode threads; 0 decodes on the event loop. */
  ingestThreads?: number;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Seconds a verified credential is kept in memory on PostgreSQL (token-cache.ts); 0: never. */
  tokenCacheS?: number;
  /** Over the VMPULSE_ALARM_* environment (src/server/alerts/config.ts); tests set loops: false. */
  alerts?: AlertingOverrides;
}

export const SERVER_ENV_HELP = `Environment:
  VMPULSE_SERVER_LISTEN          host:port (default 127.0.0.1:8480)
  VMPULSE_SERVER_TLS_CERT/_KEY   PEM files; both set → HTTPS (default: plain HTTP)
  VMPULSE_DB                     SQLite file or postgres:// URL (default ./data/vmpulse.db)
  VMPULSE_SERVER_KEY_FILE        master key file (default next to the SQLite db; ./data/server.key for PostgreSQL)
  VMPULSE_SERVER_MAX_BODY_BYTES  ingest limit, also after gunzip (default 8388608)
  VMPULSE_RETENTION_DAYS         per-minute data kept (default 15)
  VMPULSE_RETENTION_5M_DAYS      300 s tier kept (default 63)
  VMPULSE_RETENTION_1H_DAYS      3600 s tier kept (default 455)
  VMPULSE_RETENTION_1D_DAYS      86400 s tier kept (default 455)
  VMPULSE_RETENTION_INTERVAL_S   retention run interval (default 3600)
  VMPULSE_ROLLUP_INTERVAL_S      tier rollup interval (default 30)
  VMPULSE_SERVER_LOG_LEVEL       log level (default info)
  VMPULSE_PG_POOL_MAX            PostgreSQL pool size (default 10)
  VMPULSE_CONSOLE_SESSION_TTL_S  console session lifetime in seconds (default 43200)
  VMPULSE_SERVER_TOKEN_CACHE_S   PostgreSQL: seconds a verified credential is kept in memory, 0 = never (default 30)
  VMPULSE_TSDB_URL               VictoriaMetrics single node for the time series (default: unset, in VMPULSE_DB)
  VMPULSE_TSDB_WRITE_URL/_READ_URL  VictoriaMetrics cluster: vminsert and vmselect URLs with the tenant
  VMPULSE_SERVER_INGEST_MAX_INFLIGHT  batches stored at once; 32 × this requests held, more get 429 (default 32)
  VMPULSE_SERVER_INGEST_MAX_BYTES     body bytes of ingest requests held at once, more get 429 (default 67108864)
  VMPULSE_SERVER_INGEST_THREADS       threads decoding ingest batches, 0 = on the event loop (default cores − 1, 1 to 4)
  VMPULSE_SERVER_REQUEST_TIMEOUT_MS   whole-request deadline (default 120000)
  VMPULSE_SERVER_HEADERS_TIMEOUT_MS   request-headers deadline (default 30000)
  VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS idle keep-alive connections closed after (default 72000)
  VMPULSE_ENV_FILE               optional KEY=VALUE file read first`;

export function defaultKeyFile(db: string): string {
  return isPostgresUrl(db) ? resolve('data', 'server.key') : join(dirname(resolve(db)), 'server.key');
}

export function loadServerConfig(source: NodeJS.ProcessEnv = process.env): ServerConfig {
  const env = envReader(source);
  const listen = parseListen(env.get('VMPULSE_SERVER_LISTEN').default('127.0.0.1:8480').asString(), 'VMPULSE_SERVER_LISTEN');
  const cert = env.get('VMPULSE_SERVER_TLS_CERT').asString();
  const key = env.get('VMPULSE_SERVER_TLS_KEY').asString();
  if (Boolean(cert) !== Boolean(key)) throw new Error('VMPULSE_SERVER_TLS_CERT and VMPULSE_SERVER_TLS_KEY must be set together');
  const db = env.get('VMPULSE_DB').default('./data/vmpulse.db').asString();
  const raw = loadEnv(source);
  const retentionDays = intVar(raw, 'VMPULSE_RETENTION_DAYS', 15, { min: 1, max: 3660 });
  const retention5mDays = intVar(raw, 'VMPULSE_RETENTION_5M_DAYS', 63, { min: 1, max: 3660 });
  const retention1hDays = intVar(raw, 'VMPULSE_RETENTION_1H_DAYS', 455, { min: 1, max: 3660 });
  const retention1dDays = intVar(raw, 'VMPULSE_RETENTION_1D_DAYS', 455, { min: 1, max: 3660 });
  // A coarser tier is rebuilt from the finer rows of its bucket, and answers for what they no longer hold.
  if (retention5mDays < retentionDays) throw new ConfigError('VMPULSE_RETENTION_5M_DAYS', `VMPULSE_RETENTION_5M_DAYS (${retention5mDays}) must be at least VMPULSE_RETENTION_DAYS (${retentionDays})`);
  // A merged minute rebuilds its day from the day's hour rows: the hours of any day that still
  // takes minutes must all be kept.
  if (retention1hDays <= retentionDays) throw new ConfigError('VMPULSE_RETENTION_1H_DAYS', `VMPULSE_RETENTION_1H_DAYS (${retention1hDays}) must be more than VMPULSE_RETENTION_DAYS (${retentionDays}): a day is rebuilt from its hours`);
  if (retention1hDays < retention5mDays) throw new ConfigError('VMPULSE_RETENTION_1H_DAYS', `VMPULSE_RETENTION_1H_DAYS (${retention1hDays}) must be at least VMPULSE_RETENTION_5M_DAYS (${retention5mDays})`);
  if (retention1dDays < retention1hDays) throw new ConfigError('VMPULSE_RETENTION_1D_DAYS', `VMPULSE_RETENTION_1D_DAYS (${retention1dDays}) must be at least VMPULSE_RETENTION_1H_DAYS (${retention1hDays})`);
  const tsdbUrl = env.get('VMPULSE_TSDB_URL').asUrlString();
  const tsdbWrite = env.get('VMPULSE_TSDB_WRITE_URL').asUrlString();
  const tsdbRead = env.get('VMPULSE_TSDB_READ_URL').asUrlString();
  if (tsdbUrl && (tsdbWrite || tsdbRead)) throw new ConfigError('VMPULSE_TSDB_URL', 'set either VMPULSE_TSDB_URL or VMPULSE_TSDB_WRITE_URL with VMPULSE_TSDB_READ_URL, not both');
  if (Boolean(tsdbWrite) !== Boolean(tsdbRead)) throw new ConfigError('VMPULSE_TSDB_WRITE_URL', 'VMPULSE_TSDB_WRITE_URL and VMPULSE_TSDB_READ_URL must be set together');
  const tsdb = tsdbUrl ? { write: tsdbUrl, read: tsdbUrl } : tsdbWrite && tsdbRead ? { write: tsdbWrite, read: tsdbRead } : null;
  return {
    host: listen.host,
    port: listen.port,
    tls: cert && key ? { certFile: cert, keyFile: key } : null,
    db,
    keyFile: env.get('VMPULSE_SERVER_KEY_FILE').asString() ?? defaultKeyFile(db),
    maxBodyBytes: intVar(raw, 'VMPULSE_SERVER_MAX_BODY_BYTES', 8 * 1024 * 1024, { min: 65_536, max: 1024 ** 3 }),
    retentionDays,
    retention5mDays,
    retention1hDays,
    retention1dDays,
    retentionIntervalS: intVar(raw, 'VMPULSE_RETENTION_INTERVAL_S', 3600, { min: 60, max: 86_400 }),
    rollupIntervalS: intVar(raw, 'VMPULSE_ROLLUP_INTERVAL_S', 30, { min: 1, max: 3600 }),
    logLevel: env.get('VMPULSE_SERVER_LOG_LEVEL').default('info').asEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    pgPoolMax: intVar(raw, 'VMPULSE_PG_POOL_MAX', 10, { min: 1, max: 1000 }),
    ingestMaxInFlight: intVar(raw, 'VMPULSE_SERVER_INGEST_MAX_INFLIGHT', 32, { min: 1, max: 10_000 }),
    ingestMaxBytes: intVar(raw, 'VMPULSE_SERVER_INGEST_MAX_BYTES', 64 * 1024 * 1024, { min: 65_536, max: 64 * 1024 ** 3 }),
    ingestThreads: intVar(raw, 'VMPULSE_SERVER_INGEST_THREADS', defaultIngestThreads(), { min: 0, max: 64 }),
    requestTimeoutMs: intVar(raw, 'VMPULSE_SERVER_REQUEST_TIMEOUT_MS', 120_000, { min: 1000, max: 3_600_000 }),
    headersTimeoutMs: intVar(raw, 'VMPULSE_SERVER_HEADERS_TIMEOUT_MS', 30_000, { min: 1000, max: 600_000 }),
    keepAliveTimeoutMs: intVar(raw, 'VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS', 72_000, { min: 1000, max: 3_600_000 }),
    tokenCacheS: intVar(raw, 'VMPULSE_SERVER_TOKEN_CACHE_S', 30, { min: 0, max: 3600 }),
    tsdb,
  };
}
