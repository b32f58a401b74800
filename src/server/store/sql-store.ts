// The store, written once for both SQL engines (the dialect and connection come from sqlite.ts or
// postgres.ts). It implements both halves of the Store interface: the metadata (credentials,
// agents, instances, alarms, batch dedup) and the time series (minutes; see store.ts).
import { AlertDb } from '../alerts/db.js';
import type { Payload } from '../../ship/payload.js';
import { minuteMergeTail } from './merge.js';
import { appliedMigrations, migrate } from './migrations.js';
import { Retention, type PartitionedTable } from './retention.js';
import { rebuildSql, tierSpec, type TierKind } from './tiers.js';
import { mergeStatRows, pendingColumns, staleBounds, staleLevels, statQuery, staleMaskRows, toMaskRows, toStatRows } from './series-sql.js';
import { PENDING_COLS, PENDING_TAIL, rollup, rollupBacklog, type RollupBacklog, type RollupResult } from './rollup.js';
import { toAgent, toInstance, toMinuteRow, toSession, toToken } from './rows.js';
import {
  AGENT_COLS,
  DAY_SECONDS,
  HOST_AGGS,
  HOST_MINUTE_COLS,
  INSTANCE_AGGS,
  INSTANCE_COLS,
  INSTANCE_MINUTE_COLS,
  agentUpsertTail,
  instanceUpsertTail,
  TIER_SECONDS,
  tierTable,
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
  type LatestInstanceWindow,
  type MinuteRow,
  type MaskRow,
  type RetentionCutoffs,
  type RetentionDays,
  type RetentionResult,
  type SeriesTarget,
  type SessionRow,
  type StatKind,
  type StatRow,
  type Store,
  type Tier,
  type TokenRow,
  DEFAULT_RETENTION_DAYS,
} from './store.js';

import { insertDiskMinutes, readDiskMinutes, type DiskMinuteRow } from './disk-minutes.js';
import { batchRows, type BatchRows } from './batch-rows.js';
const floorTo = (x: number, step: number) => Math.floor(x / step) * step;
const INSTANCE_MINUTE_SET = new Set(INSTANCE_MINUTE_COLS.map((c) => c.name));
const INSTANCE_SELECT = `SELECT i.*, a.hostname FROM instances i LEFT JOIN agents a ON a.agent_id = i.agent_id`;

