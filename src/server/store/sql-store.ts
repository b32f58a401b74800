// The store, written once for both SQL engines (the dialect and connection come from sqlite.ts or
// postgres.ts). It implements both halves of the Store interface: the metadata (credentials,
// agents, instances, alarms, batch dedup) and the time series (minutes; see store.ts).
import { AlertDb } from '../alerts/db.js';
import type { Payload } from '../../ship/payload.js';
import { mergeHostWindows, mergeInstanceWindows, minuteMergeTail } from './merge.js';
import { appliedMigrations, migrate } from './migrations.js';
import { LOCK_PARTITION, dayFromName, dayName } from './postgres.js';
import { batchMinutes, keptWindows, toAgent, toInstance, toMinuteRow, toToken } from './rows.js';
import {
  AGENT_COLS,
  DAY_SECONDS,
  HOST_AGGS,
  HOST_MINUTE_COLS,
  INSTANCE_AGGS,
  INSTANCE_COLS,
  INSTANCE_MINUTE_COLS,
  agentUpsertTail,
  agentValues,
  hostMinuteValues,
  instanceMinuteValues,
  instanceUpsertTail,
  instanceValues,
} from './schema.js';
import type { Row, SqlDb, Value } from './sql.js';
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

/** Tables partitioned by day on PostgreSQL; partition names are `<table>_pYYYYMMDD`, made from integers only. */
const PARTITIONED = ['host_minutes', 'instance_minutes'] as const;
const INSTANCE_MINUTE_SET = new Set(INSTANCE_MINUTE_COLS.map((c) => c.name));
const INSTANCE_SELECT = `SELECT i.*, a.hostname FROM instances i LEFT JOIN agents a ON a.agent_id = i.agent_id`;

