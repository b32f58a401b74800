// Bad input never crashes the server and never leaves a partial batch, on both engines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createGzip, gzipSync } from 'node:zlib';
import {
  ENGINES,
  engineReady,
  hostWindow,
  ingest,
  instanceRecord,
  instanceWindow,
  nowMinute,
  payload,
  request,
  startTestServer,
  type TestServer,
} from './helpers/server.js';

const TABLES = ['batches', 'agents', 'host_minutes', 'instances', 'instance_minutes'];

async function counts(s: TestServer): Promise<number[]> {
  const out: number[] = [];
  for (const t of TABLES) out.push(await s.db.count(t));
  return out;
}

let bomb: Buffer | null = null;
/** 1 GiB of zeros, gzipped (about 1 MiB on the wire). */
async function gzipBomb(): Promise<Buffer> {
  if (bomb) return bomb;
  const gz = createGzip({ level: 1 });
  const parts: Buffer[] = [];
  gz.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise<void>((resolve, reject) => {
    gz.on('end', resolve);
    gz.on('error', reject);
  });
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 1024; i++) {
    if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
  bomb = Buffer.concat(parts);
  return bomb;
}

/** Deterministic PRNG (mulberry32) so a failing mutation can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function validBatch() {
  const m = nowMinute(-4);
  return payload({
    Stats: [hostWindow(m), hostWindow(m + 60)],
    Instances: [instanceRecord('fuzz0001', { Stats: [instanceWindow(m), instanceWindow(m + 60)] }), instanceRecord('fuzz0002', { Stats: [instanceWindow(m)] })],
  });
}

/** Every path to a leaf or container of a JSON value. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

const REPLACEMENTS: unknown[] = [null, -1, -1e9, 1.5, 0, '', 'x', 'ZZZ', true, [], {}, [1, 2], { a: 1 }, 2 ** 60, 'a'.repeat(5000), 4102444801, -0.0001];

for (const engine of ENGINES) {
  const t = suite(`server fuzz [${engine}]`);
  let s: TestServer | null = null;

  t.after(async () => {
    await s?.close();
    s = null;
  });

  const ready = async (name: string) => {
    if (!(await engineReady(engine, name))) return null;
    s ??= await startTestServer(engine, { maxBodyBytes: 8 * 1024 * 1024 });
    return s;
  };

  /** Sends a bad body and checks: the expected 4xx, the server answers, no table changed. */
  const refuse = async (srv: TestServer, body: string | Buffer, status: number, code: string | null, opts: { gzip?: boolean; headers?: Record<string, string> } = {}) => {
    const before = await counts(srv);
    const r = await ingest(srv.url, srv.admin.secret, body, opts);
    assert.is(r.status, status, `${String(body).slice(0, 80)} → ${r.text}`);
    if (code) assert.is(r.body.code, code, r.text);
    const health = await request(`${srv.url}/healthz`);
    assert.is(health.status, 200);
    assert.equal(await counts(srv), before, 'no partial data');
    return r;
  };

  t('malformed JSON, wrong types, NaN/Infinity tokens, huge and negative numbers, unknown fields, duplicates', async () => {
    const srv = await ready('fuzz fixed cases');
    if (!srv) return;
    const ok = JSON.stringify(validBatch());
    for (const bad of ['', '{', '{"Version":1,', 'null', '[]', '"str"', '123', '\u0000\u0001\u0002', ok.slice(0, ok.length / 2), ok + '}', '{"Version":1}'.repeat(3)]) {
      await refuse(srv, bad, 400, null);
    }
    await refuse(srv, ok.replace('"CPUSpeed":3200', '"CPUSpeed":NaN'), 400, 'invalid_json');
    await refuse(srv, ok.replace('"CPUSpeed":3200', '"CPUSpeed":Infinity'), 400, 'invalid_json');
    await refuse(srv, ok.replace('"CPUSpeed":3200', '"CPUSpeed":-Infinity'), 400, 'invalid_json');
    const inf = await refuse(srv, ok.replace('"CPUSpeed":3200', '"CPUSpeed":1e400'), 400, 'invalid_payload');
    assert.is(inf.body.field, '/CPUSpeed');
    const huge = await refuse(srv, ok.replace('"RAM":67108864000', '"RAM":1e300'), 400, 'invalid_payload');
    assert.is(huge.body.field, '/RAM');
    const neg = await refuse(srv, ok.replace('"NetIn":6000', '"NetIn":-6000'), 400, 'invalid_payload');
    assert.is(neg.body.field, '/Instances/0/Stats/0/NetIn');
    const type = await refuse(srv, ok.replace('"PID":4242', '"PID":"4242"'), 400, 'invalid_payload');
    assert.is(type.body.field, '/Instances/0/PID');
    const ver = await refuse(srv, ok.replace('"Version":1', '"Version":2'), 400, 'invalid_payload');
    assert.is(ver.body.field, '/Version');
    const unk = await refuse(srv, ok.replace('"Samples":12', '"Samples":12,"Bogus":true'), 400, 'invalid_payload');
    assert.is(unk.body.field, '/Stats/0/Bogus');
    const dup = await refuse(srv, ok.replaceAll('fuzz0002', 'fuzz0001'), 400, 'invalid_payload');
    assert.is(dup.body.field, '/Instances/1/InstanceID');
    const bid = await refuse(srv, JSON.stringify({ ...validBatch(), BatchID: 'not-a-ulid' }), 400, 'invalid_payload');
    assert.is(bid.body.field, '/BatchID');
    const deep = '['.repeat(100000) + ']'.repeat(100000);
    await refuse(srv, deep, 400, 'invalid_payload');
    await refuse(srv, ok, 415, 'unsupported_encoding', { headers: { 'content-encoding': 'br' } });
  });

  t('truncated gzip, a gzip bomb of 1 GiB zeros and an oversize body are refused cheaply', async () => {
    const srv = await ready('fuzz compression');
    if (!srv) return;
    const gz = gzipSync(JSON.stringify(validBatch()));
    await refuse(srv, gz.subarray(0, gz.length - 10), 400, 'invalid_gzip', { headers: { 'content-encoding': 'gzip' } });
    await refuse(srv, Buffer.from('not gzip at all'), 400, 'invalid_gzip', { headers: { 'content-encoding': 'gzip' } });
    const b = await gzipBomb();
    assert.ok(b.length < 8 * 1024 * 1024, `the bomb is small on the wire (${b.length})`);
    // Inflating stops at the limit (413, not a parse error of 1 GiB of zeros, not a crash); what
    // that costs in time and memory is a bench figure, not a test's.
    await refuse(srv, b, 413, 'payload_too_large', { headers: { 'content-encoding': 'gzip' } });
    const big = Buffer.alloc(9 * 1024 * 1024, 0x20);
    await refuse(srv, big, 413, 'payload_too_large');
    // A body just over the limit once decompressed (but small compressed) is refused too.
    const padded = JSON.stringify(validBatch()) + ' '.repeat(8 * 1024 * 1024);
    await refuse(srv, gzipSync(padded), 413, 'payload_too_large', { headers: { 'content-encoding': 'gzip' } });
  });

  t('random mutations of a valid batch answer 200 or 400, never 500, never a partial batch', async () => {
    const srv = await ready('fuzz mutations');
    if (!srv) return;
    const random = rng(0xc0ffee);
    const base = validBatch();
    const all = paths(base).filter((p) => p.length > 0 && p[0] !== 'BatchID');
    let stored = 0;
    for (let i = 0; i < 150; i++) {
      const batch = structuredClone(base) as unknown as Record<string, unknown>;
      batch.BatchID = payload().BatchID;
      const path = all[Math.floor(random() * all.length)]!;
      let parent: Record<string | number, unknown> = batch;
      for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const last = path.at(-1)!;
      const op = random();
      if (op < 0.15 && !Array.isArray(parent)) delete parent[last];
      else parent[last] = structuredClone(REPLACEMENTS[Math.floor(random() * REPLACEMENTS.length)]);
      const before = await counts(srv);
      const r = await ingest(srv.url, srv.admin.secret, JSON.stringify(batch), { gzip: random() < 0.5, headers: { 'idempotency-key': String(batch.BatchID) } });
      assert.ok(r.status === 200 || r.status === 400, `mutation ${i} at /${path.join('/')}: ${r.status} ${r.text}`);
      const after = await counts(srv);
      if (r.status === 200) {
        stored++;
        assert.is(after[0], before[0]! + 1, 'one batch row per stored batch');
      } else assert.equal(after, before, `mutation ${i} at /${path.join('/')} left data behind`);
    }
    // Still serving valid batches after all of that.
    const good = await ingest(srv.url, srv.admin.secret, validBatch());
    assert.is(good.status, 200, good.text);
    assert.is(good.body.status, 'stored');
    assert.ok(stored < 150, 'most mutations are refused');
  });

  t.run();
}
