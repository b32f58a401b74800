// Persistence of alarms, per-instance states, history and the notification outbox, on the
// server's own database through the store's shared connection layer (src/server/store/sql.ts):
// the same SQLite connection or PostgreSQL pool as ingest and queries, its tables from the store's
// one migration registry. Every evaluation pass of one alarm commits in one transaction, so a crash
// leaves either the old states or the new states with their history and outbox rows, never a
// state change without its notification.
import type { Col } from '../store/schema.js';
import type { Exec, Row, SqlDb, Value } from '../store/sql.js';
import type { AlarmDefinition, AlarmSource, AlarmState, HistoryEntry, InstanceState, StoredAlarm } from './types.js';

// PostgreSQL statements also take whole arrays (one per column, for unnest).
type Param = Value | Value[];
/** The connection layer's parameter type; pg sends an array parameter as a PostgreSQL array. */
const asParams = (ps: readonly Param[]): Value[] => ps as Value[];

export interface OutboxRow {
  id: string;
  kind: 'webhook' | 'alertmanager';
  url: string;
  alarmName: string;
  instanceId: string;
  dedupKey: string;
  body: string;
  attempts: number;
  nextMs: number;
  createdMs: number;
}

/** What one evaluation pass of one alarm changes; committed together. */
export interface PassWrite<S extends InstanceState = InstanceState> {
  /** States of instances that had none (almost always absent from the table: written in bulk, merged if not). */
  inserts: S[];
  /** Changed states (replaced). */
  upserts: S[];
  /** Instances whose state is dropped (gone for good, or no longer matched). */
  removals: string[];
  history: HistoryEntry[];
  outbox: OutboxRow[];
  /** When the pass ran: recorded once on the alarm (unchanged states are not rewritten). */
  evaluatedMs: number;
}

/** What the evaluator needs of a current state. */
export type StateHead = Pick<InstanceState, 'instanceId' | 'agentId' | 'instanceName' | 'state' | 'sinceMs'>;

const num = (v: unknown): number => Number(v);

function toState(r: Row): InstanceState {
  return {
    alarmName: String(r.alarm_name),
    instanceId: String(r.instance_id),
    agentId: String(r.agent_id),
    instanceName: String(r.instance_name),
    state: r.state as AlarmState,
    reason: String(r.reason),
    sinceMs: num(r.since_ms),
    evaluatedMs: num(r.evaluated_ms),
  };
}

function toHistory(r: Row): HistoryEntry {
  return {
    id: String(r.id),
    alarmName: String(r.alarm_name),
    instanceId: String(r.instance_id),
    agentId: String(r.agent_id),
    instanceName: String(r.instance_name),
    atMs: num(r.at_ms),
    oldState: (r.old_state ?? null) as AlarmState | null,
    newState: r.new_state as AlarmState,
    reason: String(r.reason),
    datapoints: JSON.parse(String(r.datapoints)),
  };
}

function toOutbox(r: Row): OutboxRow {
  return {
    id: String(r.id),
    kind: r.kind as OutboxRow['kind'],
    url: String(r.url),
    alarmName: String(r.alarm_name),
    instanceId: String(r.instance_id),
    dedupKey: String(r.dedup_key),
    body: String(r.body),
    attempts: num(r.attempts),
    nextMs: num(r.next_ms),
    createdMs: num(r.created_ms),
  };
}

const CHUNK = 400;

type ColType = 'text' | 'bigint' | 'int';

/** Rows per PostgreSQL INSERT: bounds the one JSON parameter (a history row is about 0.5 kB). */
const PG_CHUNK = 10000;

/** The alarm tables' columns as the store's (text, or bigint for every number). */
function storeCols(cols: readonly [string, ColType][]): Col[] {
  return cols.map(([name, t]) => ({ name, kind: t === 'text' ? 'text' : 'int' }));
}

/**
 * Many rows of one shape. PostgreSQL: ONE JSON parameter per PG_CHUNK rows (an array of row arrays,
 * serialised by V8's JSON.stringify), read as jsonb (parsed once; a json value is scanned again for
 * every `->>`): half the cost of the same rows as json, and less than pg's text encoding of one
 * array per column, for a cold pass's 100,000s of rows. SQLite: the store's insertRows (one
 * prepared statement run per row, cheaper than multi-row VALUES: no flattened parameter arrays to
 * build and bind).
 */
