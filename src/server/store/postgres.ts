// The fleet engine: PostgreSQL through a pg Pool. Per-minute tables are declaratively partitioned
// by range of `minute` into one partition per UTC day, created ahead as batches need them, so
// retention is a DROP TABLE of whole days instead of a DELETE that bloats the table.
import pg from 'pg';
import type { Payload } from '../../ship/payload.js';
import {
  AGENT_COLS,
  DAY_SECONDS,
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
  type Value,
} from './schema.js';
import { batchMinutes, keptWindows, toAgent, toInstance, toMinuteRow, toToken } from './rows.js';
import { ALERT_MIGRATIONS } from '../alerts/migrations.js';
import type { SqlRunner } from '../alerts/bulk-source.js';
import { postgresRunner } from '../alerts/sql-runner.js';
import {
  checkColumns,
  type AgentRow,
  type IngestOptions,
  type IngestResult,
  type InstanceFilter,
  type InstanceLookup,
  type InstanceRow,
  type MinuteRow,
  type OpenStoreOptions,
  type RetentionResult,
  type Store,
  type TokenRow,
} from './store.js';

const dialect: Dialect = { least: (a, b) => `LEAST(${a}, ${b})`, greatest: (a, b) => `GREATEST(${a}, ${b})` };
const pgType = (c: Col): string => (c.kind === 'text' ? 'text' : c.kind === 'int' ? 'bigint' : 'double precision');
const colDefs = (cols: readonly Col[], notNull: readonly string[]): string =>
  cols.map((c) => `${c.name} ${pgType(c)}${notNull.includes(c.name) ? ' NOT NULL' : ''}`).join(',\n  ');

/** Both partitioned tables; partition names are `<table>_pYYYYMMDD`, made from integers only. */
const PARTITIONED = ['host_minutes', 'instance_minutes'] as const;
// Serialises migrations and partition creation across servers sharing one database.
const LOCK_MIGRATE = 0x766d7075;
const LOCK_PARTITION = 0x766d7076;

interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'agents, batches, partitioned minutes, instances, tokens',
    sql: `
CREATE TABLE agents (
  ${colDefs(AGENT_COLS, AGENT_COLS.map((c) => c.name))},
  PRIMARY KEY (agent_id)
);
CREATE TABLE batches (
  batch_id text PRIMARY KEY,
  agent_id text NOT NULL,
  received_at bigint NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX batches_received_at ON batches (received_at);
CREATE TABLE host_minutes (
  ${colDefs(HOST_MINUTE_COLS, ['agent_id', 'minute', 'seconds', 'samples', 'net_in', 'net_out'])},
  PRIMARY KEY (agent_id, minute)
) PARTITION BY RANGE (minute);
CREATE TABLE instances (
  ${colDefs(INSTANCE_COLS, ['agent_id', 'instance_id', 'name', 'hypervisor', 'pid', 'start_time', 'allocated_vcpus', 'allocated_memory_bytes', 'tap_devices', 'running', 'has_counters', 'first_seen', 'last_seen'])},
  PRIMARY KEY (agent_id, instance_id)
);
CREATE INDEX instances_instance_id ON instances (instance_id text_pattern_ops);
CREATE INDEX instances_name ON instances (name);
CREATE TABLE instance_minutes (
  ${colDefs(INSTANCE_MINUTE_COLS, ['agent_id', 'instance_id', 'minute', 'seconds', 'samples', 'missed'])},
  PRIMARY KEY (agent_id, instance_id, minute)
) PARTITION BY RANGE (minute);
CREATE TABLE tokens (
  access_key_id text PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('agent', 'reader', 'admin')),
  secret_sha256 text NOT NULL UNIQUE,
  agent_id text,
  created_at bigint NOT NULL,
  revoked_at bigint
);
`,
  },
];
// Alerting's tables (versions 1001+), owned by src/server/alerts.
MIGRATIONS.push(...ALERT_MIGRATIONS.map((m) => ({ version: m.version, name: m.name, sql: m.postgres })));

