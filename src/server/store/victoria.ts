// The store on VictoriaMetrics: the time series (every host and VM minute) live in VictoriaMetrics,
// what is not a time series (credentials, agents, instances, alarms, batch dedup, and the slot each
// batch writes its samples at) stays in VMPULSE_DB through the SQL store.
//
// Once per BatchID, without a transaction spanning both: ingest (1) answers `duplicate` when the
// BatchID is committed; (2) allocates, in VMPULSE_DB, one slot per minute of the batch (0..59999 ms
// into the minute, unique per agent and minute, the same slot again for the same batch); (3)
// writes the samples to VictoriaMetrics at minute + slot; (4) commits the BatchID with the agent and
// instance facts. Interrupted between (3) and (4), the agent sends the batch again and (3) writes
// the very same samples at the very same timestamps, which -dedup.minScrapeInterval=1ms collapses.
// Period statistics (300 s, 3600 s, daily) are computed at query time from the minute samples: the
// open-source single node has no downsampling.
import type { RollupBacklog, RollupResult } from './rollup.js';
import type { Payload } from '../../ship/payload.js';
import type { AlertDb } from '../alerts/db.js';
import { combineHostMinute, combineInstanceMinute } from '../../ship/window-merge.js';
import { keptWindows } from './rows.js';
import { AGENT_COLS, INSTANCE_COLS, agentUpsertTail, agentValues, instanceUpsertTail, instanceValues } from './schema.js';
import type { SqlStore } from './sql-store.js';
import { diskMinuteRows, insertDiskMinutes, readDiskMinutes, type DiskMinuteRow } from './disk-minutes.js';
import type { Exec, Value } from './sql.js';
import { tierSpec } from './tiers.js';
import type {
  AgentRow,
  IngestOptions,
  IngestResult,
  InstanceFilter,
  InstanceLookup,
  InstanceRow,
  LatestInstanceWindow,
  MaskRow,
  MinuteRow,
  RetentionCutoffs,
  RetentionDays,
  RetentionResult,
  SeriesTarget,
  SessionRow,
  StatKind,
  StatRow,
  Store,
  Tier,
  TokenRow,
} from './store.js';
import { VictoriaClient, quoteLabel, type VictoriaUrls } from './victoria-client.js';
import { combineMinutes, type ExportedSeries, hostSamples, instanceSamples, readableColumns, seriesFor, UNKNOWN_SERIES, type Sample, type SeriesKind } from './victoria-series.js';