async function insertRows(db: SqlDb, e: Exec, table: string, cols: readonly [string, ColType][], rows: Param[][], tail = ''): Promise<void> {
  if (!rows.length) return;
  if (db.dialect.kind === 'sqlite') {
    await db.insertRows(e, table, storeCols(cols), rows as Value[][], tail);
    return;
  }
  const names = cols.map((c) => c[0]).join(', ');
  const fields = cols.map((c, i) => `(r->>${i})::${c[1]}`).join(', ');
  for (let i = 0; i < rows.length; i += PG_CHUNK) {
    const json = JSON.stringify(rows.length <= PG_CHUNK ? rows : rows.slice(i, i + PG_CHUNK));
    await e.run(`INSERT INTO ${table} (${names}) SELECT ${fields} FROM jsonb_array_elements(?::jsonb) AS r ${tail}`, [json]);
  }
}

/** `${column} IN (ids)` as one statement (PostgreSQL: = ANY(array)) or chunks (SQLite). */
async function whereIn(kind: SqlDb['dialect']['kind'], e: Exec, sqlHead: string, column: string, fixed: Param[], ids: string[], sqlTail = '', tailParams: Param[] = []): Promise<void> {
  if (!ids.length) return;
  if (kind === 'postgres') {
    await e.run(`${sqlHead} ${column} = ANY(?::text[]) ${sqlTail}`, asParams([...fixed, ids, ...tailParams]));
    return;
  }
  for (let i = 0; i < ids.length; i += CHUNK) {
    const part = ids.slice(i, i + CHUNK);
    await e.run(`${sqlHead} ${column} IN (${part.map(() => '?').join(', ')}) ${sqlTail}`, asParams([...fixed, ...part, ...tailParams]));
  }
}

const STATE_COLS: [string, ColType][] = [
  ['alarm_name', 'text'],
  ['instance_id', 'text'],
  ['agent_id', 'text'],
  ['instance_name', 'text'],
  ['state', 'text'],
  ['reason', 'text'],
  ['since_ms', 'bigint'],
  ['evaluated_ms', 'bigint'],
];
const HISTORY_COLS: [string, ColType][] = [
  ['id', 'text'],
  ['alarm_name', 'text'],
  ['instance_id', 'text'],
  ['agent_id', 'text'],
  ['instance_name', 'text'],
  ['at_ms', 'bigint'],
  ['old_state', 'text'],
  ['new_state', 'text'],
  ['reason', 'text'],
  ['datapoints', 'text'],
];
const STATE_STORE_COLS = storeCols(STATE_COLS);
const STATE_UPSERT = `ON CONFLICT (alarm_name, instance_id) DO UPDATE SET agent_id = excluded.agent_id, instance_name = excluded.instance_name, state = excluded.state,
         reason = excluded.reason, since_ms = excluded.since_ms, evaluated_ms = excluded.evaluated_ms`;
const stateParams = (s: InstanceState): Param[] => [s.alarmName, s.instanceId, s.agentId, s.instanceName, s.state, s.reason, s.sinceMs, s.evaluatedMs];
const OUTBOX_COLS: [string, ColType][] = [
  ['id', 'text'],
  ['kind', 'text'],
  ['url', 'text'],
  ['alarm_name', 'text'],
  ['instance_id', 'text'],
  ['dedup_key', 'text'],
  ['body', 'text'],
  ['attempts', 'int'],
  ['next_ms', 'bigint'],
  ['created_ms', 'bigint'],
];
const outboxParams = (o: OutboxRow): Param[] => [o.id, o.kind, o.url, o.alarmName, o.instanceId, o.dedupKey, o.body, o.attempts, o.nextMs, o.createdMs];

export class AlertDb {
  constructor(private readonly e: SqlDb) {}

  get engine(): 'sqlite' | 'postgres' {
    return this.e.dialect.kind;
  }

