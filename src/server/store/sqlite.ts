// The embedded engine: better-sqlite3 in WAL mode. Calls are synchronous underneath; the async
// signatures only keep the Store interface the same as PostgreSQL's.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Payload } from '../../ship/payload.js';
import {
  AGENT_COLS,
  HOST_MINUTE_COLS,
  INSTANCE_COLS,
  INSTANCE_MINUTE_COLS,
  agentUpsertTail,
  agentValues,
  hostMinuteValues,
  instanceMinuteValues,
  instanceUpsertTail,
  instanceValues,
  minuteUpsertTail,
  type Col,
  type Dialect,
} from './schema.js';
import { keptWindows, toAgent, toInstance, toMinuteRow, toToken } from './rows.js';
import { ALERT_MIGRATIONS } from '../alerts/migrations.js';
import type { SqlRunner } from '../alerts/bulk-source.js';
import { sqliteRunner } from '../alerts/sql-runner.js';
import {
  checkColumns,
  type AgentRow,
  type IngestOptions,
  type IngestResult,
  type InstanceFilter,
  type InstanceLookup,
  type InstanceRow,
  type MinuteRow,
  type RetentionResult,
  type Store,
  type TokenRow,
} from './store.js';

const dialect: Dialect = {
  // SQLite's scalar min()/max() return NULL when an argument is NULL; callers pass non-null values.
  least: (a, b) => `min(${a}, ${b})`,
  greatest: (a, b) => `max(${a}, ${b})`,
};

const sqlType = (c: Col): string => (c.kind === 'text' ? 'TEXT' : c.kind === 'int' ? 'INTEGER' : 'REAL');
const colDefs = (cols: readonly Col[], notNull: readonly string[]): string =>
  cols.map((c) => `${c.name} ${sqlType(c)}${notNull.includes(c.name) ? ' NOT NULL' : ''}`).join(',\n  ');

interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'agents, batches, minutes, instances, tokens',
    sql: `
CREATE TABLE agents (
  ${colDefs(AGENT_COLS, AGENT_COLS.map((c) => c.name))},
  PRIMARY KEY (agent_id)
);
CREATE TABLE batches (
  batch_id TEXT PRIMARY KEY,
  agent_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX batches_received_at ON batches (received_at);
CREATE TABLE host_minutes (
  ${colDefs(HOST_MINUTE_COLS, ['agent_id', 'minute', 'seconds', 'samples', 'net_in', 'net_out'])},
  PRIMARY KEY (agent_id, minute)
) WITHOUT ROWID;
CREATE INDEX host_minutes_minute ON host_minutes (minute);
CREATE TABLE instances (
  ${colDefs(INSTANCE_COLS, ['agent_id', 'instance_id', 'name', 'hypervisor', 'pid', 'start_time', 'allocated_vcpus', 'allocated_memory_bytes', 'tap_devices', 'running', 'has_counters', 'first_seen', 'last_seen'])},
  PRIMARY KEY (agent_id, instance_id)
);
CREATE INDEX instances_instance_id ON instances (instance_id);
CREATE INDEX instances_name ON instances (name);
CREATE TABLE instance_minutes (
  ${colDefs(INSTANCE_MINUTE_COLS, ['agent_id', 'instance_id', 'minute', 'seconds', 'samples', 'missed'])},
  PRIMARY KEY (agent_id, instance_id, minute)
) WITHOUT ROWID;
CREATE INDEX instance_minutes_minute ON instance_minutes (minute);
CREATE TABLE tokens (
  access_key_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('agent', 'reader', 'admin')),
  secret_sha256 TEXT NOT NULL UNIQUE,
  agent_id TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
`,
  },
];
// Alerting's tables (versions 1001+), owned by src/server/alerts.
MIGRATIONS.push(...ALERT_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, sql: m.sqlite })));