const SLOTS_DDL = `CREATE TABLE IF NOT EXISTS tsdb_slots (
  agent_id TEXT NOT NULL,
  minute BIGINT NOT NULL,
  slot INTEGER NOT NULL,
  batch_id TEXT NOT NULL,
  PRIMARY KEY (agent_id, minute, slot),
  UNIQUE (batch_id, minute)
)`;
/** Longer than VictoriaMetrics' own flush of buffered rows (1 s in 1.79, 2 s in later releases). */
const FLUSH_INTERVAL_MS = 2100;
/** Milliseconds in a minute: the slots a minute has for batches of one agent. */
const SLOTS_PER_MINUTE = 60000;
const UNIQUE_VIOLATION = new Set(['23505', 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE']);
const HOST_COLUMNS = readableColumns('host');
const INSTANCE_COLUMNS = new Set(readableColumns('instance'));

export class VictoriaStore implements Store {
  readonly engine: 'sqlite' | 'postgres';
  readonly tsdb = 'victoriametrics' as const;
  readonly client: VictoriaClient;
  private readonly tails;

  constructor(
    readonly sql: SqlStore,
    urls: VictoriaUrls,
  ) {
    this.engine = sql.engine;
    this.client = new VictoriaClient(urls);
    this.tails = { agent: agentUpsertTail(sql.db.dialect), instance: instanceUpsertTail(sql.db.dialect) };
  }

  get alarms(): AlertDb {
    return this.sql.alarms;
  }
  get retentionDays(): RetentionDays {
    return this.sql.retentionDays;
  }

  async migrate(): Promise<number[]> {
    const applied = await this.sql.migrate();
    await this.sql.db.exec(SLOTS_DDL);
    return applied;
  }
  appliedMigrations(): Promise<number[]> {
    return this.sql.appliedMigrations();
  }

  async ingest(p: Payload, opts: IngestOptions): Promise<IngestResult> {
    const db = this.sql.db;
    if ((await db.all('SELECT 1 AS x FROM batches WHERE batch_id = ?', [p.BatchID])).length > 0) return { status: 'duplicate' };
    const host = keptWindows(p.Stats, opts, combineHostMinute);
    const insts = p.Instances.map((i) => ({ rec: i, w: keptWindows(i.Stats, opts, combineInstanceMinute) }));
    const minutes = new Set<number>(host.kept.map((w) => w.Minute));
    for (const x of insts) for (const w of x.w.kept) minutes.add(w.Minute);
    const slots = await this.allocateSlots(p.AgentID, p.BatchID, [...minutes]);

    const lines: string[] = [];
    const hostLabels = { agent_id: p.AgentID, hostname: p.Hostname };
    addLines(lines, hostLabels, host.kept.map((w) => ({ ts: w.Minute * 1000 + slots.get(w.Minute)!, samples: hostSamples(w) })));
    for (const x of insts) {
      const labels = { agent_id: p.AgentID, hostname: p.Hostname, instance_id: x.rec.InstanceID, instance_name: x.rec.InstanceName, hypervisor: x.rec.Hypervisor };
      addLines(lines, labels, x.w.kept.map((w) => ({ ts: w.Minute * 1000 + slots.get(w.Minute)!, samples: instanceSamples(w) })));
    }
    await this.client.importLines(lines);

    return db.tx(async (e: Exec): Promise<IngestResult> => {
      const fresh = await e.run('INSERT INTO batches (batch_id, agent_id, received_at, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (batch_id) DO NOTHING', [
        p.BatchID,
        p.AgentID,
        opts.receivedAt,
        p.CreatedAt,
      ]);
      // Sent twice at once: the other request committed it; the samples were identical.
      if (fresh === 0) return { status: 'duplicate' };
      await db.insertRows(e, 'agents', AGENT_COLS, [agentValues(p, opts.receivedAt)], this.tails.agent);
      const rows: Value[][] = insts.map((x) => instanceValues(p.AgentID, { ...x.rec, Stats: x.w.kept }, p.CreatedAt));
      await db.insertRows(e, 'instances', INSTANCE_COLS, rows, this.tails.instance);
      // Per-disk minutes stay in SQL (disk-minutes.ts), committed with the batch id.
      await insertDiskMinutes(db, e, insts.flatMap((x) => diskMinuteRows(p.AgentID, x.rec.InstanceID, x.w.kept)));
      let skippedMinutes = host.skipped;
      let instanceMinutes = 0;
      for (const x of insts) {
        skippedMinutes += x.w.skipped;
        instanceMinutes += x.w.kept.length;
      }
      return { status: 'stored', counts: { hostMinutes: host.kept.length, instanceMinutes, instances: insts.length, skippedMinutes } };
    });
  }

  /** Slot (ms into the minute) of each minute for this batch: the one it had, or the next free one. */
  private async allocateSlots(agentId: string, batchId: string, minutes: number[]): Promise<Map<number, number>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.sql.db.tx(async (e) => {
          const out = new Map<number, number>();
          for (const r of await e.all('SELECT minute, slot FROM tsdb_slots WHERE batch_id = ?', [batchId])) out.set(Number(r.minute), Number(r.slot));
          for (const m of minutes) {
            if (out.has(m)) continue;
            const r = await e.all('SELECT MAX(slot) AS s FROM tsdb_slots WHERE agent_id = ? AND minute = ?', [agentId, m]);
            const slot = r[0]?.s === null || r[0]?.s === undefined ? 0 : Number(r[0].s) + 1;
            if (slot >= SLOTS_PER_MINUTE) throw new Error(`more than ${SLOTS_PER_MINUTE} batches for minute ${m} of agent ${agentId}`);
            await e.run('INSERT INTO tsdb_slots (agent_id, minute, slot, batch_id) VALUES (?, ?, ?, ?)', [agentId, m, slot, batchId]);
            out.set(m, slot);
          }
          return out;
        });
      } catch (err) {
        // Two servers allocating for one agent and minute at once (PostgreSQL): the loser takes the next slot.
        const code = (err as { code?: string }).code;
        if (attempt < 5 && code !== undefined && UNIQUE_VIOLATION.has(code)) continue;
        throw err;
      }
    }
  }

  private selector(kind: SeriesKind, target: SeriesTarget, names: readonly string[]): string {
    const parts = [`__name__=~${quoteLabel(names.join('|'))}`, `agent_id=${quoteLabel(target.agentId)}`];
    parts.push(kind === 'instance' ? `instance_id=${quoteLabel(target.instanceId!)}` : `instance_id=""`);
    return `{${parts.join(',')}}`;
  }

  /** Minute rows of a host or an instance in [from, to) (unix seconds), combined from the samples. */
  async readMinutes(target: SeriesTarget, from: number, to: number, columns: readonly string[]): Promise<Map<number, MinuteRow>> {
    const kind: SeriesKind = target.instanceId === undefined ? 'host' : 'instance';
    const need = seriesFor(kind, columns);
    const names = need.unknown ? [...need.names, UNKNOWN_SERIES] : need.names;
    if (from >= to) return new Map();
    const series = await this.client.exportSeries(this.selector(kind, target, names), from * 1000, to * 1000 - 1);
    return combineMinutes(kind, series, columns);
  }

  async statRows(target: SeriesTarget, tier: Tier, from: number, to: number, stat: string, kind: StatKind): Promise<StatRow[]> {
    const k: SeriesKind = target.instanceId === undefined ? 'host' : 'instance';
    if (!(tierSpec[k].stats as readonly string[]).includes(stat)) throw new Error(`unknown ${k} statistic ${stat}`);
    const cols = kind === 'gauge' ? [`${stat}_min`, `${stat}_max`, `${stat}_sum`, `${stat}_count`] : [stat, 'samples', ...(k === 'instance' ? ['unsampled'] : [])];
    const rows = await this.readMinutes(target, from, to, cols);
    const out = new Map<number, StatRow>();
    for (const [m, r] of rows) {
      let row: StatRow;
      if (kind === 'gauge') {
        const count = r[`${stat}_count`];
        if (!count) continue;
        row = { t: m, min: r[`${stat}_min`]!, max: r[`${stat}_max`]!, sum: r[`${stat}_sum`]!, count };
      } else {
        const v = r[stat];
        // As tiers.ts's hostTotalCounts / instanceTotalCounts: sampled, or carrying unsampled seconds.
        const counts = r.samples! > 0 || (k === 'instance' && r.unsampled! > 0);
        if (v === null || v === undefined || !counts) continue;
        row = { t: m, min: v, max: v, sum: v, count: 1 };
      }
      const t = Math.floor(m / tier) * tier;
      const a = out.get(t);
      if (!a) out.set(t, { ...row, t });
      else {
        a.min = Math.min(a.min, row.min);
        a.max = Math.max(a.max, row.max);
        a.sum += row.sum;
        a.count += row.count;
      }
    }
    return [...out.values()].sort((a, b) => a.t - b.t);
  }

  async maskRows(target: SeriesTarget, tier: Tier, from: number, to: number): Promise<MaskRow[]> {
    const rows = await this.readMinutes(target, from, to, ['samples']);
    const instance = target.instanceId !== undefined;
    const out = new Map<number, MaskRow>();
    for (const [m, r] of rows) {
      if (instance && !(r.samples! > 0)) continue;
      const t = Math.floor(m / tier) * tier;
      let a = out.get(t);
      if (!a) out.set(t, (a = { t, lo: 0, hi: 0 }));
      const k = (m - t) / 60;
      if (k < 30) a.lo |= 1 << k;
      else a.hi |= 1 << (k - 30);
    }
    return [...out.values()].sort((a, b) => a.t - b.t);
  }

  async latestHostMinutes(agentId: string, limit: number): Promise<MinuteRow[]> {
    const agent = await this.sql.getAgent(agentId);
    if (!agent) return [];
    // Newest first from the agent's latest batch back: widen the window until enough minutes are found.
    const end = (Math.floor(Math.max(agent.lastCreatedAt, agent.lastSeen) / 60) + 2) * 60;
    let rows: MinuteRow[] = [];
    for (const span of [3 * 3600, 2 * 86400, (this.retentionDays[3600] + 1) * 86400]) {
      rows = [...(await this.readMinutes({ agentId }, end - span, end, HOST_COLUMNS)).values()];
      if (rows.length >= limit) break;
    }
    return rows.reverse().slice(0, limit);
  }

  async hostMinuteSet(agentId: string, from: number, to: number): Promise<number[]> {
    return [...(await this.readMinutes({ agentId }, from, to, ['samples'])).keys()];
  }

  instanceDiskMinutes(agentId: string, instanceId: string, from: number, to: number): Promise<DiskMinuteRow[]> {
    return readDiskMinutes(this.sql.db, agentId, instanceId, from, to);
  }

  async instanceMinutes(agentId: string, instanceId: string, from: number, to: number, columns: readonly string[]): Promise<MinuteRow[]> {
    for (const c of columns) if (c !== 'minute' && !INSTANCE_COLUMNS.has(c)) throw new Error(`unknown column ${c}`);
    return [...(await this.readMinutes({ agentId, instanceId }, from, to, columns)).values()];
  }

  /** The console's fleet table: one export of every instance's series since `since`, newest minute each. */
  async latestInstanceWindows(since: number, columns: readonly string[]): Promise<LatestInstanceWindow[]> {
    for (const c of columns) if (c !== 'minute' && !INSTANCE_COLUMNS.has(c)) throw new Error(`unknown column ${c}`);
    const need = seriesFor('instance', columns);
    const names = need.unknown ? [...need.names, UNKNOWN_SERIES] : need.names;
    const selector = `{__name__=~${quoteLabel(names.join('|'))},instance_id!=""}`;
    const series = await this.client.exportSeries(selector, since * 1000, Date.now() + 60_000);
    const byInstance = new Map<string, ExportedSeries[]>();
    for (const s of series) {
      const key = JSON.stringify([s.metric.agent_id ?? '', s.metric.instance_id ?? '']);
      let list = byInstance.get(key);
      if (!list) byInstance.set(key, (list = []));
      list.push(s);
    }
    const out: LatestInstanceWindow[] = [];
    for (const [key, list] of byInstance) {
      const [agentId, instanceId] = JSON.parse(key) as [string, string];
      const rows = combineMinutes('instance', list, columns);
      let newest: MinuteRow | undefined;
      for (const r of rows.values()) if (!newest || r.minute! > newest.minute!) newest = r;
      if (newest) out.push({ agentId, instanceId, row: newest });
    }
    return out;
  }

  async rollupBacklog(): Promise<RollupBacklog[]> {
    return [];
  }

  /** Nothing to build: every period statistic comes from VictoriaMetrics' minute samples. */
  async rollup(_closedBy: number): Promise<RollupResult> {
    return { buckets: { 300: 0, 3600: 0, 86400: 0 } };
  }

  /**
   * Batch ids and slots older than the cutoff leave VMPULSE_DB. The samples themselves are kept by
   * VictoriaMetrics for its -retentionPeriod (which must cover the 3600 s tier's days); tier cutoffs
   * do not apply, as every period statistic is computed from the minute samples.
   */
  async retain(cutoff: number, _tiers: RetentionCutoffs = {}): Promise<RetentionResult> {
    const r = await this.sql.retain(cutoff, {});
    const slots = await this.sql.db.run('DELETE FROM tsdb_slots WHERE minute < ?', [cutoff]);
    return { deletedRows: r.deletedRows + slots, droppedPartitions: r.droppedPartitions, deletedBatches: r.deletedBatches };
  }

  /**
   * Makes every sample written so far readable (single node; tests and benches). /internal/force_flush
   * alone is no barrier: it converts the rows still buffered, but returns without waiting for rows the
   * engine's own once-a-second flusher has already taken out of the buffer and not yet made searchable
   * (its lib/storage/partition.go has no wait there; lib/mergeset, the index, has). So the samples are counted
   * after each flush, a flush interval apart, until the count holds still.
   */
  async flush(): Promise<void> {
    let last = -1;
    for (let i = 0; i < 30; i++) {
      await this.client.forceFlush();
      const n = await this.client.sampleCount();
      if (n === last) return;
      last = n;
      await new Promise((r) => setTimeout(r, FLUSH_INTERVAL_MS));
    }
    throw new Error(`VictoriaMetrics did not settle: its sample count still moved after 30 flushes (${last})`);
  }

  close(): Promise<void> {
    return this.sql.close();
  }

  insertSession(s: SessionRow, purgeBefore: number): Promise<void> {
    return this.sql.insertSession(s, purgeBefore);
  }
  sessionByIdHash(h: string): Promise<SessionRow | null> {
    return this.sql.sessionByIdHash(h);
  }
  revokeSession(h: string, at: number): Promise<boolean> {
    return this.sql.revokeSession(h, at);
  }
  insertToken(t: TokenRow): Promise<void> {
    return this.sql.insertToken(t);
  }
  tokenBySecretHash(h: string): Promise<TokenRow | null> {
    return this.sql.tokenBySecretHash(h);
  }
  tokenByAccessKey(id: string): Promise<TokenRow | null> {
    return this.sql.tokenByAccessKey(id);
  }
  listTokens(): Promise<TokenRow[]> {
    return this.sql.listTokens();
  }
  revokeToken(id: string, at: number): Promise<boolean> {
    return this.sql.revokeToken(id, at);
  }
  onTokensWritten(fn: () => void): void {
    this.sql.onTokensWritten(fn);
  }
  bindToken(id: string, agentId: string): Promise<string | null> {
    return this.sql.bindToken(id, agentId);
  }
  listAgents(): Promise<AgentRow[]> {
    return this.sql.listAgents();
  }
  getAgent(agentId: string): Promise<AgentRow | null> {
    return this.sql.getAgent(agentId);
  }
  listInstances(f?: InstanceFilter): Promise<InstanceRow[]> {
    return this.sql.listInstances(f);
  }
  findInstances(l: InstanceLookup): Promise<InstanceRow[]> {
    return this.sql.findInstances(l);
  }
}

/** JSON lines of /api/v1/import: one line per series, its samples at each minute's timestamp. */
function addLines(lines: string[], labels: Record<string, string>, minutes: { ts: number; samples: Sample[] }[]): void {
  const bySeries = new Map<string, { metric: Record<string, string>; values: number[]; timestamps: number[] }>();
  for (const { ts, samples } of minutes) {
    for (const s of samples) {
      const id = s.field === undefined ? s.name : `${s.name}\u0000${s.field}`;
      let x = bySeries.get(id);
      if (!x) bySeries.set(id, (x = { metric: { __name__: s.name, ...labels, ...(s.field === undefined ? {} : { field: s.field }) }, values: [], timestamps: [] }));
      x.values.push(s.value);
      x.timestamps.push(ts);
    }
  }
  for (const x of bySeries.values()) lines.push(JSON.stringify(x));
}
