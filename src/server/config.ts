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
//   VMPULSE_RETENTION_INTERVAL_S   seconds between retention runs                default 3600
//   VMPULSE_SERVER_LOG_LEVEL       pino level (fatal..trace, silent)             default info
//   VMPULSE_PG_POOL_MAX            PostgreSQL connections in the pool            default 10
//   VMPULSE_SERVER_INGEST_MAX_INFLIGHT  batches decoded and stored at once; more wait   default 32
//                                       (32 × this ingest requests held at once; more → 429)
//   VMPULSE_SERVER_INGEST_MAX_BYTES     declared body bytes held at once; more → 429     default 67108864 (64 MiB)
//   VMPULSE_SERVER_REQUEST_TIMEOUT_MS   a whole request (headers and body) must arrive within default 120000
//   VMPULSE_SERVER_HEADERS_TIMEOUT_MS   the request headers must arrive within     default 30000
//   VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS an idle keep-alive connection is closed after default 72000
//   VMPULSE_ENV_FILE               optional KEY=VALUE file (see config/env.ts)    default unset
import { dirname, join, resolve } from 'node:path';
import { envReader, parseListen } from '../config/env.js';
import { isPostgresUrl } from './store/store.js';
import type { AlertingOverrides } from './alerts/index.js';

export interface ServerConfig {
  host: string;
  port: number;
  tls: { certFile: string; keyFile: string } | null;
  db: string;
  keyFile: string;
  maxBodyBytes: number;
  retentionDays: number;
  retentionIntervalS: number;
  logLevel: string;
  pgPoolMax: number;
  /** Defaults as in loadServerConfig when a caller (a test, a bench) leaves them out. */
  ingestMaxInFlight?: number;
  ingestMaxBytes?: number;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
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
  VMPULSE_RETENTION_INTERVAL_S   retention run interval (default 3600)
  VMPULSE_SERVER_LOG_LEVEL       log level (default info)
  VMPULSE_PG_POOL_MAX            PostgreSQL pool size (default 10)
  VMPULSE_SERVER_INGEST_MAX_INFLIGHT  batches stored at once; 32 × this requests held, more get 429 (default 32)
  VMPULSE_SERVER_INGEST_MAX_BYTES     body bytes of ingest requests held at once, more get 429 (default 67108864)
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
  return {
    host: listen.host,
    port: listen.port,
    tls: cert && key ? { certFile: cert, keyFile: key } : null,
    db,
    keyFile: env.get('VMPULSE_SERVER_KEY_FILE').asString() ?? defaultKeyFile(db),
    maxBodyBytes: env.get('VMPULSE_SERVER_MAX_BODY_BYTES').default(8 * 1024 * 1024).asIntPositive(),
    retentionDays: env.get('VMPULSE_RETENTION_DAYS').default(15).asIntPositive(),
    retentionIntervalS: env.get('VMPULSE_RETENTION_INTERVAL_S').default(3600).asIntPositive(),
    logLevel: env.get('VMPULSE_SERVER_LOG_LEVEL').default('info').asEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    pgPoolMax: env.get('VMPULSE_PG_POOL_MAX').default(10).asIntPositive(),
    ingestMaxInFlight: env.get('VMPULSE_SERVER_INGEST_MAX_INFLIGHT').default(32).asIntPositive(),
    ingestMaxBytes: env.get('VMPULSE_SERVER_INGEST_MAX_BYTES').default(64 * 1024 * 1024).asIntPositive(),
    requestTimeoutMs: env.get('VMPULSE_SERVER_REQUEST_TIMEOUT_MS').default(120_000).asIntPositive(),
    headersTimeoutMs: env.get('VMPULSE_SERVER_HEADERS_TIMEOUT_MS').default(30_000).asIntPositive(),
    keepAliveTimeoutMs: env.get('VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS').default(72_000).asIntPositive(),
  };
}
