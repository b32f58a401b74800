// Shipping configuration from VMPULSE_* variables (and VMPULSE_ENV_FILE). Every variable has a
// default except the endpoint: without one the agent does not ship, and does not open an outbox.
import { ConfigError, envReader, intVar, loadEnv } from '../config/env.js';

export interface ShipConfig {
  /** VMPULSE_ENDPOINT, split on commas: failover order. Empty = shipping off. */
  endpoints: string[];
  /** VMPULSE_TOKEN: the Bearer token. Never logged. */
  token: string | undefined;
  /** VMPULSE_AGENT_ID: overrides /etc/machine-id. */
  agentId: string | undefined;
  spoolDir: string;
  spoolMaxBytes: number;
  spoolMaxAgeSeconds: number;
  segmentMaxBytes: number;
  segmentMaxRecords: number;
  timeoutMs: number;
  concurrency: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** How long after failing over before the first endpoint is tried again. */
  failbackMs: number;
  /** How long close() may spend delivering what is pending on SIGTERM/SIGINT. */
  flushMs: number;
}

export const SHIP_DEFAULTS = {
  spoolDir: '/var/lib/vmpulse/spool',
  spoolMaxBytes: 256 * 1024 * 1024,
  spoolMaxAgeSeconds: 7 * 24 * 3600,
  segmentMaxBytes: 4 * 1024 * 1024,
  segmentMaxRecords: 64,
  timeoutMs: 10_000,
  concurrency: 2,
  backoffInitialMs: 1000,
  backoffMaxMs: 60_000,
  failbackMs: 30_000,
  flushMs: 5000,
} as const;

/** Splits and checks VMPULSE_ENDPOINT; a trailing slash is dropped so `${base}/v1/ingest` is clean. */
export function parseEndpoints(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        throw new Error(`VMPULSE_ENDPOINT: not a URL: ${JSON.stringify(s)}`);
      }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`VMPULSE_ENDPOINT: not http(s): ${JSON.stringify(s)}`);
      if (u.username || u.password) throw new Error('VMPULSE_ENDPOINT: put credentials in VMPULSE_TOKEN, not in the URL');
      return s.replace(/\/+$/, '');
    });
}

export function readShipConfig(source: NodeJS.ProcessEnv = process.env): ShipConfig {
  const env = envReader(source);
  const raw = loadEnv(source);
  const int = (name: string, def: number, min: number, max: number) => intVar(raw, name, def, { min, max });
  const backoffInitialMs = int('VMPULSE_SHIP_BACKOFF_INITIAL_MS', SHIP_DEFAULTS.backoffInitialMs, 1, 3_600_000);
  const backoffMaxMs = int('VMPULSE_SHIP_BACKOFF_MAX_MS', SHIP_DEFAULTS.backoffMaxMs, 1, 86_400_000);
  if (backoffMaxMs < backoffInitialMs) throw new ConfigError('VMPULSE_SHIP_BACKOFF_MAX_MS', 'VMPULSE_SHIP_BACKOFF_MAX_MS must not be below VMPULSE_SHIP_BACKOFF_INITIAL_MS');
  const spoolMaxBytes = int('VMPULSE_SPOOL_MAX_BYTES', SHIP_DEFAULTS.spoolMaxBytes, 65_536, 2 ** 50);
  const segmentMaxBytes = int('VMPULSE_SPOOL_SEGMENT_BYTES', SHIP_DEFAULTS.segmentMaxBytes, 1024, 1024 ** 3);
  return {
    endpoints: parseEndpoints(env.get('VMPULSE_ENDPOINT').asString()),
    token: env.get('VMPULSE_TOKEN').asString() || undefined,
    agentId: env.get('VMPULSE_AGENT_ID').asString() || undefined,
    spoolDir: env.get('VMPULSE_SPOOL_DIR').default(SHIP_DEFAULTS.spoolDir).asString(),
    spoolMaxBytes,
    spoolMaxAgeSeconds: int('VMPULSE_SPOOL_MAX_AGE_SECONDS', SHIP_DEFAULTS.spoolMaxAgeSeconds, 60, 366 * 86_400),
    segmentMaxBytes,
    segmentMaxRecords: int('VMPULSE_SPOOL_SEGMENT_RECORDS', SHIP_DEFAULTS.segmentMaxRecords, 1, 100_000),
    timeoutMs: int('VMPULSE_SHIP_TIMEOUT_MS', SHIP_DEFAULTS.timeoutMs, 100, 600_000),
    concurrency: int('VMPULSE_SHIP_CONCURRENCY', SHIP_DEFAULTS.concurrency, 1, 64),
    backoffInitialMs,
    backoffMaxMs,
    failbackMs: int('VMPULSE_SHIP_FAILBACK_MS', SHIP_DEFAULTS.failbackMs, 100, 86_400_000),
    flushMs: int('VMPULSE_SHIP_FLUSH_MS', SHIP_DEFAULTS.flushMs, 1, 600_000),
  };
}