export class SqlStore implements Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly alarms: AlertDb;
  readonly retentionDays: RetentionDays;
  private readonly retention: Retention;
  private readonly tails;

  constructor(
    readonly db: SqlDb,
    retentionDays: Partial<RetentionDays> = {},
  ) {
    this.engine = db.dialect.kind;
    this.retentionDays = { ...DEFAULT_RETENTION_DAYS, ...retentionDays };
    this.alarms = new AlertDb(db);
    this.retention = new Retention(db);
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

  async migrate(): Promise<number[]> {
    const applied = await migrate(this.db);
    if (applied.includes(4) || applied.includes(8)) await this.rebuildAllTiers();
    else if (applied.includes(6)) await this.rebuildDayTier();
    return applied;
  }

  /** Builds the 86400 s rows of every stored hour row (after migration 6, for hours stored before it). */
  async rebuildDayTier(): Promise<void> {
    for (const kind of ['host', 'instance'] as const) {
      const r = await this.db.all(`SELECT MIN(bucket) AS lo, MAX(bucket) AS hi FROM ${tierTable(kind, 3600)}`);
      if (r[0]?.lo === null || r[0]?.lo === undefined) continue;
      const lo = floorTo(Number(r[0].lo), DAY_SECONDS);
      const hi = Number(r[0].hi) + 3600;
      const steps: number[] = [];
      for (let m = lo; m < hi; m += DAY_SECONDS) steps.push(m);
      // Only the day tier's: no empty minute partitions for days long past.
      await this.retention.ensurePartitions(steps, [kind === 'host' ? 'host_1d' : 'instance_1d']);
      // A month per transaction: one row per key and day, from at most 24 hour rows each.
      for (let i = 0; i < steps.length; i += 28) {
        const from = steps[i]!;
        const to = Math.min(from + 28 * DAY_SECONDS, floorTo(hi - 1, DAY_SECONDS) + DAY_SECONDS);
        await this.db.tx((e) => e.run(rebuildSql(kind, 86400), [from, to]));
      }
    }
  }

  /** Builds the tiers of every stored minute (after migration 4, for minutes stored before it). */
  async rebuildAllTiers(): Promise<void> {
    for (const kind of ['host', 'instance'] as const) {
      const r = await this.db.all(`SELECT MIN(minute) AS lo, MAX(minute) AS hi FROM ${tierSpec[kind].minutes}`);
      if (r[0]?.lo === null || r[0]?.lo === undefined) continue;
      const lo = Number(r[0].lo);
      const hi = Number(r[0].hi) + 60;
      const steps: number[] = [];
      for (let m = floorTo(lo, DAY_SECONDS); m < hi; m += DAY_SECONDS) steps.push(m);
      await this.ensurePartitions(steps.concat([lo, hi - 60]));
      // Day by day, so a large history never makes one huge transaction.
      for (const day of steps) {
        await this.db.tx(async (e) => {
          for (const tier of TIER_SECONDS) await e.run(rebuildSql(kind, tier), [day, day + DAY_SECONDS]);
        });
      }
    }
  }

  appliedMigrations(): Promise<number[]> {
    return appliedMigrations(this.db);
  }

  /** PostgreSQL: creates the partitions (every partitioned table) covering the given minutes. */
  ensurePartitions(minutes: Iterable<number>): Promise<string[]> {
    return this.retention.ensurePartitions(minutes);
  }

  async ingest(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    return this.ingestRows(batchRows(p, opts));
  }

  /** Stores a batch already turned into rows (batch-rows.ts; the ingest route builds them in a worker). */
  async ingestRows(b: BatchRows): Promise<IngestResult> {
    try {
      return await this.ingestOnce(b);
    } catch (e) {
      // Another server sharing the database may have dropped a partition this one still has cached.
      if (!this.partitioned || (e as { code?: string }).code !== '23514') throw e;
      this.retention.forgetPartitions();
      return this.ingestOnce(b);
    }
  }

  private async ingestOnce(b: BatchRows): Promise<IngestResult> {
    if (this.partitioned) await this.ensurePartitions(b.minutes);
    return this.db.tx(async (e): Promise<IngestResult> => {
      const fresh = await e.run('INSERT INTO batches (batch_id, agent_id, received_at, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING', [
        b.batchId,
        b.agentId,
        b.receivedAt,
        b.createdAt,
      ]);
      if (fresh === 0) return { status: 'duplicate' };
      await this.db.insertRows(e, 'agents', AGENT_COLS, [b.agent], this.tails.agent);
      await this.db.mergeRows(e, 'host_minutes', HOST_MINUTE_COLS, b.hostMinutes, this.tails.hostMinute);
      await this.db.insertRows(e, 'instances', INSTANCE_COLS, b.instances, this.tails.instance);
      await this.db.mergeRows(e, 'instance_minutes', INSTANCE_MINUTE_COLS, b.instanceMinutes, this.tails.instanceMinute);
      await insertDiskMinutes(this.db, e, b.diskMinutes);
      // The tiers are rebuilt from these minutes later, by rollup() (rollup.ts).
      await this.db.insertRows(e, 'rollup_pending', PENDING_COLS, b.pending, PENDING_TAIL);
      return { status: 'stored', counts: b.counts };
    });
  }

  /**
   * Statistics of one metric over [from, to) from one tier, per period bucket, ascending (see
   * series-sql.ts). Buckets not rolled up yet (rollup.ts) are read from the finer tiers and the
   * minutes instead: where the tier stops being complete is asked first (PostgreSQL: by the tier's
   * own statement, see pendingFirsts), and a second statement reads the range through the finer
   * tiers only when that is inside it.
   */
  async statRows(target: SeriesTarget, tier: Tier, from: number, to: number, stat: string, kind: StatKind, period: number): Promise<StatRow[]> {
    const q = statQuery(target, tier, from, to, stat, kind, period, { pending: tier !== 60 && this.pendingInline });
    const rows = await this.db.rows(q.sql, q.params);
    if (tier === 60) return toStatRows(rows);
    const bounds = staleBounds(await this.pendingFirsts(rows, target.agentId, tier, from, to), tier, from, to);
    if (bounds[0]! >= to) return toStatRows(rows);
    const m = mergeStatRows(target, tier, from, to, bounds, stat, kind, period);
    return toStatRows(await this.db.rows(m.sql, m.params));
  }

  /** Minute masks in [from, to) from one tier: host — minutes with a host record; instance — minutes the VM was sampled. Pending buckets: from the minutes. */
  async maskRows(target: SeriesTarget, tier: Tier, from: number, to: number): Promise<MaskRow[]> {
    const k: TierKind = target.instanceId === undefined ? 'host' : 'instance';
    const keyWhere = k === 'host' ? 'agent_id = ?' : 'agent_id = ? AND instance_id = ?';
    const key: Value[] = k === 'host' ? [target.agentId] : [target.agentId, target.instanceId!];
    const minuteSql = `SELECT minute, 1, 0 FROM ${tierSpec[k].minutes} WHERE ${keyWhere} AND minute >= ? AND minute < ?${k === 'instance' ? ' AND samples > 0' : ''} ORDER BY minute`;
    if (tier === 60) return toMaskRows(await this.db.rows(minuteSql, [...key, from, to]));
    const pend = this.pendingInline ? pendingColumns(target.agentId, tier, from, to) : { sql: '', params: [] };
    const sql = `SELECT bucket, mask_lo, mask_hi${pend.sql} FROM ${tierTable(k, tier)} WHERE ${keyWhere} AND bucket >= ? AND bucket < ? ORDER BY bucket`;
    const rows = await this.db.rows(sql, [...pend.params, ...key, from, to]);
    const b = staleBounds(await this.pendingFirsts(rows, target.agentId, tier, from, to), tier, from, to)[0]!;
    if (b >= to) return toMaskRows(rows);
    const minutes = (await this.db.rows(minuteSql, [...key, b, to])).map((r) => Number(r[0]));
    return staleMaskRows(toMaskRows(rows), minutes, tier, b);
  }

  /**
   * PostgreSQL: the tier's statement carries pendingColumns, which saves a round trip. SQLite asks
   * them alone: in process that costs a few microseconds, less than an extra column in every row
   * (measured: 60 days at 3600, 1,440 rows, about 15 % slower with the columns).
   */
  private get pendingInline(): boolean {
    return this.db.dialect.kind === 'postgres';
  }

  /** The pendingColumns values: from the statement's first row, or asked alone (SQLite, or when it returned none). */
  private async pendingFirsts(rows: readonly unknown[][], agentId: string, tier: Tier, from: number, to: number): Promise<unknown[]> {
    const n = staleLevels(tier).length;
    if (this.pendingInline && rows.length > 0) return rows[0]!.slice(rows[0]!.length - n);
    const p = pendingColumns(agentId, tier, from, to);
    return (await this.db.rows(`SELECT ${p.sql.slice(2)}`, p.params))[0]!;
  }

  rollupBacklog(): Promise<RollupBacklog[]> {
    return rollupBacklog(this.db);
  }

  /** Rebuilds the tier buckets pending that end by `closedBy` (rollup.ts). */
  rollup(closedBy: number): Promise<RollupResult> {
    return rollup(this.db, closedBy, Math.floor(Date.now() / 1000));
  }

  private readonly tokenWriteWatchers: (() => void)[] = [];

  onTokensWritten(fn: () => void): void {
    this.tokenWriteWatchers.push(fn);
  }

  private tokensWritten(): void {
    for (const fn of this.tokenWriteWatchers) fn();
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
    this.tokensWritten();
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
    const n = await this.db.run('UPDATE tokens SET revoked_at = ? WHERE access_key_id = ? AND revoked_at IS NULL', [at, id]);
    this.tokensWritten();
    return n > 0;
  }

  async bindToken(id: string, agentId: string): Promise<string | null> {
    await this.db.run('UPDATE tokens SET agent_id = ? WHERE access_key_id = ? AND agent_id IS NULL', [agentId, id]);
    this.tokensWritten();
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

  async latestInstanceWindows(since: number, columns: readonly string[]): Promise<LatestInstanceWindow[]> {
    checkColumns(columns, INSTANCE_MINUTE_SET);
    const cols = ['minute', ...columns.filter((c) => c !== 'minute')];
    // `since` bounds the scan (and prunes PostgreSQL's daily partitions); then the newest minute per
    // instance: DISTINCT ON on PostgreSQL, a grouped max joined back by primary key on SQLite.
    const sql =
      this.db.dialect.kind === 'postgres'
        ? `SELECT DISTINCT ON (agent_id, instance_id) agent_id, instance_id, ${cols.join(', ')} FROM instance_minutes
           WHERE minute >= ? ORDER BY agent_id, instance_id, minute DESC`
        : `SELECT m.agent_id, m.instance_id, ${cols.map((c) => `m.${c}`).join(', ')} FROM instance_minutes m
           JOIN (SELECT agent_id, instance_id, max(minute) AS minute FROM instance_minutes WHERE minute >= ? GROUP BY agent_id, instance_id) l
             ON l.agent_id = m.agent_id AND l.instance_id = m.instance_id AND l.minute = m.minute`;
    return (await this.db.all(sql, [since])).map((r) => {
      const { agent_id, instance_id, ...rest } = r;
      return { agentId: String(agent_id), instanceId: String(instance_id), row: toMinuteRow(rest) };
    });
  }

  async insertSession(s: SessionRow, purgeBefore: number): Promise<void> {
    await this.db.tx(async (e) => {
      await e.run('DELETE FROM console_sessions WHERE expires_at < ?', [purgeBefore]);
      await e.run('INSERT INTO console_sessions (id_sha256, access_key_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?)', [
        s.idSha256,
        s.accessKeyId,
        s.createdAt,
        s.expiresAt,
        s.revokedAt,
      ]);
    });
  }

  async sessionByIdHash(hex: string): Promise<SessionRow | null> {
    const r = await this.db.all('SELECT * FROM console_sessions WHERE id_sha256 = ?', [hex]);
    return r[0] ? toSession(r[0]) : null;
  }

  async revokeSession(hex: string, at: number): Promise<boolean> {
    return (await this.db.run('UPDATE console_sessions SET revoked_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL', [at, hex])) > 0;
  }

  /** PostgreSQL: the existing partitions of a partitioned table, with the first day they hold (none on SQLite). */
  listPartitions(table: PartitionedTable): Promise<{ name: string; day: number }[]> {
    return this.retention.listPartitions(table);
  }

  /** Drops data older than the cutoffs (retention.ts). */
  async retain(cutoff: number, tiers: RetentionCutoffs = {}): Promise<RetentionResult> {
    // The buckets about to lose their minutes are rebuilt first (retention cuts at whole hours).
    await this.rollup(Math.floor(cutoff / 3600) * 3600);
    return this.retention.retain(cutoff, tiers);
  }

  instanceDiskMinutes(agentId: string, instanceId: string, from: number, to: number): Promise<DiskMinuteRow[]> {
    return readDiskMinutes(this.db, agentId, instanceId, from, to);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
