// Limits answered readably and overload absorbed, against a real `vmpulse server` process:
//  - a body over the limit (plain, gzip, chunked) gets a 413 that Python's urllib — which sends
//    the whole body before it reads — can read; so does a 401 for a large unauthenticated body;
//  - slow senders hold bytes of the ingest budget but not the storing slots; beyond the budget
//    429 + Retry-After, and a herd of agents with backlogs (the real shipper, honouring
//    Retry-After) is absorbed with nothing lost;
//  - a client trickling its headers, or idling on a keep-alive connection, is cut off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { simPayload } from '../src/bench/sim-agents.js';
import { ingest } from './helpers/server.js';
import { audit, createToken, report, secretsIn, startServerProcess, startSim } from './helpers/fire.js';
import { waitFor } from './helpers/procs.js';

// The default limit and the size of the report that found the broken pipe (a 20 MB POST).
const LIMIT = 8 * 1024 * 1024;
const BIG = 20_000_000;

// Python's urllib writes the whole body before reading the answer.
const CLIENT = `
import json, sys, urllib.request, urllib.error, gzip
url, mode, size, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
headers = {'Content-Type': 'application/json'}
if token != '-':
    headers['Authorization'] = 'Bearer ' + token
body = b'{"pad":"' + b'x' * size + b'"}'
if mode == 'gzip':
    body = gzip.compress(body)
    headers['Content-Encoding'] = 'gzip'
if mode == 'chunked':
    headers['Transfer-Encoding'] = 'chunked'
    data = (body[i:i + 65536] for i in range(0, len(body), 65536))
else:
    data = body
req = urllib.request.Request(url + '/v1/ingest', data=data, method='POST', headers=headers)
try:
    r = urllib.request.urlopen(req, timeout=60)
    print(json.dumps({'status': r.status, 'body': r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({'status': e.code, 'body': e.read().decode()}))
except Exception as e:
    print(json.dumps({'error': type(e).__name__ + ': ' + str(e)}))
`;

function py(script: string, args: string[]): { status?: number; body?: string; error?: string } {
  return JSON.parse(execFileSync('python3', [script, ...args], { encoding: 'utf8', timeout: 120_000 }));
}

test('bodies over the limit get a 413 that urllib can read: plain, gzip, chunked; a large unauthenticated body a readable 401', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-413-'));
  const db = join(dir, 'vmpulse.db');
  const keyFile = join(dir, 'server.key');
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  try {
    const script = join(dir, 'client.py');
    writeFileSync(script, CLIENT);
    const admin = createToken(db, keyFile, 'admin', 'limits-admin');
    server = await startServerProcess({ db, keyFile });
    const cases: [string, number, string, number, string][] = [
      // mode, body size, token, status, code
      ['plain', BIG, admin.secret, 413, 'payload_too_large'],
      ['chunked', BIG, admin.secret, 413, 'payload_too_large'],
      // Compressed it fits; decompressed it is over the limit.
      ['gzip', BIG, admin.secret, 413, 'payload_too_large'],
      ['plain', BIG, '-', 401, 'unauthorized'],
    ];
    for (const [mode, size, token, status, code] of cases) {
      const r = py(script, [server.url, mode, String(size), token]);
      assert.is(r.error, undefined, `${mode} ${size}: urllib read an answer, not ${r.error}`);
      assert.is(r.status, status, `${mode}: ${r.body}`);
      const body = JSON.parse(r.body!);
      assert.is(body.code, code, `${mode}: ${r.body}`);
      if (status === 413) assert.match(body.message, new RegExp(`${LIMIT}`));
    }
    // Within the limit, the same client is answered on the same terms (400: not a payload).
    const ok = py(script, [server.url, 'plain', '1000', admin.secret]);
    assert.is(ok.status, 400, JSON.stringify(ok));
    assert.ok(gzipSync(Buffer.alloc(BIG, 'x')).length < LIMIT, 'the gzip case is small on the wire');
    assert.equal(secretsIn(server.logs(), [admin.secret]), []);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Opens a connection, sends the headers of an ingest with a large body, and then nothing. */
function holdUpload(url: string, secret: string, length: number): Promise<Socket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: u.hostname, port: Number(u.port) }, () => {
      s.write(`POST /v1/ingest HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${secret}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{`);
      resolve(s);
    });
    s.on('error', reject);
  });
}

