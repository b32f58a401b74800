// The embedded engine's connection: better-sqlite3 in WAL mode. Statements run synchronously; the
// async Exec signatures only keep one store code for both engines. A transaction spans awaits, so
// transactions are chained and a statement outside one waits until none is open: nothing else on
// this connection can slip into (or be rolled back with) another caller's transaction. The chain is
// per database file and process: a second connection to the same file in this process (a test, a
// bench) must wait its turn rather than block the thread on the first one's write lock.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Col } from './schema.js';
import type { Dialect, Exec, Row, SqlDb, Value } from './sql.js';

export const sqliteDialect: Dialect = {
  kind: 'sqlite',
  type: (k) => (k === 'text' ? 'TEXT' : k === 'int' ? 'INTEGER' : 'REAL'),
  // SQLite's scalar min()/max() return NULL when an argument is NULL; callers pass non-null values.
  least: (a, b) => `min(${a}, ${b})`,
  greatest: (a, b) => `max(${a}, ${b})`,
};

class Direct implements Exec {
  private readonly cache = new Map<string, Database.Statement>();
  /** Statements in raw (array) mode, kept apart: raw() changes a statement's mode for every caller. */
  private readonly rawCache = new Map<string, Database.Statement>();
  constructor(readonly db: Database.Database) {}
  st(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }
  /** The same statement text in array row mode (its own cache: raw() changes a statement for good). */
  stRaw(sql: string): Database.Statement {
    let s = this.rawCache.get(sql);
    if (!s) {
      s = this.db.prepare(sql).raw(true);
      this.rawCache.set(sql, s);
    }
    return s;
  }
  async all(sql: string, params: readonly Value[] = []): Promise<Row[]> {
    const s = this.st(sql);
    if (s.reader) return s.all(params) as Row[];
    s.run(params);
    return [];
  }
  async rows(sql: string, params: readonly Value[] = []): Promise<unknown[][]> {
    return this.stRaw(sql).all(params) as unknown[][];
  }
  async run(sql: string, params: readonly Value[] = []): Promise<number> {
    return this.st(sql).run(params).changes;
  }
  async exec(sql: string): Promise<void> {
    this.db.exec(sql);
  }
}

interface Turn {
  chain: Promise<unknown>;
  inTx: boolean;
}
const turns = new Map<string, Turn>();

export class SqliteDb implements SqlDb {
  readonly dialect = sqliteDialect;
  private readonly direct: Direct;
  private readonly turn: Turn;

  private constructor(
    readonly db: Database.Database,
    file: string,
  ) {
    this.direct = new Direct(db);
    let t = turns.get(file);
    if (!t) turns.set(file, (t = { chain: Promise.resolve(), inTx: false }));
    this.turn = t;
  }

  static open(path: string): SqliteDb {
    const file = resolve(path);
    mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // FULL: a commit fsyncs the WAL before it returns, so a batch the server acknowledged survives
    // a power loss or kernel crash too (the agent deletes a batch from its spool once it is
    // acknowledged). NORMAL would keep it only across a crash of this process; it saves one fsync
    // per batch, not per row.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.pragma('foreign_keys = ON');
    return new SqliteDb(db, file);
  }

  private async idle(): Promise<void> {
    while (this.turn.inTx) await this.turn.chain;
  }

  async all(sql: string, params?: readonly Value[]): Promise<Row[]> {
    await this.idle();
    return this.direct.all(sql, params);
  }
  async rows(sql: string, params?: readonly Value[]): Promise<unknown[][]> {
    await this.idle();
    return this.direct.rows(sql, params);
  }
  async run(sql: string, params?: readonly Value[]): Promise<number> {
    await this.idle();
    return this.direct.run(sql, params);
  }
  async exec(sql: string): Promise<void> {
    await this.idle();
    return this.direct.exec(sql);
  }

  async arrays(queries: readonly { sql: string; params: readonly Value[] }[]): Promise<unknown[][][]> {
    await this.idle();
    // Synchronous from here on: no other statement on this connection runs between these.
    return queries.map((q) => this.direct.stRaw(q.sql).all(q.params) as unknown[][]);
  }

  tx<T>(fn: (e: Exec) => Promise<T>): Promise<T> {
    const next = this.turn.chain.then(async () => {
      this.turn.inTx = true;
      try {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(this.direct);
          this.db.exec('COMMIT');
          return out;
        } catch (e) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw e;
        }
      } finally {
        this.turn.inTx = false;
      }
    });
    this.turn.chain = next.catch(() => {});
    return next;
  }

  // BEGIN IMMEDIATE already holds the database's write lock.
  async lockForMigration(): Promise<void> {}

  async insertRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]> {
    if (rows.length === 0) return [];
    const sql = `INSERT INTO ${table} (${cols.map((c) => c.name).join(', ')}) VALUES (${cols.map(() => '?').join(', ')}) ${tail}${returning ? ` RETURNING ${returning}` : ''}`;
    const st = (e instanceof Direct ? e : this.direct).st(sql);
    // An array binds as the anonymous parameters without spreading it into arguments.
    if (!returning) {
      for (const r of rows) st.run(r);
      return [];
    }
    const out: Row[] = [];
    for (const r of rows) out.push(st.get(r) as Row);
    return out;
  }

  /**
   * Rows are almost always new (a minute arrives once), and a plain INSERT costs much less than an
   * upsert with RETURNING. Transactions never interleave here, so rows inserted plainly before the
   * first conflict were new; from the row whose key exists on (its failed INSERT undone alone), the
   * rest go through the upsert and report what they became.
   */
  async mergeRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]> {
    if (rows.length === 0) return [];
    const x = e instanceof Direct ? e : this.direct;
    const plain = x.st(`INSERT INTO ${table} (${cols.map((c) => c.name).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    let i = 0;
    try {
      for (; i < rows.length; i++) plain.run(rows[i]!);
      return [];
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') throw err;
    }
    return this.insertRows(x, table, cols, rows.slice(i), tail, returning);
  }

  async close(): Promise<void> {
    await this.turn.chain;
    if (this.db.open) this.db.close();
  }
}
