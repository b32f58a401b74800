// Verified credentials kept in memory (src/server/token-cache.ts):
//  - the cache's rules on their own: nothing kept while not listening, revoked or unknown
//    credentials never kept, a lookup that was in flight when the table changed not kept, TTL,
//    the size bound;
//  - [postgres] two servers on one database: a reader's second request is answered from memory,
//    and a revocation made anywhere (the other server, the CLI, hand-written SQL, this server's
//    console) is refused by this server, at once for its own writes and within the time a
//    notification takes for the others; on SQLite nothing is kept;
//  - [postgres] the LISTEN session killed by the database: the cache is off at once (a credential
//    revoked meanwhile is refused), and on again after the next heartbeat reconnects.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { openBackend, startServer, type RunningServer } from '../src/server/app.js';
import type { TokenRow } from '../src/server/store/store.js';
import { TokenCache, watchTokens } from '../src/server/token-cache.js';
import { CLI } from './helpers/fire.js';
import { waitFor } from './helpers/procs.js';
import { createTestDb, engineReady, request, startTestServer, testConfig } from './helpers/server.js';

const row = (id: string, revokedAt: number | null = null): TokenRow => ({
  accessKeyId: id,
  name: id,
  role: 'reader',
  secretSha256: '00'.repeat(32),
  agentId: null,
  createdAt: 0,
  revokedAt,
});

test('the cache keeps live credentials only while listening, never across a change, for its TTL, within its bound', async () => {
  let now = 0;
  const c = new TokenCache(30_000, () => now, 3);
  let loads = 0;
  const load = (r: TokenRow | null) => async () => (loads++, r);

  // Not listening: every lookup goes to the database.
  await c.get('a', load(row('A')));
  await c.get('a', load(row('A')));
  assert.is(loads, 2);
  assert.equal(c.lookups, { hit: 0, miss: 0, uncached: 2 });

  c.setListening(true);
  const first = await c.get('a', load(row('A')));
  const again = await c.get('a', load(row('B')));
  assert.is(again, first, 'the second lookup is answered from memory');
  assert.is(loads, 3);
  assert.ok(Object.isFrozen(again), 'a shared row cannot be changed by one request for the next');

  // Revoked and unknown credentials are looked up every time.
  await c.get('r', load(row('R', 100)));
  await c.get('r', load(row('R', 100)));
  await c.get('u', load(null));
  await c.get('u', load(null));
  assert.is(loads, 7);

  // A change heard while a lookup is in flight: its answer may predate the change, so it is not kept.
  let release!: (r: TokenRow) => void;
  const inFlight = c.get('f', () => new Promise<TokenRow>((r) => (release = r)));
  c.invalidate();
  release(row('F'));
  await inFlight;
  assert.is(c.size, 0, 'a row read before the change was kept after it');
  // The same across losing and regaining the LISTEN session.
  const across = c.get('g', () => new Promise<TokenRow>((r) => (release = r)));
  c.setListening(false);
  c.setListening(true);
  release(row('G'));
  await across;
  assert.is(c.size, 0);

  // TTL.
  await c.get('a', load(row('A')));
  now = 29_999;
  await c.get('a', load(row('A')));
  const before = loads;
  now = 30_001;
  await c.get('a', load(row('A')));
  assert.is(loads, before + 1, 'an entry older than the TTL is looked up again');

  // Bound: the oldest goes first.
  for (const k of ['k1', 'k2', 'k3']) await c.get(k, load(row(k)));
  assert.is(c.size, 3);
  const n = loads;
  await c.get('k3', load(row('k3')));
  await c.get('a', load(row('A')));
  assert.is(loads, n + 1, 'the oldest entry was evicted, the newest kept');

  // Losing the session empties it and stops keeping.
  c.setListening(false);
  assert.is(c.size, 0);
  await c.get('k3', load(row('k3')));
  assert.is(c.size, 0);
  // A TTL of 0 never keeps anything, listening or not.
  const off = new TokenCache(0);
  off.setListening(true);
  assert.is(off.listening, false);
});

