// The ingest decode workers (src/server/ingest): rows packed across threads come back equal, a
// server decoding in its workers stores and refuses exactly what one decoding on the event loop does,
// and the Piscina pools' threads load their module in a way that a close mid-start cannot abort.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { SamplerPool } from '../src/agent/pool.js';
import { systemConstants } from '../src/readers/system.js';
import { DecodePool } from '../src/server/ingest/decode-pool.js';
import { distRoot } from '../src/paths.js';
import { esmWorker } from '../src/worker-module.js';
import { packBatch, packRows, unpackBatch, unpackRows } from '../src/server/ingest/packed-rows.js';
import { batchRows } from '../src/server/store/batch-rows.js';
import type { Col } from '../src/server/store/schema.js';
import type { Value } from '../src/server/store/sql.js';
import { toMinuteRecords } from '../src/server/minutes.js';
import { hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, startTestServer, type TestServer } from './helpers/server.js';

const t = suite('server ingest decode');

const COLS: Col[] = [
  { name: 'a', kind: 'text' },
  { name: 'n', kind: 'int' },
  { name: 'x', kind: 'real' },
  { name: 'b', kind: 'text' },
];

t('packed rows come back value for value: nulls in text and numeric columns, -0, 2^53 − 1, empty strings', () => {
  const rows: Value[][] = [
    ['vm-1', 1, 0.1 + 0.2, '["tap0"]'],
    [null, null, -0, ''],
    ['', Number.MAX_SAFE_INTEGER, null, null],
    ['ü ☃', -Number.MAX_SAFE_INTEGER, 1e-300, 'x'],
  ];
  const p = packRows(rows, COLS);
  assert.is(p.rows, 4);
  assert.is(p.nums.length, 8);
  assert.equal(p.texts, ['vm-1', '["tap0"]', '', '', '', '', 'ü ☃', 'x']);
  assert.equal([...p.nulls], [0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
  const back = unpackRows(p, COLS);
  assert.equal(back, rows);
  assert.ok(Object.is(back[1]![2], -0), '-0 stays -0');
  assert.equal(unpackRows(packRows([], COLS), COLS), []);
});

t('a value of the wrong kind or a row of the wrong width is refused, not coerced', () => {
  assert.throws(() => packRows([['a', '1', 1, 'b']], COLS), /n: string in a numeric column/);
  assert.throws(() => packRows([[1, 1, 1, 'b']], COLS), /a: number in a text column/);
  assert.throws(() => packRows([['a', 1, 1]], COLS), /a row of 3 values for 4 columns/);
});

t('a batch packed and unpacked equals its rows (merged sub-minute windows, disks, a window outside retention)', () => {
  const m = nowMinute(-10);
  const p = toMinuteRecords(
    payload({
      Stats: [hostWindow(m), hostWindow(m + 60), hostWindow(m - 40 * 86400)],
      Instances: [
        instanceRecord('aaaa1111', {
          Stats: [
            instanceWindow(m, { Seconds: 30, Disks: [{ Device: 'vda', ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2 }] }),
            instanceWindow(m + 30, { Seconds: 30, Disks: [{ Device: 'vda', ReadBytes: 5, WriteBytes: 7, ReadOps: 1, WriteOps: 1 }] }),
            instanceWindow(m + 60, { NetInErrors: undefined }),
          ],
        }),
        instanceRecord('bbbb2222', { Counters: undefined, Stats: [instanceWindow(m - 40 * 86400)] }),
      ],
    }),
  );
  const rows = batchRows(p, { receivedAt: m + 600, minMinute: m - 15 * 86400, maxMinute: m + 86400 });
  assert.equal(rows.counts, { hostMinutes: 2, instanceMinutes: 2, instances: 2, skippedMinutes: 2 });
  assert.is(rows.diskMinutes.length, 1, 'the two half-minute windows of vda are one minute');
  assert.equal(unpackBatch(packBatch(rows)), rows);
});

/** Every stored row of the ingest tables, in key order, without the receipt times (each server's own clock). */
async function tables(s: TestServer): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const q: Record<string, string> = {
    host_minutes: 'SELECT * FROM host_minutes ORDER BY agent_id, minute',
    instance_minutes: 'SELECT * FROM instance_minutes ORDER BY agent_id, instance_id, minute',
    instances: 'SELECT * FROM instances ORDER BY agent_id, instance_id',
    instance_disk_minutes: 'SELECT * FROM instance_disk_minutes ORDER BY agent_id, instance_id, minute, device',
    rollup_pending: 'SELECT agent_id, bucket, tier FROM rollup_pending ORDER BY agent_id, bucket, tier',
    batches: 'SELECT batch_id, agent_id, created_at FROM batches ORDER BY batch_id',
  };
  for (const [k, sql] of Object.entries(q)) {
    out[k] = (await s.db.query(sql)).map((r) => {
      const { first_seen: _f, last_seen: _l, ...rest } = r as Record<string, unknown>;
      return rest;
    });
  }
  return out;
}

t('workers and the event loop store the same rows and give the same answers and refusals', async () => {
  const inWorkers = await startTestServer('sqlite', { ingestThreads: 2 });
  const onLoop = await startTestServer('sqlite', { ingestThreads: 0 });
  try {
    const m = nowMinute(-20);
    const batches = [
      payload({
        Stats: [hostWindow(m), hostWindow(m + 60)],
        Instances: Array.from({ length: 30 }, (_, i) =>
          instanceRecord(`vm${String(i).padStart(4, '0')}`, {
            Stats: [instanceWindow(m, { NetIn: 1000 + i, Disks: [{ Device: 'vda', ReadBytes: i, WriteBytes: 2 * i, ReadOps: 1, WriteOps: 3 }] }), instanceWindow(m + 60, { NetOutErrors: i })],
          }),
        ),
      }),
      // Late second halves of the same minutes: merged into the stored rows.
      payload({ Stats: [hostWindow(m, { NetIn: 5 })], Instances: [instanceRecord('vm0003', { Stats: [instanceWindow(m, { NetIn: 77, Disks: [{ Device: 'vda', ReadBytes: 1, WriteBytes: 1, ReadOps: 1, WriteOps: 1 }] })] })] }),
      // A minute beyond retention is skipped, the rest stored.
      payload({ Stats: [hostWindow(m - 30 * 86400), hostWindow(m + 120)], Instances: [instanceRecord('vm0009', { Stats: [instanceWindow(m + 120)] })] }),
    ];
    for (const p of batches) {
      for (const gzip of [true, false]) {
        const a = await ingest(inWorkers.url, inWorkers.agent.secret, p, { gzip });
        const b = await ingest(onLoop.url, onLoop.agent.secret, p, { gzip });
        assert.is(a.status, 200, a.text);
        assert.equal(a.body, b.body);
      }
    }
    assert.equal(await tables(inWorkers), await tables(onLoop));
    assert.is((await tables(inWorkers)).instance_minutes!.length, 61);

    const bomb = gzipSync(Buffer.alloc(9 * 1024 * 1024, 0x20));
    const refusals: [string, Buffer | string, Record<string, string>][] = [
      ['not JSON', '{"AgentID": ', {}],
      ['not gzip', Buffer.from('plainly not gzip'), { 'content-encoding': 'gzip' }],
      ['an unknown encoding', '{}', { 'content-encoding': 'br' }],
      ['over the schema', JSON.stringify({ ...batches[0], Instances: [{ ...batches[0]!.Instances[0], PID: 'one' }] }), {}],
      ['an unsafe number', JSON.stringify(batches[2]).replace('"NetIn":', '"NetIn":1e400,"X":'), {}],
      ['a gzip bomb', bomb, { 'content-encoding': 'gzip' }],
    ];
    for (const [what, body, headers] of refusals) {
      const a = await ingest(inWorkers.url, inWorkers.agent.secret, body, { headers });
      const b = await ingest(onLoop.url, onLoop.agent.secret, body, { headers });
      assert.ok(a.status >= 400 && a.status < 500, `${what}: ${a.status} ${a.text}`);
      assert.is(a.status, b.status, what);
      assert.equal(a.body, b.body, what);
    }
    assert.is(await inWorkers.db.count('batches'), 3, 'nothing of a refused body is stored');
    // Every body above went through the decoders, accepted or refused: 6 + 6 on each server.
    for (const [s, threads] of [[inWorkers, 2], [onLoop, 0]] as const) {
      const text = (await request(`${s.url}/metrics`, { secret: s.reader.secret })).text;
      assert.match(text, new RegExp(`^vmpulse_server_ingest_decode_threads ${threads}$`, 'm'));
      assert.match(text, /^vmpulse_server_ingest_decode_queued 0$/m);
      assert.match(text, /^vmpulse_server_ingest_decode_seconds_count 12$/m);
    }
  } finally {
    await inWorkers.close();
    await onLoop.close();
  }
});

/** What require() of `file` gives in a fresh thread: 'module' (loaded synchronously), 'promise', or an error code. */
function requireInThread(file: string, workerData?: unknown): Promise<string> {
  const code = `const { parentPort } = require('node:worker_threads');
    try { const m = require(${JSON.stringify(file)}); parentPort.postMessage(typeof m?.then === 'function' ? 'promise' : 'module') }
    catch (e) { parentPort.postMessage(e.code ?? String(e)) }`;
  const w = new Worker(code, { eval: true, workerData });
  return new Promise((resolve, reject) => {
    w.once('message', (m: string) => void w.terminate().then(() => resolve(m)));
    w.once('error', reject);
  });
}

t('pool threads load their ES module with import(), so a pool closed while its threads start does not abort the process', async () => {
  // Terminating a thread inside require() of an ES module aborts node (a CHECK in ModuleWrap), and
  // Piscina tries require() first: the pools name a CommonJS loader that import()s the module.
  const decodeFile = join(distRoot, 'workers', 'ingest-decode.js');
  assert.is(await requireInThread(decodeFile), 'module', 'this node require()s the ES module itself: the hazard exists');
  const loader = esmWorker(decodeFile);
  assert.match(loader.filename, /esm-loader\.cjs$/);
  assert.is(await requireInThread(loader.filename, loader.workerData), 'promise', 'require() of the loader returns before the module loads');
  // Both pools name the loader.
  const decode = new DecodePool(1);
  const sampler = new SamplerPool({ size: 1, procRoot: '/proc', sysRoot: '/sys', constants: systemConstants() });
  try {
    const optionsOf = (p: Piscina) => p.options as { filename: string | null; workerData: { module: string } };
    const d = optionsOf((decode as unknown as { piscina: Piscina }).piscina);
    const s = optionsOf((sampler as unknown as { shards: { piscina: Piscina }[] }).shards[0]!.piscina);
    assert.match(d.filename ?? '', /esm-loader\.cjs$/, 'decode pool');
    assert.match(d.workerData.module, /\/workers\/ingest-decode\.js$/);
    assert.match(s.filename ?? '', /esm-loader\.cjs$/, 'sampler pool');
    assert.match(s.workerData.module, /\/workers\/sampler\.js$/);
  } finally {
    await decode.close();
    await sampler.close();
  }
  // Pools closed at every point of their threads' start; the process is still here to count them.
  let closed = 0;
  for (let i = 0; i < 40; i++) {
    const pool = new DecodePool(2);
    await new Promise((r) => setTimeout(r, (i * 7) % 80));
    await pool.close();
    closed++;
  }
  assert.is(closed, 40);
});

t.run();