export class SqlStore implements Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly alarms: AlertDb;
  /** PostgreSQL: day starts whose partitions are known to exist, so most batches skip the DDL round trip. */
  private readonly partitions = new Set<number>();
  private readonly tails;

  constructor(readonly db: SqlDb) {
    this.engine = db.dialect.kind;
    this.alarms = new AlertDb(db);
    const d = db.dialect;
    this.tails = {
      agent: agentUpsertTail(d),
      instance: instanceUpsertTail(d),
      hostMinute: minuteMergeTail('host_minutes', HOST_MINUTE_COLS, ['agent_id', 'minute'], Object.values(HOST_AGGS), d),
      instanceMinute: minuteMergeTail('instance_minutes', INSTANCE_MINUTE_COLS, ['agent_id', 'instance_id', 'minute'], Object.values(INSTANCE_AGGS), d),
    };
  }

  private get partitioned(): boolean {
    return this.db.dialect.kind === 'postgres';
  }

  migrate(): Promise<number[]> {
    return migrate(this.db);
  }

  appliedMigrations(): Promise<number[]> {
    return appliedMigrations(this.db);
  }

  /** PostgreSQL: creates the daily partitions covering the given minutes (and caches which exist). */
  async ensurePartitions(minutes: Iterable<number>): Promise<string[]> {
    if (!this.partitioned) return [];
    const days = new Set<number>();
    for (const m of minutes) {
      const d = Math.floor(m / DAY_SECONDS) * DAY_SECONDS;
      if (!this.partitions.has(d)) days.add(d);
    }
    if (days.size === 0) return [];
    const created: string[] = [];
    await this.db.tx(async (e) => {
      await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_PARTITION]);
      for (const d of [...days].sort((a, b) => a - b)) {
        for (const t of PARTITIONED) {
          const name = `${t}_p${dayName(d)}`;
          // d is an integer computed here, never text from a request.
          await e.exec(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${t} FOR VALUES FROM (${d}) TO (${d + DAY_SECONDS})`);
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
      if (!this.partitioned || (e as { code?: string }).code !== '23514') throw e;
      this.partitions.clear();
      return this.ingestOnce(p, opts);
    }
  }

  private async ingestOnce(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    const host = keptWindows(p.Stats, opts, mergeHostWindows);
    const insts = p.Instances.map((i) => ({ rec: i, w: keptWindows(i.Stats, opts, mergeInstanceWindows) }));
    if (this.partitioned) await this.ensurePartitions(batchMinutes({ ...p, Stats: host.kept, Instances: insts.map((x) => ({ ...x.rec, Stats: x.w.kept })) }));
    return this.db.tx(async (e): Promise<IngestResult> => {
      const fresh = await e.run('INSERT INTO batches (batch_id, agent_id, received_at, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING', [
        p.BatchID,
        p.AgentID,
        opts.receivedAt,
        p.CreatedAt,
      ]);
      if (fresh === 0) return { status: 'duplicate' };
      await this.db.insertRows(e, 'agents', AGENT_COLS, [agentValues(p, opts.receivedAt)], this.tails.agent);
      await this.db.insertRows(e, 'host_minutes', HOST_MINUTE_COLS, host.kept.map((w) => hostMinuteValues(p.AgentID, w)), this.tails.hostMinute);
      let skippedMinutes = host.skipped;
      const instanceRows: Value[][] = [];
      const minuteRows: Value[][] = [];
      for (const x of insts) {
        skippedMinutes += x.w.skipped;
        instanceRows.push(instanceValues(p.AgentID, { ...x.rec, Stats: x.w.kept }, p.CreatedAt));
        for (const s of x.w.kept) minuteRows.push(instanceMinuteValues(p.AgentID, x.rec.InstanceID, s));
      }
      await this.db.insertRows(e, 'instances', INSTANCE_COLS, instanceRows, this.tails.instance);
      await this.db.insertRows(e, 'instance_minutes', INSTANCE_MINUTE_COLS, minuteRows, this.tails.instanceMinute);
      return { status: 'stored', counts: { hostMinutes: host.kept.length, instanceMinutes: minuteRows.length, instances: insts.length, skippedMinutes } };
    });
  }

  async insertToken(t: TokenRow): Promise<void> {
    await this.db.run('INSERT INTO tokens (access_key_id, name, role, secret_sha256, agent_id, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      t.accessKeyId,
      t.name,
      t.role,
      t.secretSha256,
      t.agentId,
      t.createdAt,
      t.revokedAt,
    ]);
  }

  async tokenBySecretHash(hex: string): Promise<TokenRow | null> {
    const r = await this.db.all('SELECT * FROM tokens WHERE secret_sha256 = ?', [hex]);
    return r[0] ? toToken(r[0]) : null;
  }

  async tokenByAccessKey(id: string): Promise<TokenRow | null> {
    const r = await this.db.all('SELECT * FROM tokens WHERE access_key_id = ?', [id]);
    return r[0] ? toToken(r[0]) : null;
  }

  async listTokens(): Promise<TokenRow[]> {
    return (await this.db.all('SELECT * FROM tokens ORDER BY seq')).map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return (await this.db.run('UPDATE tokens SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL', [at, id])) > 0;
  }

  async bindToken(id: string, agentId: string): Promise<string | null> {
    await this.db.run('UPDATE tokens SET agent_id = ? WHERE access_key_id = ? AND agent_id IS NULL', [agentId, id]);
    const r = await this.db.all('SELECT agent_id FROM tokens WHERE access_key_id = ?', [id]);
    return (r[0]?.agent_id as string | null | undefined) ?? null;
  }

  async listAgents(): Promise<AgentRow[]> {
    return (await this.db.all('SELECT * FROM agents ORDER BY hostname, agent_id')).map(toAgent);
  }

  async getAgent(agentId: string): Promise<AgentRow | null> {
    const r = await this.db.all('SELECT * FROM agents WHERE agent_id = ?', [agentId]);
    return r[0] ? toAgent(r[0]) : null;
  }

  async latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]> {
    return (await this.db.all('SELECT * FROM host_minutes WHERE agent_id = ? ORDER BY minute DESC LIMIT ?', [agentId, limit])).map(toMinuteRow);
  }

  async hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]> {
    return (await this.db.all('SELECT minute FROM host_minutes WHERE agent_id = ? AND minute >= ? AND minute < ? ORDER BY minute', [agentId, from, to])).map((r) =>
      Number(r.minute),
    );
  }

  async listInstances(f: InstanceFilter = {}): Promise<InstanceRow[]> {
    const rows = await this.db.all(
      `${INSTANCE_SELECT} WHERE (CAST(? AS TEXT) IS NULL OR i.agent_id = ? OR a.hostname = ?) AND (CAST(? AS TEXT) IS NULL OR i.hypervisor = ?) ORDER BY i.name, i.instance_id, i.agent_id`,
      [f.host ?? null, f.host ?? null, f.host ?? null, f.hypervisor ?? null, f.hypervisor ?? null],
    );
    return rows.map(toInstance);
  }

  async findInstances(l: InstanceLookup): Promise<InstanceRow[]> {
    let rows: Row[];
    if ('id' in l) rows = await this.db.all(`${INSTANCE_SELECT} WHERE i.instance_id = ? ORDER BY i.agent_id`, [l.id]);
    else if ('name' in l) rows = await this.db.all(`${INSTANCE_SELECT} WHERE i.name = ? ORDER BY i.agent_id, i.instance_id`, [l.name]);
    else rows = await this.db.all(`${INSTANCE_SELECT} WHERE substr(i.instance_id, 1, length(CAST(? AS TEXT))) = ? ORDER BY i.agent_id, i.instance_id LIMIT 50`, [l.idPrefix, l.idPrefix]);
    return rows.map(toInstance);
  }

  async instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]> {
    checkColumns(columns, INSTANCE_MINUTE_SET);
    const cols = ['minute', ...columns.filter((c) => c !== 'minute')];
    const rows = await this.db.all(`SELECT ${cols.join(', ')} FROM instance_minutes WHERE agent_id = ? AND instance_id = ? AND minute >= ? AND minute < ? ORDER BY minute`, [
      agentId,
      instanceId,
      from,
      to,
    ]);
    return rows.map(toMinuteRow);
  }

  /** PostgreSQL: the existing daily partitions of a partitioned table, with their day start (none on SQLite). */
  async listPartitions(table: (typeof PARTITIONED)[number]): Promise<{ name: string; day: number }[]> {
    if (!this.partitioned) return [];
    const r = await this.db.all(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ? ORDER BY c.relname`,
      [table],
    );
    const out: { name: string; day: number }[] = [];
    for (const row of r) {
      const day = dayFromName(String(row.name));
      if (day !== null) out.push({ name: String(row.name), day });
    }
    return out;
  }

  /**
   * Drops per-minute data older than cutoff. SQLite deletes rows; PostgreSQL drops whole days only
   * (a day straddling the cutoff is kept until all of it is older).
   */
  async retain(cutoff: number): Promise<RetentionResult> {
    if (!this.partitioned) {
      return this.db.tx(async (e) => {
        const a = await e.run('DELETE FROM instance_minutes WHERE minute < ?', [cutoff]);
        const b = await e.run('DELETE FROM host_minutes WHERE minute < ?', [cutoff]);
        const c = await e.run('DELETE FROM batches WHERE received_at < ?', [cutoff]);
        return { deletedRows: a + b, droppedPartitions: [], deletedBatches: c };
      });
    }
    const dropped: string[] = [];
    for (const t of PARTITIONED) {
      for (const p of await this.listPartitions(t)) {
        if (p.day + DAY_SECONDS > cutoff) continue;
        await this.db.tx(async (e) => {
          await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_PARTITION]);
          // p.name matched /_pYYYYMMDD$/ on a catalogue name of our own table; still quote it.
          await e.exec(`DROP TABLE IF EXISTS "${p.name.replace(/"/g, '""')}"`);
        });
        this.partitions.delete(p.day);
        dropped.push(p.name);
      }
    }
    const b = await this.db.run('DELETE FROM batches WHERE received_at < ?', [cutoff]);
    return { deletedRows: 0, droppedPartitions: dropped, deletedBatches: b };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