test('ingest admission: slow senders hold bytes, not storing slots; beyond the bytes 429 + Retry-After; a herd with backlogs is absorbed, nothing lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-429-'));
  const db = join(dir, 'vmpulse.db');
  const keyFile = join(dir, 'server.key');
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  let sim: ReturnType<typeof startSim> | null = null;
  const held: Socket[] = [];
  try {
    const admin = createToken(db, keyFile, 'admin', 'herd-admin');
    server = await startServerProcess({ db, keyFile, env: { VMPULSE_SERVER_INGEST_MAX_INFLIGHT: '2', VMPULSE_SERVER_INGEST_MAX_BYTES: String(16 * 1024 * 1024) } });
    // Two uploads of 8 MB whose bodies never come: they hold 16 MB of the budget, and as many
    // requests as there are storing slots, yet a batch that does arrive is stored.
    for (let i = 0; i < 2; i++) held.push(await holdUpload(server.url, admin.secret, 8_000_000));
    const minute = Math.floor(Date.now() / 60_000) * 60 - 600;
    const stored = await waitFor(async () => {
      const r = await ingest(server!.url, admin.secret, simPayload('herdprobe-0', minute, 2));
      return r.status === 200 ? r : null;
    }, 10_000, 'a small batch stored while two slow uploads are held', 100);
    assert.is(stored.body.status, 'stored');
    // One more slow upload and the budget is nearly spent: a large batch is refused.
    held.push(await holdUpload(server.url, admin.secret, 700_000));
    const refused = await waitFor(
      async () => {
        const r = await ingest(server!.url, admin.secret, simPayload('herdprobe-0', minute - 60, 200));
        return r.status === 429 ? r : null;
      },
      10_000,
      'a 429 once the held bytes are near the budget',
      100,
    );
    assert.is(refused.body.code, 'too_many_requests');
    const ra = Number(refused.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 5, `Retry-After ${ra}`);
    for (const s of held) s.destroy();
    // The bytes come back when those connections go.
    await waitFor(async () => (await ingest(server!.url, admin.secret, simPayload('herdprobe-0', minute - 60, 200))).status === 200, 10_000, 'admission again', 100);
    await server.stop();

    // A herd: 40 agents come back at once with backlogs, against 2 storing slots and 64 KiB.
    server = await startServerProcess({ db, keyFile, env: { VMPULSE_SERVER_INGEST_MAX_INFLIGHT: '2', VMPULSE_SERVER_INGEST_MAX_BYTES: '65536' } });
    const agents = 40;
    const windows = 6;
    const vms = 20;
    sim = startSim({ endpoints: [server.url], token: admin.secret, dir, agents, vms, windows, windowMs: 30, prefix: 'herd', drainMs: 150_000, env: { SIM_CONCURRENCY: '2' } });
    const r = await sim.wait(200_000);
    assert.is(r.code, 0, `every batch acknowledged: ${JSON.stringify(r.done)} ${r.stderr}`);
    const statuses = r.done!.statuses as Record<string, number>;
    assert.ok((statuses['429'] ?? 0) > 0, `the herd was told 429: ${JSON.stringify(statuses)}`);
    const a = await audit(db, dir, 'herd', vms);
    report(`herd of ${agents} agents against 2 storing slots and 64 KiB (${statuses['429']} × 429)`, a);
    assert.equal(a, { sent: agents * windows, stored: agents * windows, duplicated: 0, lost: 0, partial: 0 });
    assert.equal(secretsIn(server.logs(), [admin.secret]), []);
  } finally {
    for (const s of held) s.destroy();
    sim?.kill();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Resolves with what the server sent before closing the connection. */
function untilClosed(s: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const t = setTimeout(() => reject(new Error(`the server kept the connection open for ${timeoutMs} ms`)), timeoutMs);
    s.on('data', (d) => (got += d.toString()));
    s.once('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

test('slow clients: trickled headers, a stalled body and an idle keep-alive connection are cut off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-slow-'));
  const db = join(dir, 'vmpulse.db');
  const keyFile = join(dir, 'server.key');
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  const sockets: Socket[] = [];
  try {
    const admin = createToken(db, keyFile, 'admin', 'slow-admin');
    server = await startServerProcess({
      db,
      keyFile,
      env: { VMPULSE_SERVER_HEADERS_TIMEOUT_MS: '1000', VMPULSE_SERVER_REQUEST_TIMEOUT_MS: '2000', VMPULSE_SERVER_KEEPALIVE_TIMEOUT_MS: '1000' },
    });
    const u = new URL(server.url);
    const open = () =>
      new Promise<Socket>((resolve) => {
        const s = connect({ host: u.hostname, port: Number(u.port) }, () => resolve(s));
        sockets.push(s);
      });

    // Headers never finished: 408 and closed.
    const a = await open();
    a.write(`GET /healthz HTTP/1.1\r\nHost: ${u.host}\r\nX-Slow: `);
    const ta = setInterval(() => a.writable && a.write('x'), 200);
    const ga = await untilClosed(a, 20_000);
    clearInterval(ta);
    assert.match(ga, /^HTTP\/1\.1 408/);

    // Body stalled: headers on time, the body never completes within the request deadline.
    const b = await holdUpload(server.url, admin.secret, 50_000);
    sockets.push(b);
    const gb = await untilClosed(b, 20_000);
    assert.match(gb, /^HTTP\/1\.1 408/);

    // Keep-alive: one request answered, then the idle connection is closed by the server.
    const c = await open();
    const gc = untilClosed(c, 20_000);
    c.write(`GET /healthz HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
    const answered = await gc;
    assert.match(answered, /^HTTP\/1\.1 200/);
    assert.match(answered, /"status":"ok"/);

    // The server still serves.
    const h = await fetch(`${server.url}/healthz`);
    assert.is(h.status, 200);
  } finally {
    for (const s of sockets) s.destroy();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
