// SqlRunner adapters for the two engines' connections (the store exposes one through sqlRunner()).
import type Database from 'better-sqlite3';
import type pg from 'pg';
import type { SqlRunner } from './bulk-source.js';

const registered = new WeakSet<Database.Database>();

/**
 * Runs statements on a better-sqlite3 connection, rows as arrays. Registers vmp_fsum: a plain
 * left-to-right IEEE sum (SQLite's sum() compensates rounding, GetInstanceMetricData does not).
 */
export function sqliteRunner(db: Database.Database): SqlRunner {
  if (!registered.has(db)) {
    db.aggregate('vmp_fsum', { start: null, step: (acc: number | null, x: number | null) => (x === null ? acc : acc === null ? x : acc + x), deterministic: true });
    registered.add(db);
  }
  const cache = new Map<string, Database.Statement>();
  return {
    engine: 'sqlite',
    async all(sql, params) {
      let st = cache.get(sql);
      if (!st) {
        st = db.prepare(sql).raw(true);
        if (cache.size > 200) cache.clear();
        cache.set(sql, st);
      }
      return st.all(...params) as unknown[];
    },
  };
}

export function postgresRunner(pool: pg.Pool): SqlRunner {
  return {
    engine: 'postgres',
    async all(sql, params) {
      return (await pool.query(sql, params as unknown[])).rows;
    },
  };
}