  /** Creates or replaces an alarm; states of instances it still matches are kept (CloudWatch keeps state on update). */
  async putAlarm(def: AlarmDefinition, source: AlarmSource, nowMs: number): Promise<'created' | 'updated'> {
    return this.e.tx(async (e) => {
      const had = (await e.all('SELECT 1 FROM alarms WHERE alarm_name = ?', [def.alarmName])).length > 0;
      if (had) await e.run('UPDATE alarms SET definition = ?, source = ?, updated_ms = ? WHERE alarm_name = ?', [JSON.stringify(def), source, nowMs, def.alarmName]);
      else await e.run('INSERT INTO alarms (alarm_name, definition, source, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?)', [def.alarmName, JSON.stringify(def), source, nowMs, nowMs]);
      return had ? 'updated' : 'created';
    });
  }

  private toStored(r: Row): StoredAlarm {
    return {
      definition: JSON.parse(String(r.definition)),
      source: r.source as AlarmSource,
      createdMs: num(r.created_ms),
      updatedMs: num(r.updated_ms),
      evaluatedMs: r.evaluated_ms === null || r.evaluated_ms === undefined ? null : num(r.evaluated_ms),
    };
  }

  async getAlarm(name: string): Promise<StoredAlarm | null> {
    const rows = await this.e.all('SELECT * FROM alarms WHERE alarm_name = ?', [name]);
    return rows.length ? this.toStored(rows[0]!) : null;
  }

  async listAlarms(): Promise<StoredAlarm[]> {
    return (await this.e.all('SELECT * FROM alarms ORDER BY alarm_name')).map((r) => this.toStored(r));
  }

  /** Deletes the alarm, its states and history; queues `outbox` (resolves) in the same transaction. */
  async deleteAlarm(name: string, outbox: OutboxRow[] = []): Promise<boolean> {
    return this.e.tx(async (e) => {
      const n = await e.run('DELETE FROM alarms WHERE alarm_name = ?', [name]);
      await e.run('DELETE FROM alarm_states WHERE alarm_name = ?', [name]);
      await e.run('DELETE FROM alarm_history WHERE alarm_name = ?', [name]);
      await e.run('DELETE FROM alarm_outbox WHERE alarm_name = ? AND done_ms IS NULL AND kind = ?', [name, 'alertmanager']);
      await insertRows(this.e, e, 'alarm_outbox', OUTBOX_COLS, outbox.map(outboxParams));
      return n > 0;
    });
  }

  async states(alarmName?: string): Promise<InstanceState[]> {
    const rows = alarmName
      ? await this.e.all('SELECT * FROM alarm_states WHERE alarm_name = ? ORDER BY instance_id', [alarmName])
      : await this.e.all('SELECT * FROM alarm_states ORDER BY alarm_name, instance_id');
    return rows.map(toState);
  }

  /** The current states of one alarm, reduced to what an evaluation pass reads. */
  async stateHeads(alarmName: string): Promise<StateHead[]> {
    const rows = await this.e.all('SELECT instance_id, agent_id, instance_name, state, since_ms FROM alarm_states WHERE alarm_name = ?', [alarmName]);
    return rows.map((r) => ({
      instanceId: String(r.instance_id),
      agentId: String(r.agent_id),
      instanceName: String(r.instance_name),
      state: r.state as AlarmState,
      sinceMs: num(r.since_ms),
    }));
  }

  async statesIn(state: AlarmState): Promise<InstanceState[]> {
    return (await this.e.all('SELECT * FROM alarm_states WHERE state = ? ORDER BY alarm_name, instance_id', [state])).map(toState);
  }

  async history(alarmName: string, opts: { limit?: number; instanceId?: string } = {}): Promise<HistoryEntry[]> {
    const limit = Math.max(1, Math.min(opts.limit ?? 1000, 10000));
    const rows = opts.instanceId
      ? await this.e.all(`SELECT * FROM alarm_history WHERE alarm_name = ? AND instance_id = ? ORDER BY at_ms DESC, id DESC LIMIT ${limit}`, [alarmName, opts.instanceId])
      : await this.e.all(`SELECT * FROM alarm_history WHERE alarm_name = ? ORDER BY at_ms DESC, id DESC LIMIT ${limit}`, [alarmName]);
    return rows.map(toHistory);
  }