test("a revocation through this process's own store empties its cache before it returns (no notification needed)", async () => {
  // A real SQLite file with the cache forced on, as if listening: the notification that would
  // come on PostgreSQL never does here. A second store on the same file stands for another
  // process (the CLI); only the own store's write can empty the cache.
  const db = await createTestDb('sqlite');
  const own = await openBackend({ db: db.db, keyFile: db.keyFile, pgPoolMax: 1 });
  const other = await openBackend({ db: db.db, keyFile: db.keyFile, pgPoolMax: 1 });
  try {
    const { store, credentials } = own;
    credentials.cache = new TokenCache(60_000);
    credentials.cache.setListening(true);
    const a = await credentials.create('reader', 'own-a');
    const b = await credentials.create('reader', 'own-b');
    for (const c of [a, b]) assert.ok(await credentials.verifyBearer(c.secret));
    // Behind the cache's back the old answer stands (on PostgreSQL, until the notification).
    assert.ok(await other.store.revokeToken(a.access_key_id, 1));
    assert.ok(await credentials.verifyBearer(a.secret), 'the cache was not in use');
    assert.ok(await store.revokeToken(b.access_key_id, 1));
    assert.is(await credentials.verifyBearer(b.secret), null, 'a credential revoked through this store was accepted');
    assert.is(await credentials.verifyBearer(a.secret), null);
  } finally {
    await own.store.close();
    await other.store.close();
    await db.drop();
  }
});

async function metric(url: string, secret: string, name: string, labels = ''): Promise<number> {
  const r = await request(`${url}/metrics`, { secret });
  assert.is(r.status, 200);
  const line = r.text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  assert.ok(line, `${name}${labels} in /metrics`);
  return Number(line.split(' ')[1]);
}

const status = async (url: string, secret: string) => (await request(`${url}/v1/instances`, { secret })).status;

test('[postgres] two servers, one database: answered from memory, and every revocation is refused', async () => {
  if (!(await engineReady('postgres', 'credential cache across servers'))) return;
  const db = await createTestDb('postgres');
  let a: RunningServer | null = null;
  let b: RunningServer | null = null;
  try {
    a = await startServer(testConfig(db));
    b = await startServer(testConfig(db));
    const admin = await a.credentials.create('admin', 'tc-admin');
    const readers = await Promise.all(['other-server', 'cli', 'sql', 'console'].map((n) => a!.credentials.create('reader', `tc-${n}`)));
    assert.is(await metric(a.url, admin.secret, 'vmpulse_server_token_cache_listening'), 1);

    const hits0 = await metric(a.url, admin.secret, 'vmpulse_server_token_cache_lookups_total', '{result="hit"}');
    // Three on A: a lookup overlapping the notification of a credential's own INSERT is not kept,
    // so the second may be a miss too, but not also the third.
    for (const r of readers) {
      for (const url of [a.url, a.url, a.url, b.url, b.url]) assert.is(await status(url, r.secret), 200);
    }
    // At least one per reader (and the admin's own scrape).
    const hits1 = await metric(a.url, admin.secret, 'vmpulse_server_token_cache_lookups_total', '{result="hit"}');
    assert.ok(hits1 - hits0 >= readers.length, `hits ${hits0} → ${hits1}`);

    // Revoked elsewhere: refused here once the notification arrives, and from then on.
    const refusedBy = async (secret: string, how: string, url = a!.url) => {
      const t0 = Date.now();
      await waitFor(async () => (await status(url, secret)) === 401, 10_000, `refusing the credential revoked by ${how}`, 10);
      for (let i = 0; i < 10; i++) assert.is(await status(url, secret), 401, `${how}: accepted again after being refused`);
      return Date.now() - t0;
    };
    assert.ok(await b.store.revokeToken(readers[0]!.access_key_id, 1));
    const viaOther = await refusedBy(readers[0]!.secret, 'the other server');
    execFileSync(process.execPath, [CLI, 'token', 'revoke', readers[1]!.access_key_id], { env: { PATH: process.env.PATH ?? '', VMPULSE_DB: db.db, VMPULSE_SERVER_KEY_FILE: db.keyFile } });
    const viaCli = await refusedBy(readers[1]!.secret, 'the CLI');
    await db.query('UPDATE tokens SET revoked_at = 1 WHERE access_key_id = $1', [readers[2]!.access_key_id]);
    const viaSql = await refusedBy(readers[2]!.secret, 'hand-written SQL');
    // Revoked on this server: refused by the very next request, no notification needed.
    const del = await request(`${a.url}/console/api/credentials/${readers[3]!.access_key_id}`, { method: 'DELETE', secret: admin.secret });
    assert.is(del.status, 200, del.text);
    assert.is(await status(a.url, readers[3]!.secret), 401, 'this server accepted a credential it had just revoked');
    // B, which had it in memory too, hears of it from the database.
    const viaConsole = await refusedBy(readers[3]!.secret, "the other server's console", b.url);
    console.log(`  revocations refused by a server that had the credential in memory after: ${viaOther} ms (other server), ${viaCli} ms (CLI), ${viaSql} ms (SQL), ${viaConsole} ms (other server's console)`);
  } finally {
    await a?.close();
    await b?.close();
    await db.drop();
  }
});

