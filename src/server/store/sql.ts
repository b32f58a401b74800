// The one connection layer of the server's database: ingest, queries and alerting all go through
// an SqlDb (one better-sqlite3 connection, or one pg pool). SQL is written once with `?`
// placeholders; the PostgreSQL side numbers them once per statement text. A Dialect holds the few
// things the two engines spell differently.
import type { Col, ColKind } from './schema.js';

export type Value = string | number | null;
export type Row = Record<string, unknown>;

export interface Exec {
  /** Rows of a query (or of a statement with RETURNING). */
  all(sql: string, params?: readonly Value[]): Promise<Row[]>;
  /** Rows of a query as arrays in select-list order (no per-row objects: the fast read of long series). */
  rows(sql: string, params?: readonly Value[]): Promise<unknown[][]>;
  /** Rows changed by a statement. */
  run(sql: string, params?: readonly Value[]): Promise<number>;
  /** Several statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
}

export interface Dialect {
  readonly kind: 'sqlite' | 'postgres';
  type(kind: ColKind): string;
  /** Scalar min/max of two non-null expressions. */
  least(a: string, b: string): string;
  greatest(a: string, b: string): string;
}

export interface SqlDb extends Exec {
  readonly dialect: Dialect;
  /** Runs fn in one transaction (SQLite: BEGIN IMMEDIATE; transactions never interleave). */
  tx<T>(fn: (e: Exec) => Promise<T>): Promise<T>;
  /**
   * Several read statements, rows as arrays of column values (no per-row objects): SQLite runs them
   * back to back with nothing in between on its connection; PostgreSQL runs them concurrently on
   * the pool. For fleet-wide scans (alerts/fleet-frame.ts) that return many rows.
   */
  arrays(queries: readonly { sql: string; params: readonly Value[] }[]): Promise<unknown[][][]>;
  /** Serialises schema changes across processes sharing the database, inside a transaction. */
  lockForMigration(e: Exec): Promise<void>;
  /**
   * Inserts many rows with one statement shape (`tail`: ON CONFLICT ...), in the fastest form the
   * engine has: a prepared statement per row on SQLite, unnest() of one array per column on
   * PostgreSQL. With `returning`, the RETURNING rows come back in no particular order.
   */
  insertRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]>;
  /**
   * Inserts rows keyed by the table's primary key, merging by `tail` (ON CONFLICT ... DO UPDATE)
   * those whose key is stored already. Returns the `returning` columns of every merged row and
   * possibly of some new ones (the caller tells them apart by what `returning` holds).
   */
  mergeRows(e: Exec, table: string, cols: readonly Col[], rows: readonly Value[][], tail: string, returning?: string): Promise<Row[]>;
  close(): Promise<void>;
}

export function colDefs(d: Dialect, cols: readonly Col[], notNull: readonly string[]): string {
  return cols.map((c) => `${c.name} ${d.type(c.kind)}${notNull.includes(c.name) ? ' NOT NULL' : ''}`).join(',\n  ');
}
