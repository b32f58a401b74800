// PostgreSQL's bulk path (store/pg-copy.ts, PgDb.mergeRows): binary COPY encoded on bytes, and
// round trips through a real PostgreSQL of values a text encoding would have to escape, values at
// the edges of their types, rows larger than a chunk, a value of the wrong kind, and a key that is
// stored already (the upsert fallback).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CopyValueError, copyBinary } from '../src/server/store/pg-copy.js';
import { PgDb } from '../src/server/store/postgres.js';
import type { Col } from '../src/server/store/schema.js';
import type { Value } from '../src/server/store/sql.js';
import { createTestDb, engineReady } from './helpers/server.js';

const test = suite('pg-copy');

test('binary COPY bytes: signature, header, fields, NULL, trailer', () => {
  const out = Buffer.concat([...copyBinary([['é', -1, 0.5, null]], ['text', 'int', 'real', 'int'])]);
  const expected = Buffer.concat([
    Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
    Buffer.from('0000000000000000', 'hex'), // flags, header extension
    Buffer.from('0004', 'hex'), // four fields
    Buffer.from('00000002c3a9', 'hex'), // 'é' in UTF-8
    Buffer.from('00000008ffffffffffffffff', 'hex'), // -1 as int8
    Buffer.from('000000083fe0000000000000', 'hex'), // 0.5 as float8
    Buffer.from('ffffffff', 'hex'), // NULL
    Buffer.from('ffff', 'hex'), // trailer
  ]);
  assert.equal(out.toString('hex'), expected.toString('hex'));
  assert.throws(() => [...copyBinary([[1.5]], ['int'])], (e: Error) => e instanceof CopyValueError && /bigint/.test(e.message));
  assert.throws(() => [...copyBinary([[2 ** 53]], ['int'])], (e: Error) => e instanceof CopyValueError);
});

const COLS: Col[] = [
  { name: 'k', kind: 'text' },
  { name: 's', kind: 'text' },
  { name: 'i', kind: 'int' },
  { name: 'r', kind: 'real' },
];

/** A throwaway database holding table t (the columns of COLS, k its key), dropped after fn. */
async function withTable(name: string, fn: (db: PgDb) => Promise<void>): Promise<void> {
  if (!(await engineReady('postgres', name))) return;
  const t = await createTestDb('postgres');
  const db = PgDb.open(t.db, { poolMax: 2 });
  try {
    await db.exec('CREATE TABLE t (k text PRIMARY KEY, s text, i bigint, r double precision)');
    await fn(db);
  } finally {
    await db.close();
    await t.drop();
  }
}

test('round trip through PostgreSQL: escapes, edges, a field over a chunk, many chunks', () =>
  withTable('pg-copy round trip', async (db) => {
    const big = 'ü\t🙂\\'.repeat(40_000); // 160,000 UTF-16 units, ~360 kB of UTF-8
    const rows: Value[][] = [
      ['tabs', 'a\tb\nc\r\\N\\', -(2 ** 53 - 1), -0],
      ['edges', '', 2 ** 53 - 1, Number.MIN_VALUE],
      ['nulls', null, null, null],
      ['inf', 'x', -4294967296, Infinity],
      ['ninf', 'x', 4294967295, -Infinity],
      ['nan', 'x', 4294967296, NaN],
      ['big', big, 1, 1e308],
    ];
    for (let n = 0; n < 20_000; n++) rows.push([`row-${n}`, `name ${n} ${'·'.repeat(n % 7)}`, n * 1_000_003, n / 7]);
    await db.tx((e) => db.mergeRows(e, 't', COLS, rows, 'ON CONFLICT (k) DO UPDATE SET s = excluded.s', 'k'));
    const back = new Map((await db.rows('SELECT k, s, i, r FROM t')).map((r) => [r[0] as string, r]));
    assert.is(back.size, rows.length);
    for (const r of rows) {
      const got = back.get(r[0] as string)!;
      assert.is(got[1], r[1], `text of ${r[0]}`);
      assert.is(got[2] === null ? null : Number(got[2]), r[2], `bigint of ${r[0]}`);
      if (typeof r[3] === 'number' && Number.isNaN(r[3])) assert.ok(Number.isNaN(got[3] as number), 'NaN');
      else assert.ok(Object.is(got[3], r[3]), `double of ${r[0]}: ${String(got[3])} vs ${String(r[3])}`);
    }
  }));

test('a value of the wrong kind fails the COPY and stores nothing; a stored key goes through the upsert', () =>
  withTable('pg-copy errors and merge', async (db) => {
    const bad: Value[][] = [
      ['a', 'x', 1, 1],
      ['b', 'x', 1.25, 1],
    ];
    let err: unknown = null;
    await db.tx((e) => db.mergeRows(e, 't', COLS, bad, '', 'k')).catch((e) => (err = e));
    assert.ok(err instanceof CopyValueError, `CopyValueError, got ${String(err)}`);
    assert.is(Number((await db.rows('SELECT count(*) FROM t'))[0]![0]), 0, 'nothing stored');

    await db.tx((e) => db.mergeRows(e, 't', COLS, [['a', 'first', 1, 1]], 'ON CONFLICT (k) DO UPDATE SET s = t.s || excluded.s', 'k'));
    const merged = await db.tx((e) =>
      db.mergeRows(e, 't', COLS, [['a', '+second', 2, 2], ['c', 'new', 3, 3]], 'ON CONFLICT (k) DO UPDATE SET s = t.s || excluded.s', 'k'),
    );
    assert.ok(merged.some((r) => r.k === 'a'), 'the stored key is reported merged');
    const back = Object.fromEntries((await db.rows('SELECT k, s FROM t ORDER BY k')).map((r) => [r[0], r[1]]));
    assert.equal(back, { a: 'first+second', c: 'new' });
  }));

test.run();