const placeholders = (n: number): string => `(${Array(n).fill('?').join(', ')})`;
const INSTANCE_MINUTE_SET = new Set(INSTANCE_MINUTE_COLS.map((c) => c.name));
const INSTANCE_SELECT = `SELECT i.*, a.hostname FROM instances i LEFT JOIN agents a ON a.agent_id = i.agent_id`;

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  private readonly stmts = new Map<string, Database.Statement>();

  private constructor(private readonly db: Database.Database) {}

  static open(path: string): SqliteStore {
    const file = resolve(path);
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    return new SqliteStore(db);
  }

  private st(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  async migrate(): Promise<number[]> {
    this.db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    const applied: number[] = [];
    // IMMEDIATE takes the write lock first, so two servers starting on one file cannot both apply a migration.
    const run = this.db.transaction(() => {
      const done = new Set((this.db.prepare('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version));
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Math.floor(Date.now() / 1000));
        applied.push(m.version);
      }
    });
    run.immediate();
    return applied;
  }

  async appliedMigrations(): Promise<number[]> {
    return (this.db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
  }

  async ingest(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    const tx = this.db.transaction((): IngestResult => {
      const fresh = this.st('INSERT INTO batches (batch_id, agent_id, received_at, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING').run(
        p.BatchID,
        p.AgentID,
        opts.receivedAt,
        p.CreatedAt,
      );
      if (fresh.changes === 0) return { status: 'duplicate' };
      this.st(`INSERT INTO agents (${AGENT_COLS.map((c) => c.name).join(', ')}) VALUES ${placeholders(AGENT_COLS.length)} ${agentUpsertTail(dialect)}`).run(
        ...agentValues(p, opts.receivedAt),
      );
      let skippedMinutes = 0;
      const host = keptWindows(p.Stats, opts);
      skippedMinutes += host.skipped;
      const hostSt = this.st(
        `INSERT INTO host_minutes (${HOST_MINUTE_COLS.map((c) => c.name).join(', ')}) VALUES ${placeholders(HOST_MINUTE_COLS.length)} ${minuteUpsertTail(HOST_MINUTE_COLS, ['agent_id', 'minute'])}`,
      );
      for (const w of host.kept) hostSt.run(...hostMinuteValues(p.AgentID, w));
      const instSt = this.st(`INSERT INTO instances (${INSTANCE_COLS.map((c) => c.name).join(', ')}) VALUES ${placeholders(INSTANCE_COLS.length)} ${instanceUpsertTail(dialect)}`);
      const minSt = this.st(
        `INSERT INTO instance_minutes (${INSTANCE_MINUTE_COLS.map((c) => c.name).join(', ')}) VALUES ${placeholders(INSTANCE_MINUTE_COLS.length)} ${minuteUpsertTail(INSTANCE_MINUTE_COLS, ['agent_id', 'instance_id', 'minute'])}`,
      );
      let instanceMinutes = 0;
      for (const inst of p.Instances) {
        const w = keptWindows(inst.Stats, opts);
        skippedMinutes += w.skipped;
        instSt.run(...instanceValues(p.AgentID, { ...inst, Stats: w.kept }, p.CreatedAt));
        for (const s of w.kept) minSt.run(...instanceMinuteValues(p.AgentID, inst.InstanceID, s));
        instanceMinutes += w.kept.length;
      }
      return { status: 'stored', counts: { hostMinutes: host.kept.length, instanceMinutes, instances: p.Instances.length, skippedMinutes } };
    });
    return tx.immediate();
  }

  async insertToken(t: TokenRow): Promise<void> {
    this.st('INSERT INTO tokens (access_key_id, name, role, secret_sha256, agent_id, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      t.accessKeyId,
      t.name,
      t.role,
      t.secretSha256,
      t.agentId,
      t.createdAt,
      t.revokedAt,
    );
  }

  async tokenBySecretHash(hex: string): Promise<TokenRow | null> {
    const r = this.st('SELECT * FROM tokens WHERE secret_sha256 = ?').get(hex) as Record<string, unknown> | undefined;
    return r ? toToken(r) : null;
  }

  async tokenByAccessKey(id: string): Promise<TokenRow | null> {
    const r = this.st('SELECT * FROM tokens WHERE access_key_id = ?').get(id) as Record<string, unknown> | undefined;
    return r ? toToken(r) : null;
  }

  async listTokens(): Promise<TokenRow[]> {
    return (this.st('SELECT * FROM tokens ORDER BY created_at, access_key_id').all() as Record<string, unknown>[]).map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return this.st('UPDATE tokens SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL').run(at, id).changes > 0;
  }

  async bindToken(id: string, agentId: string): Promise<string | null> {
    this.st('UPDATE tokens SET agent_id = ? WHERE access_key_id = ? AND agent_id IS NULL').run(agentId, id);
    const r = this.st('SELECT agent_id FROM tokens WHERE access_key_id = ?').get(id) as { agent_id: string | null } | undefined;
    return r?.agent_id ?? null;
  }

  async listAgents(): Promise<AgentRow[]> {
    return (this.st('SELECT * FROM agents ORDER BY hostname, agent_id').all() as Record<string, unknown>[]).map(toAgent);
  }

  async getAgent(agentId: string): Promise<AgentRow | null> {
    const r = this.st('SELECT * FROM agents WHERE agent_id = ?').get(agentId) as Record<string, unknown> | undefined;
    return r ? toAgent(r) : null;
  }

  async latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]> {
    return (this.st('SELECT * FROM host_minutes WHERE agent_id = ? ORDER BY minute DESC LIMIT ?').all(agentId, limit) as Record<string, unknown>[]).map(toMinuteRow);
  }

  async hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]> {
    return (this.st('SELECT minute FROM host_minutes WHERE agent_id = ? AND minute >= ? AND minute < ? ORDER BY minute').all(agentId, from, to) as { minute: number }[]).map(
      (r) => r.minute,
    );
  }

  async listInstances(f: InstanceFilter = {}): Promise<InstanceRow[]> {
    const rows = this.st(
      `${INSTANCE_SELECT} WHERE (? IS NULL OR i.agent_id = ? OR a.hostname = ?) AND (? IS NULL OR i.hypervisor = ?) ORDER BY i.name, i.instance_id, i.agent_id`,
    ).all(f.host ?? null, f.host ?? null, f.host ?? null, f.hypervisor ?? null, f.hypervisor ?? null) as Record<string, unknown>[];
    return rows.map(toInstance);
  }

  async findInstances(l: InstanceLookup): Promise<InstanceRow[]> {
    let rows: Record<string, unknown>[];
    if ('id' in l) rows = this.st(`${INSTANCE_SELECT} WHERE i.instance_id = ? ORDER BY i.agent_id`).all(l.id) as Record<string, unknown>[];
    else if ('name' in l) rows = this.st(`${INSTANCE_SELECT} WHERE i.name = ? ORDER BY i.agent_id, i.instance_id`).all(l.name) as Record<string, unknown>[];
    else
      rows = this.st(`${INSTANCE_SELECT} WHERE substr(i.instance_id, 1, length(?)) = ? ORDER BY i.agent_id, i.instance_id LIMIT 50`).all(
        l.idPrefix,
        l.idPrefix,
      ) as Record<string, unknown>[];
    return rows.map(toInstance);
  }

  async instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]> {
    checkColumns(columns, INSTANCE_MINUTE_SET);
    const cols = ['minute', ...columns.filter((c) => c !== 'minute')];
    const rows = this.st(
      `SELECT ${cols.join(', ')} FROM instance_minutes WHERE agent_id = ? AND instance_id = ? AND minute >= ? AND minute < ? ORDER BY minute`,
    ).all(agentId, instanceId, from, to) as Record<string, unknown>[];
    return rows.map(toMinuteRow);
  }

  async retain(cutoff: number): Promise<RetentionResult> {
    const tx = this.db.transaction(() => {
      const a = this.st('DELETE FROM instance_minutes WHERE minute < ?').run(cutoff).changes;
      const b = this.st('DELETE FROM host_minutes WHERE minute < ?').run(cutoff).changes;
      const c = this.st('DELETE FROM batches WHERE received_at < ?').run(cutoff).changes;
      return { deletedRows: a + b, droppedPartitions: [], deletedBatches: c };
    });
    return tx.immediate();
  }

  sqlRunner(): SqlRunner {
    return sqliteRunner(this.db);
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
