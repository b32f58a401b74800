// The storage interface the server's routes, the token CLI, metric-data and the alert evaluator use.
// It has two halves: the metadata (credentials, agents, instances, alarms, batch dedup), which needs
// a transactional SQL database, and the time series (per-minute records written, period statistics
// read), which is what a metrics engine must answer. sql-store.ts implements both on SQLite (the
// default) and PostgreSQL; an engine for the time series alone (VictoriaMetrics, say) would
// implement TimeSeriesStore beside an SQL MetadataStore, without touching the routes: victoria.ts.
import type { DiskMinuteRow } from './disk-minutes.js';
import type { RollupBacklog, RollupResult } from './rollup.js';
import { isPostgresUrl } from '../../config/db-url.js';
import type { AlertDb } from '../alerts/db.js';
import type { DiskInfo, InstanceCounters, NetworkInterfaceInfo, Payload } from '../../ship/payload.js';

export type Role = 'agent' | 'reader' | 'admin';
export const ROLES: readonly Role[] = ['agent', 'reader', 'admin'];

export interface TokenRow {
  accessKeyId: string;
  name: string;
  role: Role;
  /** Hex SHA-256 of the derived secret; the secret itself is never stored. */
  secretSha256: string;
  agentId: string | null;
  createdAt: number;
  revokedAt: number | null;
}

import type { BatchRows } from './batch-rows.js';

export interface IngestOptions {
  /** Unix seconds when the server received the batch. */
  receivedAt: number;
  /** Minutes outside [minMinute, maxMinute] are not stored (expired by retention, or from a clock far ahead). */
  minMinute?: number;
  maxMinute?: number;
}

export interface IngestCounts {
  hostMinutes: number;
  instanceMinutes: number;
  instances: number;
  skippedMinutes: number;
}

export type IngestResult = { status: 'stored'; counts: IngestCounts } | { status: 'duplicate' };

export interface AgentRow {
  agentId: string;
  hostname: string;
  agentVersion: string;
  operatingSystem: string;
  kernel: string;
  cpuModel: string;
  cpuSpeed: number;
  cpuCores: number;
  ram: number;
  swap: number;
  systemUptime: number;
  disks: DiskInfo[];
  networkInterfaces: NetworkInterfaceInfo[];
  /** Unix seconds of the first and the latest batch received. */
  firstSeen: number;
  lastSeen: number;
  /** CreatedAt of the newest batch whose facts are stored. */
  lastCreatedAt: number;
}

export interface InstanceRow {
  agentId: string;
  hostname: string;
  instanceId: string;
  name: string;
  hypervisor: string;
  pid: number;
  startTime: number;
  allocatedVcpus: number;
  allocatedMemoryBytes: number;
  tapDevices: string[];
  running: boolean;
  counters: InstanceCounters | null;
  /** Unix seconds (agent CreatedAt) of the first and latest batch that carried the instance. */
  firstSeen: number;
  lastSeen: number;
  /** The earliest minute with a record, null when none was sent yet. */
  firstMinute: number | null;
}

export interface InstanceFilter {
  /** Agent id or hostname. */
  host?: string;
  hypervisor?: string;
}

export type InstanceLookup = { id: string } | { name: string } | { idPrefix: string };

/** A row of a per-minute table, keyed by column name (see schema.ts). */
export type MinuteRow = Record<string, number | null>;

export interface RetentionResult {
  /** Rows deleted (SQLite; minutes and tiers) or whole partitions dropped (PostgreSQL, table names). */
  deletedRows: number;
  droppedPartitions: string[];
  deletedBatches: number;
}