function dayName(dayStart: number): string {
  return new Date(dayStart * 1000).toISOString().slice(0, 10).replace(/-/g, '');
}

function dayFromName(name: string): number | null {
  const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000 : null;
}

/** INSERT ... SELECT FROM unnest(...): one parameter per column whatever the row count. */
function unnestInsert(table: string, cols: readonly Col[], tail: string): string {
  const arrays = cols.map((c, i) => `$${i + 1}::${pgType(c)}[]`).join(', ');
  return `INSERT INTO ${table} (${cols.map((c) => c.name).join(', ')}) SELECT * FROM unnest(${arrays}) ${tail}`;
}

function columnsOf(rows: Value[][], width: number): Value[][] {
  const out: Value[][] = Array.from({ length: width }, () => new Array<Value>(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let c = 0; c < width; c++) out[c]![r] = row[c]!;
  }
  return out;
}

const INSTANCE_MINUTE_SET = new Set(INSTANCE_MINUTE_COLS.map((c) => c.name));
const INSTANCE_SELECT = `SELECT i.*, a.hostname FROM instances i LEFT JOIN agents a ON a.agent_id = i.agent_id`;
const SQL_AGENT = `INSERT INTO agents (${AGENT_COLS.map((c) => c.name).join(', ')}) VALUES (${AGENT_COLS.map((_, i) => `$${i + 1}`).join(', ')}) ${agentUpsertTail(dialect)}`;
const SQL_HOST_MINUTES = unnestInsert('host_minutes', HOST_MINUTE_COLS, minuteUpsertTail(HOST_MINUTE_COLS, ['agent_id', 'minute']));
const SQL_INSTANCES = unnestInsert('instances', INSTANCE_COLS, instanceUpsertTail(dialect));
const SQL_INSTANCE_MINUTES = unnestInsert('instance_minutes', INSTANCE_MINUTE_COLS, minuteUpsertTail(INSTANCE_MINUTE_COLS, ['agent_id', 'instance_id', 'minute']));

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  /** Day starts whose partitions are known to exist, so most batches skip the DDL round trip. */
  private readonly partitions = new Set<number>();

  private constructor(private readonly pool: pg.Pool) {}

  static open(url: string, opts: OpenStoreOptions = {}): PostgresStore {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolMax ?? 10,
      // bigint columns hold unix seconds and byte counts, all below 2^53.
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === 20 ? (v: string) => Number(v) : (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client losing its connection must not take the server down; the next query reconnects.
    pool.on('error', () => {});
    return new PostgresStore(pool);
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  async migrate(): Promise<number[]> {
    return this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_MIGRATE]);
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
      const done = new Set((await c.query('SELECT version FROM schema_migrations')).rows.map((r) => Number(r.version)));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Math.floor(Date.now() / 1000)]);
        applied.push(m.version);
      }
      return applied;
    });
  }

  async appliedMigrations(): Promise<number[]> {
    return (await this.pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => Number(r.version));
  }

  /** Creates the daily partitions covering the given minutes (and caches which exist). */
  async ensurePartitions(minutes: Iterable<number>): Promise<string[]> {
    const days = new Set<number>();
    for (const m of minutes) {
      const d = Math.floor(m / DAY_SECONDS) * DAY_SECONDS;
      if (!this.partitions.has(d)) days.add(d);
    }
    if (days.size === 0) return [];
    const created: string[] = [];
    await this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_PARTITION]);
      for (const d of [...days].sort((a, b) => a - b)) {
        for (const t of PARTITIONED) {
          const name = `${t}_p${dayName(d)}`;
          // d is an integer computed here, never text from a request.
          await c.query(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${t} FOR VALUES FROM (${d}) TO (${d + DAY_SECONDS})`);
          created.push(name);
        }
      }
    });
    for (const d of days) this.partitions.add(d);
    return created;
  }

  async ingest(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    try {
      return await this.ingestOnce(p, opts);
    } catch (e) {
      // Another server sharing the database may have dropped a partition this one still has cached.
      if ((e as { code?: string }).code !== '23514') throw e;
      this.partitions.clear();
      return this.ingestOnce(p, opts);
    }
  }

  private async ingestOnce(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    const host = keptWindows(p.Stats, opts);
    const insts = p.Instances.map((i) => ({ rec: i, w: keptWindows(i.Stats, opts) }));
    const minutes = batchMinutes({ ...p, Stats: host.kept, Instances: insts.map((x) => ({ ...x.rec, Stats: x.w.kept })) });
    await this.ensurePartitions(minutes);
    return this.tx(async (c) => {
      const fresh = await c.query(
        'INSERT INTO batches (batch_id, agent_id, received_at, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (batch_id) DO NOTHING RETURNING batch_id',
        [p.BatchID, p.AgentID, opts.receivedAt, p.CreatedAt],
      );
      if (fresh.rowCount === 0) return { status: 'duplicate' } as const;
      await c.query(SQL_AGENT, agentValues(p, opts.receivedAt));
      if (host.kept.length) {
        await c.query(SQL_HOST_MINUTES, columnsOf(host.kept.map((w) => hostMinuteValues(p.AgentID, w)), HOST_MINUTE_COLS.length));
      }
      let skippedMinutes = host.skipped;
      let instanceMinutes = 0;
      if (insts.length) {
        await c.query(SQL_INSTANCES, columnsOf(insts.map((x) => instanceValues(p.AgentID, { ...x.rec, Stats: x.w.kept }, p.CreatedAt)), INSTANCE_COLS.length));
        const rows: Value[][] = [];
        for (const x of insts) {
          skippedMinutes += x.w.skipped;
          for (const s of x.w.kept) rows.push(instanceMinuteValues(p.AgentID, x.rec.InstanceID, s));
        }
        instanceMinutes = rows.length;
        // Bounded statement size: a 100k-instance batch is inserted in slices within the same transaction.
        for (let i = 0; i < rows.length; i += 20000) {
          await c.query(SQL_INSTANCE_MINUTES, columnsOf(rows.slice(i, i + 20000), INSTANCE_MINUTE_COLS.length));
        }
      }
      return { status: 'stored', counts: { hostMinutes: host.kept.length, instanceMinutes, instances: insts.length, skippedMinutes } } as const;
    });
  }

  async insertToken(t: TokenRow): Promise<void> {
    await this.pool.query(
      'INSERT INTO tokens (access_key_id, name, role, secret_sha256, agent_id, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [t.accessKeyId, t.name, t.role, t.secretSha256, t.agentId, t.createdAt, t.revokedAt],
    );
  }

  async tokenBySecretHash(hex: string): Promise<TokenRow | null> {
    const r = await this.pool.query('SELECT * FROM tokens WHERE secret_sha256 = $1', [hex]);
    return r.rows[0] ? toToken(r.rows[0]) : null;
  }

  async tokenByAccessKey(id: string): Promise<TokenRow | null> {
    const r = await this.pool.query('SELECT * FROM tokens WHERE access_key_id = $1', [id]);
    return r.rows[0] ? toToken(r.rows[0]) : null;
  }

  async listTokens(): Promise<TokenRow[]> {
    return (await this.pool.query('SELECT * FROM tokens ORDER BY created_at, access_key_id')).rows.map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return ((await this.pool.query('UPDATE tokens SET revoked_at = $1 WHERE access_key_id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) > 0;
  }

  async bindToken(id: string, agentId: string): Promise<string | null> {
    await this.pool.query('UPDATE tokens SET agent_id = $1 WHERE access_key_id = $2 AND agent_id IS NULL', [agentId, id]);
    const r = await this.pool.query('SELECT agent_id FROM tokens WHERE access_key_id = $1', [id]);
    return r.rows[0]?.agent_id ?? null;
  }

  async listAgents(): Promise<AgentRow[]> {
    return (await this.pool.query('SELECT * FROM agents ORDER BY hostname, agent_id')).rows.map(toAgent);
  }

  async getAgent(agentId: string): Promise<AgentRow | null> {
    const r = await this.pool.query('SELECT * FROM agents WHERE agent_id = $1', [agentId]);
    return r.rows[0] ? toAgent(r.rows[0]) : null;
  }

  async latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]> {
    return (await this.pool.query('SELECT * FROM host_minutes WHERE agent_id = $1 ORDER BY minute DESC LIMIT $2', [agentId, limit])).rows.map(toMinuteRow);
  }

  async hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]> {
    const r = await this.pool.query('SELECT minute FROM host_minutes WHERE agent_id = $1 AND minute >= $2 AND minute < $3 ORDER BY minute', [agentId, from, to]);
    return r.rows.map((x) => Number(x.minute));
  }

  async listInstances(f: InstanceFilter = {}): Promise<InstanceRow[]> {
    const r = await this.pool.query(
      `${INSTANCE_SELECT} WHERE ($1::text IS NULL OR i.agent_id = $1 OR a.hostname = $1) AND ($2::text IS NULL OR i.hypervisor = $2) ORDER BY i.name, i.instance_id, i.agent_id`,
      [f.host ?? null, f.hypervisor ?? null],
    );
    return r.rows.map(toInstance);
  }

  async findInstances(l: InstanceLookup): Promise<InstanceRow[]> {
    let r: pg.QueryResult;
    if ('id' in l) r = await this.pool.query(`${INSTANCE_SELECT} WHERE i.instance_id = $1 ORDER BY i.agent_id`, [l.id]);
    else if ('name' in l) r = await this.pool.query(`${INSTANCE_SELECT} WHERE i.name = $1 ORDER BY i.agent_id, i.instance_id`, [l.name]);
    else
      r = await this.pool.query(`${INSTANCE_SELECT} WHERE substr(i.instance_id, 1, length($1)) = $1 ORDER BY i.agent_id, i.instance_id LIMIT 50`, [l.idPrefix]);
    return r.rows.map(toInstance);
  }

  async instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]> {
    checkColumns(columns, INSTANCE_MINUTE_SET);
    const cols = ['minute', ...columns.filter((c) => c !== 'minute')];
    const r = await this.pool.query(
      `SELECT ${cols.join(', ')} FROM instance_minutes WHERE agent_id = $1 AND instance_id = $2 AND minute >= $3 AND minute < $4 ORDER BY minute`,
      [agentId, instanceId, from, to],
    );
    return r.rows.map(toMinuteRow);
  }

  /** Names of the existing daily partitions of a partitioned table, with their day start. */
  async listPartitions(table: (typeof PARTITIONED)[number]): Promise<{ name: string; day: number }[]> {
    const r = await this.pool.query(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = $1 ORDER BY c.relname`,
      [table],
    );
    const out: { name: string; day: number }[] = [];
    for (const row of r.rows) {
      const day = dayFromName(String(row.name));
      if (day !== null) out.push({ name: String(row.name), day });
    }
    return out;
  }

  /** Drops whole days only: a day straddling the cutoff is kept until all of it is older. */
  async retain(cutoff: number): Promise<RetentionResult> {
    const dropped: string[] = [];
    for (const t of PARTITIONED) {
      for (const p of await this.listPartitions(t)) {
        if (p.day + DAY_SECONDS > cutoff) continue;
        await this.tx(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock($1)', [LOCK_PARTITION]);
          // p.name matched /_pYYYYMMDD$/ on a catalogue name of our own table; still quote it.
          await c.query(`DROP TABLE IF EXISTS "${p.name.replace(/"/g, '""')}"`);
        });
        this.partitions.delete(p.day);
        dropped.push(p.name);
      }
    }
    const b = await this.pool.query('DELETE FROM batches WHERE received_at < $1', [cutoff]);
    return { deletedRows: 0, droppedPartitions: dropped, deletedBatches: b.rowCount ?? 0 };
  }

  sqlRunner(): SqlRunner {
    return postgresRunner(this.pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
