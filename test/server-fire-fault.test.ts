// Fault classification on errors the drivers really throw: a SQLite write lock held by another
// connection (SQLITE_BUSY), a PostgreSQL port nobody listens on (ECONNREFUSED), a PostgreSQL
// session terminated by the server (57P01), and errors that are not storage faults at all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { classifyFault } from '../src/server/fault.js';
import { freePort } from './helpers/api-check.js';
import { engineReady, pgAdmin } from './helpers/server.js';
import { pgUrl } from './helpers/needs.js';

async function thrown(fn: () => unknown): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

test('SQLite: a write lock held elsewhere is storage_busy; a constraint violation is no fault', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fault-'));
  try {
    const file = join(dir, 'x.db');
    const a = new Database(file);
    a.exec('CREATE TABLE t (k INTEGER PRIMARY KEY)');
    const b = new Database(file, { timeout: 0 });
    a.exec('BEGIN IMMEDIATE');
    const busy = await thrown(() => b.exec('INSERT INTO t VALUES (1)'));
    assert.is((busy as { code: string }).code, 'SQLITE_BUSY');
    assert.is(classifyFault(busy)?.kind, 'storage_busy');
    a.exec('INSERT INTO t VALUES (1); COMMIT');
    const dup = await thrown(() => b.exec('INSERT INTO t VALUES (1)'));
    assert.match((dup as { code: string }).code, /^SQLITE_CONSTRAINT/);
    assert.is(classifyFault(dup), null);
    a.close();
    b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('PostgreSQL: a refused connection and a terminated session are database_unavailable; a syntax error is no fault', async () => {
  const port = await freePort();
  const refused = await thrown(async () => {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await c.connect();
  });
  assert.is((refused as { code: string }).code, 'ECONNREFUSED');
  const f = classifyFault(refused);
  assert.is(f?.kind, 'database_unavailable');
  assert.ok(f!.retryAfterS >= 1);
  assert.not.match(f!.message, new RegExp(String(port)), 'the message does not reveal the address');
  assert.is(classifyFault(new Error('something else')), null);
  assert.is(classifyFault(undefined), null);

  if (!(await engineReady('postgres', 'fault classification'))) return;
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  c.on('error', () => {});
  try {
    const syntax = await thrown(() => c.query('SELEC 1'));
    assert.is((syntax as { code: string }).code, '42601');
    assert.is(classifyFault(syntax), null);
    const pid = (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p as number;
    const killed = thrown(() => c.query('SELECT pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 300));
    await pgAdmin((admin) => admin.query('SELECT pg_terminate_backend($1)', [pid]));
    const e = await killed;
    assert.is((e as { code: string }).code, '57P01');
    assert.is(classifyFault(e)?.kind, 'database_unavailable');
  } finally {
    await c.end().catch(() => {});
  }
});

test.run();