test('SQLite: nothing is kept in memory (the CLI writes the file without telling the server)', async () => {
  const s = await startTestServer('sqlite');
  try {
    for (let i = 0; i < 3; i++) assert.is(await status(s.url, s.reader.secret), 200);
    assert.is(await metric(s.url, s.admin.secret, 'vmpulse_server_token_cache_listening'), 0);
    assert.is(await metric(s.url, s.admin.secret, 'vmpulse_server_token_cache_lookups_total', '{result="hit"}'), 0);
    assert.ok((await metric(s.url, s.admin.secret, 'vmpulse_server_token_cache_lookups_total', '{result="uncached"}')) >= 4);
  } finally {
    await s.close();
  }
});

test('[postgres] the LISTEN session killed: off at once, a revocation meanwhile refused, on again after a heartbeat', async () => {
  if (!(await engineReady('postgres', 'credential cache listener loss'))) return;
  const db = await createTestDb('postgres');
  const cache = new TokenCache(60_000);
  const watch = await watchTokens(db.db, cache, { heartbeatMs: 200, timeoutMs: 2000 });
  try {
    assert.ok(watch);
    assert.ok(cache.listening, 'listening after the first attempt');
    // A changed row reaches the cache through the trigger (migration 10, applied by a server).
    const s = await startServer(testConfig(db));
    try {
      const cred = await s.credentials.create('reader', 'tc-listen');
      const byHash = () => s.store.tokenByAccessKey(cred.access_key_id);
      // The INSERT's own notification may arrive while the first lookup is in flight, which then is not kept.
      const keep = (key: string, load: () => Promise<TokenRow | null>) =>
        waitFor(async () => (await cache.get(key, load), cache.size === 1), 5000, `${key} kept`);
      await keep('x', byHash);
      await db.query('UPDATE tokens SET name = $1 WHERE access_key_id = $2', ['renamed', cred.access_key_id]);
      await waitFor(() => cache.size === 0, 5000, 'the notification emptying the cache');

      await keep('x', byHash);
      const killed = await db.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'vmpulse-token-listener' AND datname = current_database()");
      assert.ok(killed.length >= 1, 'a listener session to kill');
      await waitFor(() => !cache.listening, 5000, 'the cache turned off when its session died');
      assert.is(cache.size, 0);
      // Meanwhile nothing is kept, so a revocation is seen by the next lookup.
      await db.query('UPDATE tokens SET revoked_at = 1 WHERE access_key_id = $1', [cred.access_key_id]);
      assert.is.not((await cache.get('x', byHash))!.revokedAt, null);
      await waitFor(() => cache.listening, 10_000, 'listening again after a heartbeat', 50);
      const c2 = await s.credentials.create('reader', 'tc-listen-2');
      await keep('y', () => s.store.tokenByAccessKey(c2.access_key_id));
      await db.query('UPDATE tokens SET revoked_at = 1 WHERE access_key_id = $1', [c2.access_key_id]);
      await waitFor(() => cache.size === 0, 5000, 'notifications heard on the new session');
    } finally {
      await s.close();
    }
  } finally {
    await watch?.close();
    await db.drop();
  }
});

test.run();
