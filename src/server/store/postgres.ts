// The fleet engine's connection: one pg Pool for ingest, queries and alerting. Statement texts are
// written with `?` and numbered `$n` once per text; each text becomes a named prepared statement,
// so PostgreSQL plans it once per connection. Per-minute and tier tables are declaratively
// partitioned by range of their time column, one partition per table and period, created ahead as
// batches need them, so retention drops whole partitions instead of deleting rows.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { DAY_SECONDS, type Col } from './schema.js';
import { copyBinary } from './pg-copy.js';
import type { Dialect, Exec, Row, SqlDb, Value } from './sql.js';
import type { SqlStore } from './sql-store.js';

/** The store on PostgreSQL (partition listing included). */
export type PostgresStore = SqlStore;

export const pgDialect: Dialect = {
  kind: 'postgres',
  type: (k) => (k === 'text' ? 'text' : k === 'int' ? 'bigint' : 'double precision'),
  least: (a, b) => `LEAST(${a}, ${b})`,
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
};

// Serialise migrations and partition DDL across servers sharing one database.
const LOCK_MIGRATE = 0x766d7075;
export const LOCK_PARTITION = 0x766d7076;
/** Held by the transaction of a tier rollup (rollup.ts): servers sharing the database take turns. */
export const LOCK_ROLLUP = 0x766d7078; // "vmpx" (lease.ts holds "vmpw")

const numbered = new Map<string, { name: string; text: string }>();
function prepared(sql: string): { name: string; text: string } {
  let p = numbered.get(sql);
  if (!p) {
    let i = 0;
    p = { name: `vmp${numbered.size}`, text: sql.replace(/\?/g, () => `$${++i}`) };
    numbered.set(sql, p);
  }
  return p;
}

class PgExec implements Exec {
  constructor(protected readonly q: pg.Pool | pg.PoolClient) {}
  async all(sql: string, params: readonly Value[] = []): Promise<Row[]> {
    const p = prepared(sql);
    return (await this.q.query({ name: p.name, text: p.text, values: params as Value[] })).rows as Row[];
  }
  async rows(sql: string, params: readonly Value[] = []): Promise<unknown[][]> {
    const p = prepared(sql);
    return (await this.q.query({ name: p.name, text: p.text, values: params as Value[], rowMode: 'array' })).rows as unknown[][];
  }
  async run(sql: string, params: readonly Value[] = []): Promise<number> {
    const p = prepared(sql);
    return (await this.q.query({ name: p.name, text: p.text, values: params as Value[] })).rowCount ?? 0;
  }
  async exec(sql: string): Promise<void> {
    await this.q.query(sql);
  }
  /** COPY ... FROM STDIN of `rows` (binary format, pg-copy.ts); only on a transaction's client. */
  async copy(table: string, cols: readonly Col[], rows: readonly Value[][]): Promise<void> {
    const stream = (this.q as pg.PoolClient).query(copyFrom(`COPY ${table} (${cols.map((c) => c.name).join(', ')}) FROM STDIN WITH (FORMAT binary)`));
    await pipeline(Readable.from(copyBinary(rows, cols.map((c) => c.kind))), stream);
  }
  /** A query whose parameters are arrays (unnest); not a named statement when its text varies. */
  async raw(text: string, values: unknown[]): Promise<Row[]> {
    return (await this.q.query(text, values)).rows as Row[];
  }
}

/** INSERT ... SELECT FROM unnest(...): one parameter per column whatever the row count. */
function unnestInsert(table: string, cols: readonly Col[], tail: string, returning?: string): string {
  const arrays = cols.map((c, i) => `$${i + 1}::${pgDialect.type(c.kind)}[]`).join(', ');
  return `INSERT INTO ${table} (${cols.map((c) => c.name).join(', ')}) SELECT * FROM unnest(${arrays}) ${tail}${returning ? ` RETURNING ${returning}` : ''}`;
}

function columnsOf(rows: readonly Value[][], width: number): Value[][] {
  const out: Value[][] = Array.from({ length: width }, () => new Array<Value>(rows.length));
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    for (let c = 0; c < width; c++) out[c]![r] = row[c]!;
  }
  return out;
}

export interface PgOptions {
  poolMax?: number;
}

export class PgDb extends PgExec implements SqlDb {
  readonly dialect = pgDialect;

  private constructor(private readonly pool: pg.Pool) {
    super(pool);
  }

  static open(url: string, opts: PgOptions = {}): PgDb {
    const pool = new pg.Pool({
      connectionString: url,
      max: opts.poolMax ?? 10,
      // bigint columns hold unix seconds, byte counts and bit masks, all below 2^53.
      types: {
        getTypeParser: ((oid: number, format?: string) =>
          oid === 20 ? (v: string) => Number(v) : (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    // An idle client losing its connection must not take the server down; the next query reconnects.
    pool.on('error', () => {});
    // A checked-out client whose connection dies between two queries emits 'error' with no pool
    // listener attached; unhandled, that would end the process. The next query on it fails instead.
    pool.on('connect', (c) => c.on('error', () => {}));
    return new PgDb(pool);
  }

  async tx<T>(fn: (e: Exec) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(new PgExec(c));
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      c.release();
    }
  }

  async arrays(queries: readonly { sql: string; params: readonly Value[] }[]): Promise<unknown[][][]> {
    return Promise.all(
      queries.map(async (q) => {
        const p = prepared(q.sql);
        return (await this.pool.query({ name: p.name, text: p.text, values: q.params as Value[], rowMode: 'array' })).rows as unknown[][];
      }),
    );
  }

  async lockForMigration(e: Exec): Promise<void> {
    await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_MIGRATE]);
  }

  async insertRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]> {
    const out: Row[] = [];
    const sql = unnestInsert(table, cols, tail, returning);
    // Bounded statement size: a 100k-instance batch is inserted in slices within the same transaction.
    for (let i = 0; i < rows.length; i += 20000) {
      const part = await (e as PgExec).raw(sql, columnsOf(rows.slice(i, i + 20000), cols.length));
      if (returning) out.push(...part);
    }
    return out;
  }

  /**
   * A plain COPY costs much less than the upsert with RETURNING (a third to a half of an INSERT of the
   * same rows), and rows are almost always new. It runs under a savepoint: a key stored already
   * (or inserted meanwhile by a concurrent transaction, which the COPY waits for) fails it whole,
   * and then the upsert runs and its RETURNING says which rows were merged.
   */
  async mergeRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]> {
    if (rows.length === 0) return [];
    await e.exec('SAVEPOINT merge_rows');
    try {
      await (e as PgExec).copy(table, cols, rows);
      await e.exec('RELEASE SAVEPOINT merge_rows');
      return [];
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err;
    }
    await e.exec('ROLLBACK TO SAVEPOINT merge_rows');
    return this.insertRows(e, table, cols, rows, tail, returning);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export function dayName(dayStart: number): string {
  return new Date(dayStart * 1000).toISOString().slice(0, 10).replace(/-/g, '');
}

export function dayFromName(name: string): number | null {
  const m = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000 : null;
}

export { DAY_SECONDS };