  /**
   * Commits one alarm's pass in one transaction, with one multi-row statement per table (whatever
   * the fleet size): removals, changed states, history, superseded Alertmanager rows, new outbox
   * rows, and the alarm's evaluated_ms. Unchanged states are not written at all.
   */
  async applyPass(alarmName: string, w: PassWrite): Promise<void> {
    const kind = this.e.dialect.kind;
    await this.e.tx(async (e) => {
      // An alarm deleted while its pass ran must not come back as orphan states.
      if ((await e.run('UPDATE alarms SET evaluated_ms = ? WHERE alarm_name = ?', [w.evaluatedMs, alarmName])) === 0) return;
      await whereIn(kind, e, 'DELETE FROM alarm_states WHERE alarm_name = ? AND', 'instance_id', [alarmName], w.removals);
      // A cold pass inserts a state per instance of the fleet: the store's bulk insert (COPY on
      // PostgreSQL) under the upsert's fallback, then the changed states through the upsert.
      await this.e.mergeRows(e, 'alarm_states', STATE_STORE_COLS, w.inserts.map(stateParams) as Value[][], STATE_UPSERT, 'instance_id');
      await insertRows(this.e, e, 'alarm_states', STATE_COLS, w.upserts.map(stateParams), STATE_UPSERT);
      await insertRows(
        this.e,
        e,
        'alarm_history',
        HISTORY_COLS,
        w.history.map((h) => [h.id, h.alarmName, h.instanceId, h.agentId, h.instanceName, h.atMs, h.oldState, h.newState, h.reason, JSON.stringify(h.datapoints)]),
      );
      // Alertmanager keeps one alert per label set: a newer transition makes any undelivered older
      // one for the same alert obsolete, and delivering it late would re-fire a resolved alert.
      // Every transition of a pass gets a row for each of the alarm's Alertmanagers, so (url, instance)
      // pairs of the pass are exactly urls × instances.
      const am = w.outbox.filter((o) => o.kind === 'alertmanager');
      if (am.length) {
        const urls = [...new Set(am.map((o) => o.url))];
        const ids = [...new Set(am.map((o) => o.instanceId))];
        await whereIn(
          kind,
          e,
          `UPDATE alarm_outbox SET done_ms = ?, outcome = 'superseded' WHERE kind = 'alertmanager' AND alarm_name = ? AND done_ms IS NULL AND url IN (${urls.map(() => '?').join(', ')}) AND`,
          'instance_id',
          [w.evaluatedMs, alarmName, ...urls],
          ids,
        );
      }
      await insertRows(this.e, e, 'alarm_outbox', OUTBOX_COLS, w.outbox.map(outboxParams));
    });
  }

  async dueOutbox(nowMs: number, limit: number): Promise<OutboxRow[]> {
    return (await this.e.all(`SELECT * FROM alarm_outbox WHERE done_ms IS NULL AND next_ms <= ? ORDER BY created_ms, id LIMIT ${Math.floor(limit)}`, [nowMs])).map(toOutbox);
  }

  async pendingOutbox(): Promise<number> {
    return num((await this.e.all('SELECT COUNT(*) AS n FROM alarm_outbox WHERE done_ms IS NULL'))[0]!.n);
  }

  async outboxDone(id: string, nowMs: number, outcome: 'delivered' | 'expired', error: string | null = null): Promise<void> {
    await this.e.run('UPDATE alarm_outbox SET done_ms = ?, outcome = ?, last_error = ? WHERE id = ? AND done_ms IS NULL', [nowMs, outcome, error, id]);
  }

  async outboxRetry(id: string, attempts: number, nextMs: number, error: string): Promise<void> {
    await this.e.run('UPDATE alarm_outbox SET attempts = ?, next_ms = ?, last_error = ? WHERE id = ? AND done_ms IS NULL', [attempts, nextMs, error.slice(0, 500), id]);
  }

  /** Delivered and cancelled outbox rows older than cutoff are of no further use. */
  async pruneOutbox(cutoffMs: number): Promise<number> {
    return this.e.run('DELETE FROM alarm_outbox WHERE done_ms IS NOT NULL AND done_ms < ?', [cutoffMs]);
  }
}