/** A console sign-in (src/server/console): the session id is only ever stored hashed. */
export interface SessionRow {
  idSha256: string;
  accessKeyId: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** The newest per-minute record of one instance (the console's fleet table). */
export interface LatestInstanceWindow {
  agentId: string;
  instanceId: string;
  /** `minute` plus the requested columns. */
  row: MinuteRow;
}

/** Credentials, hosts, instances and alarms: small, transactional, read by every request. */
export interface MetadataStore {
  insertToken(t: TokenRow): Promise<void>;
  tokenBySecretHash(sha256Hex: string): Promise<TokenRow | null>;
  tokenByAccessKey(accessKeyId: string): Promise<TokenRow | null>;
  /** In creation order. */
  listTokens(): Promise<TokenRow[]>;
  revokeToken(accessKeyId: string, at: number): Promise<boolean>;
  /** Binds an unbound agent token to agentId; returns the agent id the token is bound to afterwards. */
  bindToken(accessKeyId: string, agentId: string): Promise<string | null>;
  /** `fn` runs after every write to the credentials made through this store, before the write's promise resolves (token-cache.ts). */
  onTokensWritten(fn: () => void): void;

  listAgents(): Promise<AgentRow[]>;
  getAgent(agentId: string): Promise<AgentRow | null>;
  listInstances(filter?: InstanceFilter): Promise<InstanceRow[]>;
  findInstances(lookup: InstanceLookup): Promise<InstanceRow[]>;

  /** Console sign-ins (src/server/console). Stores a new session; also deletes sessions that expired before `purgeBefore`. */
  insertSession(s: SessionRow, purgeBefore: number): Promise<void>;
  sessionByIdHash(idSha256: string): Promise<SessionRow | null>;
  /** Marks a live session revoked; false when it was unknown or already revoked. */
  revokeSession(idSha256: string, at: number): Promise<boolean>;

  /** Alarms, their per-instance states, history and notification outbox, on the same database. */
  readonly alarms: AlertDb;
}

/** The resolutions kept: minutes, and the 300 s, 3600 s and 86400 s tiers. */
export type Tier = 60 | 300 | 3600 | 86400;
export type RetentionDays = Record<Tier, number>;
/** Lightsail's: 60 s data for 15 days, 300 s for 63 days, 3600 s for 455 days (and days as long as hours). */
export const DEFAULT_RETENTION_DAYS: RetentionDays = { 60: 15, 300: 63, 3600: 455, 86400: 455 };
export type RetentionCutoffs = Partial<Record<300 | 3600 | 86400, number>>;

/** A host (agentId alone) or one of its instances. */
export interface SeriesTarget {
  agentId: string;
  instanceId?: string;
}
/** gauge: statistics over samples; total: one value per minute (bytes). */
export type StatKind = 'gauge' | 'total';
/** One period bucket's statistics of a metric; `t` is its start (unix seconds). */
export interface StatRow {
  t: number;
  min: number;
  max: number;
  sum: number;
  count: number;
}
/** Minute presence in a bucket starting at `t`: bit k (lo: 0..29, hi: 30..59) is minute t + 60k. */
export interface MaskRow {
  t: number;
  lo: number;
  hi: number;
}

/**
 * What a metrics engine must answer: minutes written (merged, see merge.ts) and kept per tier;
 * read back as raw minutes, or as per-bucket statistics and presence masks of one tier, from which
 * metric-data.ts computes every period statistic.
 */
export interface TimeSeriesStore {
  /** Days each tier is kept; queries older than a tier's retention are answered from a coarser one. */
  readonly retentionDays: RetentionDays;
  /**
   * Period statistics of one metric (a column prefix of schema.ts's tier lists) over [from, to),
   * read from one tier (`period` a multiple of it), one row per period bucket with data, ascending.
   */
  statRows(target: SeriesTarget, tier: Tier, from: number, to: number, stat: string, kind: StatKind, period: number): Promise<StatRow[]>;
  /** Host: minutes with a host record; instance: minutes in which the VM was sampled. In [from, to), ascending. */
  maskRows(target: SeriesTarget, tier: Tier, from: number, to: number): Promise<MaskRow[]>;
  /** The newest `limit` host minutes, newest first. */
  latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]>;
  /** Minutes in [from, to) that have a host record, ascending. */
  hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]>;
  /** Records of one instance in [from, to), ascending, with `minute` plus the named columns. */
  instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]>;
  /** For every instance with a record at or after `since`, its newest record: one query for the whole fleet (the console's table). */
  latestInstanceWindows(since: number, columns: readonly string[]): Promise<LatestInstanceWindow[]>;
  /** Per-disk counters of one instance in [from, to), by minute then device (disk-minutes.ts). */
  instanceDiskMinutes(agentId: string, instanceId: string, from: number, to: number): Promise<DiskMinuteRow[]>;
  /**
   * Builds the tier rows of minutes stored since the last rollup, for buckets that end at or
   * before `closedBy` (store/rollup.ts). Reads never depend on it: buckets not rolled up are read
   * from finer data. Engines that keep no tiers of their own do nothing.
   */
  rollup(closedBy: number): Promise<RollupResult>;
  /** What waits for the rollup, per tier: agent-buckets pending, and the end of the earliest (null when none). */
  rollupBacklog(): Promise<RollupBacklog[]>;
  /** Rolls up what it cuts, then drops minutes older than cutoff (unix seconds), tier rows older than their cutoffs, and batch ids received before cutoff. */
  retain(cutoff: number, tiers?: RetentionCutoffs): Promise<RetentionResult>;
}

export interface Store extends MetadataStore, TimeSeriesStore {
  readonly engine: 'sqlite' | 'postgres';
  /** Applies pending migrations (store and alerting, one registry); returns the versions applied by this call. */
  migrate(): Promise<number[]>;
  appliedMigrations(): Promise<number[]>;
  /**
   * Stores the whole batch in one transaction — its BatchID (dedup), host and instance facts, and
   * its minutes — or nothing when its BatchID was seen before.
   */
  ingest(batch: Payload, opts: IngestOptions): Promise<IngestResult>;
  /** As ingest, for a batch already turned into rows (batch-rows.ts); engines that store rows in SQL have it. */
  ingestRows?(batch: BatchRows): Promise<IngestResult>;
  close(): Promise<void>;
}

export { isPostgresUrl } from '../../config/db-url.js';

export interface OpenStoreOptions {
  poolMax?: number;
  retentionDays?: Partial<RetentionDays>;
  /** VictoriaMetrics write and read base URLs: the time series go there, the rest stays in `db`. */
  tsdb?: { write: string; read: string } | null;
}

/** Opens the engine VMPULSE_DB names (a postgres:// URL or a SQLite file path); does not migrate. */
export async function openStore(db: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const { SqlStore } = await import('./sql-store.js');
  let sql;
  if (isPostgresUrl(db)) {
    const { PgDb } = await import('./postgres.js');
    sql = new SqlStore(PgDb.open(db, opts), opts.retentionDays);
  } else {
    const { SqliteDb } = await import('./sqlite.js');
    sql = new SqlStore(SqliteDb.open(db), opts.retentionDays);
  }
  if (!opts.tsdb) return sql;
  const { VictoriaStore } = await import('./victoria.js');
  return new VictoriaStore(sql, opts.tsdb);
}

/** Sanity check for column names that come from code, so that no identifier is ever built from input. */
export function checkColumns(columns: readonly string[], allowed: ReadonlySet<string>): void {
  for (const c of columns) if (!allowed.has(c)) throw new Error(`unknown column ${c}`);
}
