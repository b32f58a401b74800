// The storage interface the server's routes, the token CLI, metric-data and the alert evaluator use.
// Two engines implement it: sqlite.ts (embedded, the default) and postgres.ts (a fleet's store).
import type { DiskInfo, InstanceCounters, NetworkInterfaceInfo, Payload } from '../../ship/payload.js';
import type { SqlRunner } from '../alerts/bulk-source.js';

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
  /** Rows deleted (SQLite) or whole partitions dropped (PostgreSQL, table names). */
  deletedRows: number;
  droppedPartitions: string[];
  deletedBatches: number;
}

export interface Store {
  readonly engine: 'sqlite' | 'postgres';
  /** Applies pending migrations; returns the versions applied by this call. */
  migrate(): Promise<number[]>;
  appliedMigrations(): Promise<number[]>;
  /** Stores the whole batch in one transaction, or nothing when its BatchID was seen before. */
  ingest(batch: Payload, opts: IngestOptions): Promise<IngestResult>;

  insertToken(t: TokenRow): Promise<void>;
  tokenBySecretHash(sha256Hex: string): Promise<TokenRow | null>;
  tokenByAccessKey(accessKeyId: string): Promise<TokenRow | null>;
  listTokens(): Promise<TokenRow[]>;
  revokeToken(accessKeyId: string, at: number): Promise<boolean>;
  /** Binds an unbound agent token to agentId; returns the agent id the token is bound to afterwards. */
  bindToken(accessKeyId: string, agentId: string): Promise<string | null>;

  listAgents(): Promise<AgentRow[]>;
  getAgent(agentId: string): Promise<AgentRow | null>;
  /** The newest `limit` host minutes, newest first. */
  latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]>;
  /** Minutes in [from, to) that have a host record, ascending. */
  hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]>;
  listInstances(filter?: InstanceFilter): Promise<InstanceRow[]>;
  findInstances(lookup: InstanceLookup): Promise<InstanceRow[]>;
  /** Records of one instance in [from, to), ascending, with `minute` plus the named columns. */
  instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]>;
  /** Drops per-minute data older than cutoff (unix seconds) and batch ids received before it. */
  retain(cutoff: number): Promise<RetentionResult>;
  /** Read-only statements on the store's own connection, for the set-based alarm queries. */
  sqlRunner(): SqlRunner;
  close(): Promise<void>;
}

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export interface OpenStoreOptions {
  poolMax?: number;
}

/** Opens the engine VMPULSE_DB names (a postgres:// URL or a SQLite file path); does not migrate. */
export async function openStore(db: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (isPostgresUrl(db)) {
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.open(db, opts);
  }
  const { SqliteStore } = await import('./sqlite.js');
  return SqliteStore.open(db);
}

/** Sanity check for column names that come from code, so that no identifier is ever built from input. */
export function checkColumns(columns: readonly string[], allowed: ReadonlySet<string>): void {
  for (const c of columns) if (!allowed.has(c)) throw new Error(`unknown column ${c}`);
}
