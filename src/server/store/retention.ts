// Where old data goes: PostgreSQL keeps the time-series tables partitioned per table and period
// (created ahead of the minutes that need them, dropped whole once older than the tier's
// cutoff); SQLite deletes in bounded chunks, each its own short transaction, so ingest runs
// between them.
import { DAY_SECONDS } from './schema.js';
import { LOCK_PARTITION, dayFromName, dayName } from './postgres.js';
import { retainDiskMinutes } from './disk-minutes.js';
import type { SqlDb } from './sql.js';
import type { RetentionCutoffs, RetentionResult } from './store.js';

/**
 * Tables partitioned on PostgreSQL, one partition per table and period (epoch-aligned spans);
 * partition names are `<table>_pYYYYMMDD` of the span's first day, made from integers only.
 */
const PARTITIONED = [
  { table: 'host_minutes', span: DAY_SECONDS },
  { table: 'instance_minutes', span: DAY_SECONDS },
  { table: 'host_5m', span: 7 * DAY_SECONDS },
  { table: 'instance_5m', span: 7 * DAY_SECONDS },
  { table: 'host_1h', span: 28 * DAY_SECONDS },
  { table: 'instance_1h', span: 28 * DAY_SECONDS },
  // One row per VM-day: a partition per 28 days as the 3600 s tier's, so retention drops it as soon.
  { table: 'host_1d', span: 28 * DAY_SECONDS },
  { table: 'instance_1d', span: 28 * DAY_SECONDS },
] as const;
export type PartitionedTable = (typeof PARTITIONED)[number]['table'];
/** SQLite retention deletes at most this many rows per transaction, so ingest never waits long. */
const DELETE_CHUNK = 5000;
const HOUR = 3600;
const floorTo = (x: number, step: number) => Math.floor(x / step) * step;

export class Retention {
  /** PostgreSQL: `table:start` of partitions known to exist, so most batches skip the DDL round trip. */
  private readonly partitions = new Set<string>();

  constructor(private readonly db: SqlDb) {}

  /** Another server sharing the database may have dropped one: ask the catalogue again. */
  forgetPartitions(): void {
    this.partitions.clear();
  }

  private get partitioned(): boolean {
    return this.db.dialect.kind === 'postgres';
  }

  /**
   * PostgreSQL: creates the partitions (of every partitioned table, or of `only`) covering the
   * given minutes, and caches which exist.
   */
  async ensurePartitions(minutes: Iterable<number>, only?: readonly PartitionedTable[]): Promise<string[]> {
    if (!this.partitioned) return [];
    const need = new Map<string, { table: string; start: number; span: number }>();
    const seen = new Set<number>();
    for (const m of minutes) {
      const day = floorTo(m, DAY_SECONDS);
      if (seen.has(day)) continue;
      seen.add(day);
      for (const p of PARTITIONED) {
        if (only && !only.includes(p.table)) continue;
        const start = floorTo(day, p.span);
        const id = `${p.table}:${start}`;
        if (!this.partitions.has(id)) need.set(id, { table: p.table, start, span: p.span });
      }
    }
    if (need.size === 0) return [];
    const created: string[] = [];
    await this.db.tx(async (e) => {
      await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_PARTITION]);
      for (const x of [...need.values()].sort((a, b) => a.start - b.start)) {
        const name = `${x.table}_p${dayName(x.start)}`;
        // start and span are integers computed here, never text from a request.
        await e.exec(`CREATE TABLE IF NOT EXISTS ${name} PARTITION OF ${x.table} FOR VALUES FROM (${x.start}) TO (${x.start + x.span})`);
        created.push(name);
      }
    });
    for (const id of need.keys()) this.partitions.add(id);
    return created;
  }

  /** PostgreSQL: the existing partitions of a partitioned table, with the first day they hold (none on SQLite). */
  async listPartitions(table: PartitionedTable): Promise<{ name: string; day: number }[]> {
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
   * Drops data older than the cutoffs: minutes before `cutoff`, tier rows before `tiers[300]` /
   * `tiers[3600]` / `tiers[86400]` (a tier without a cutoff is kept), batch ids received before `cutoff`. Cutoffs
   * are rounded down to whole hours, so a tier bucket never loses part of its minutes while it can
   * still be merged into. SQLite deletes in bounded chunks, each its own short transaction (ingest
   * runs between them); PostgreSQL drops whole partitions only (one straddling a cutoff stays until
   * all of it is older).
   */
  async retain(cutoff: number, tiers: RetentionCutoffs = {}): Promise<RetentionResult> {
    const cut: Record<string, number | undefined> = {
      host_minutes: cutoff,
      instance_minutes: cutoff,
      host_5m: tiers[300],
      instance_5m: tiers[300],
      host_1h: tiers[3600],
      instance_1h: tiers[3600],
      host_1d: tiers[86400],
      instance_1d: tiers[86400],
    };
    let deletedRows = 0;
    const dropped: string[] = [];
    if (!this.partitioned) {
      for (const p of PARTITIONED) {
        const c = cut[p.table];
        if (c === undefined) continue;
        const col = p.table.endsWith('minutes') ? 'minute' : 'bucket';
        const key = (p.table.startsWith('host') ? ['agent_id'] : ['agent_id', 'instance_id']).concat(col).join(', ');
        const sql = `DELETE FROM ${p.table} WHERE (${key}) IN (SELECT ${key} FROM ${p.table} WHERE ${col} < ? LIMIT ${DELETE_CHUNK})`;
        for (;;) {
          const n = await this.db.tx((e) => e.run(sql, [floorTo(c, HOUR)]));
          deletedRows += n;
          if (n < DELETE_CHUNK) break;
          await new Promise((r) => setImmediate(r));
        }
      }
    } else {
      for (const p of PARTITIONED) {
        const c = cut[p.table];
        if (c === undefined) continue;
        for (const part of await this.listPartitions(p.table)) {
          if (part.day + p.span > floorTo(c, HOUR)) continue;
          await this.db.tx(async (e) => {
            await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_PARTITION]);
            // part.name matched /_pYYYYMMDD$/ on a catalogue name of our own table; still quote it.
            await e.exec(`DROP TABLE IF EXISTS "${part.name.replace(/"/g, '""')}"`);
          });
          this.partitions.delete(`${p.table}:${part.day}`);
          dropped.push(part.name);
        }
      }
    }
    deletedRows += await retainDiskMinutes(this.db, floorTo(cutoff, HOUR), DELETE_CHUNK);
    const deletedBatches = await this.db.run('DELETE FROM batches WHERE received_at < ?', [cutoff]);
    return { deletedRows, droppedPartitions: dropped, deletedBatches };
  }
}
