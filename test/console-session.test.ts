// Console sessions against the real server: cookie flags (Secure over TLS), a session per sign-in
// that expires and that sign-out or revoking its credential ends, CSRF refusal on every
// state-changing request made with the cookie (nothing changes), the console routes × roles, and
// sessions shared by two servers on one PostgreSQL database.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needs } from './helpers/needs.js';
import { createTestDb, ingest, instanceRecord, instanceWindow, hostWindow, nowMinute, payload, request, startTestServer, testConfig, type Reply, type TestServer } from './helpers/server.js';
import { startServer } from '../src/server/app.js';
import { distRoot } from '../src/paths.js';
import { freePort } from './helpers/api-check.js';

const s = suite('console sessions');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface SignedIn {
  reply: Reply;
  setCookie: string;
  cookie: string;
  csrf: string;
}

async function signIn(url: string, secret: string, headers: Record<string, string> = {}): Promise<SignedIn> {
  const reply = await request(`${url}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token: secret }) });
  const setCookie = reply.headers.get('set-cookie') ?? '';
  const m = /^vmpulse_session=([^;]*)/.exec(setCookie);
  return { reply, setCookie, cookie: m ? `vmpulse_session=${m[1]}` : '', csrf: reply.body?.csrf ?? '' };
}

/** A request carrying the session cookie (and the CSRF token and Origin when given). */
function withSession(url: string, sess: SignedIn, init: { method?: string; body?: unknown; csrf?: string | null; origin?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { cookie: sess.cookie };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const csrf = init.csrf === undefined ? sess.csrf : init.csrf;
  if (csrf !== null) headers['x-csrf-token'] = csrf;
  if (init.origin) headers.origin = init.origin;
  return request(url, { method: init.method ?? 'GET', headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
}

async function seed(srv: TestServer): Promise<void> {
  const m = nowMinute(-1);
  const r = await ingest(srv.url, srv.agent.secret, payload({ AgentID: 'agent-1', Stats: [hostWindow(m)], Instances: [instanceRecord('vm-1', { Stats: [instanceWindow(m)] })] }));
  assert.is(r.status, 200, r.text);
}

s('sign-in: HttpOnly, SameSite=Strict, Path=/, an expiry; no Secure over HTTP; wrong, agent and cross-origin sign-ins get no cookie', async () => {
  const srv = await startTestServer('sqlite', { consoleSessionTtlS: 3600 });
  try {
    const ok = await signIn(srv.url, srv.reader.secret);
    assert.is(ok.reply.status, 200, ok.reply.text);
    const attrs = ok.setCookie.split(';').map((x) => x.trim());
    assert.match(attrs[0]!, /^vmpulse_session=[A-Za-z0-9_-]{43}$/);
    assert.ok(attrs.includes('HttpOnly'), ok.setCookie);
    assert.ok(attrs.includes('SameSite=Strict'), ok.setCookie);
    assert.ok(attrs.includes('Path=/'), ok.setCookie);
    assert.ok(attrs.includes('Max-Age=3600'), ok.setCookie);
    const expires = Date.parse(attrs.find((a) => a.startsWith('Expires='))!.slice(8));
    assert.ok(Math.abs(expires - (Date.now() + 3600_000)) < 5000, ok.setCookie);
    assert.not.ok(attrs.includes('Secure'), 'plain HTTP: no Secure');
    assert.is(ok.reply.body.role, 'reader');
    assert.is(ok.reply.body.expires_at, Math.floor(expires / 1000));
    assert.not.ok(ok.reply.text.includes(srv.reader.secret), 'the secret is not echoed');
    // The database keeps the id's hash, never the id itself.
    const id = ok.cookie.split('=')[1]!;
    const rows = await srv.db.query('SELECT id_sha256, access_key_id FROM console_sessions');
    assert.is(rows.length, 1);
    assert.is.not(rows[0]!.id_sha256, id);
    assert.is(rows[0]!.access_key_id, srv.reader.access_key_id);

    const wrong = await signIn(srv.url, 'not-a-secret');
    assert.is(wrong.reply.status, 401);
    assert.is(wrong.setCookie, '');
    const agent = await signIn(srv.url, srv.agent.secret);
    assert.is(agent.reply.status, 403);
    assert.is(agent.setCookie, '');
    const foreign = await signIn(srv.url, srv.reader.secret, { origin: 'http://evil.example' });
    assert.is(foreign.reply.status, 403, 'login CSRF: a form on another site cannot sign the browser in');
    assert.is(foreign.setCookie, '');
    const empty = await request(`${srv.url}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.is(empty.status, 400);
    // The secret is never accepted from a URL.
    assert.is((await request(`${srv.url}/console/session?token=${srv.reader.secret}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 400);
    assert.is((await srv.db.query('SELECT id_sha256 FROM console_sessions')).length, 1, 'no session for any refused sign-in');
  } finally {
    await srv.close();
  }
});

s('over TLS the cookie is Secure', async () => {
  if (!(await needs('console cookie over TLS', 'root'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-console-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const srv = await startTestServer('sqlite', { tls: { certFile: cert, keyFile: key } });
  try {
    const port = Number(new URL(srv.url).port);
    const setCookie = await new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ token: srv.reader.secret });
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/console/session', method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve(String(res.headers['set-cookie'] ?? '')) : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
    const attrs = setCookie.split(';').map((x) => x.trim());
    assert.ok(attrs.includes('Secure') && attrs.includes('HttpOnly') && attrs.includes('SameSite=Strict'), setCookie);
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

s('the session expires; sign-out and revoking the credential end it', async () => {
  const srv = await startTestServer('sqlite', { consoleSessionTtlS: 2 });
  try {
    await seed(srv);
    const a = await signIn(srv.url, srv.reader.secret);
    assert.match(a.setCookie, /Max-Age=2(;|$)/);
    assert.is((await withSession(`${srv.url}/v1/instances`, a)).status, 200);
    await sleep(2500);
    const late = await withSession(`${srv.url}/v1/instances`, a);
    assert.is(late.status, 401, 'an expired session opens nothing');
    assert.match(late.body.message, /expired or was signed out/);
  } finally {
    await srv.close();
  }
  const srv2 = await startTestServer('sqlite');
  try {
    await seed(srv2);
    const a = await signIn(srv2.url, srv2.reader.secret);
    const b = await signIn(srv2.url, srv2.reader.secret);
    assert.is.not(a.cookie, b.cookie, 'each sign-in is its own session');
    // Sign-out: this session only.
    const out = await withSession(`${srv2.url}/console/logout`, a, { method: 'POST', body: {} });
    assert.is(out.status, 200, out.text);
    assert.match(out.headers.get('set-cookie') ?? '', /^vmpulse_session=;.*Max-Age=0/);
    assert.is((await withSession(`${srv2.url}/v1/instances`, a)).status, 401);
    assert.is((await withSession(`${srv2.url}/console/api/fleet`, a)).status, 401);
    assert.is((await withSession(`${srv2.url}/v1/instances`, b)).status, 200, 'the other session lives on');
    // Revoking the credential ends every session it opened.
    const admin = await signIn(srv2.url, srv2.admin.secret);
    const rev = await withSession(`${srv2.url}/console/api/credentials/${srv2.reader.access_key_id}`, admin, { method: 'DELETE' });
    assert.is(rev.status, 200, rev.text);
    assert.is((await withSession(`${srv2.url}/v1/instances`, b)).status, 401);
    // A made-up cookie opens nothing.
    assert.is((await request(`${srv2.url}/v1/instances`, { headers: { cookie: 'vmpulse_session=' + 'A'.repeat(43) } })).status, 401);
  } finally {
    await srv2.close();
  }
});

s('CSRF: every state-changing request with the cookie needs the token and this origin; refused ones change nothing', async () => {
  const srv = await startTestServer('sqlite');
  try {
    await seed(srv);
    const admin = await signIn(srv.url, srv.admin.secret);
    const own = srv.url;
    const alarm = { selector: { all: true }, metricName: 'CPUUtilization', statistic: 'Average', period: 60, comparisonOperator: 'GreaterThanThreshold', threshold: 90, evaluationPeriods: 1, datapointsToAlarm: 1 };
    const tokens = async () => (await srv.db.query('SELECT access_key_id FROM tokens')).length;
    const alarmCount = async () => (await srv.db.query('SELECT alarm_name FROM alarms')).length;
    const live = async () => (await withSession(`${srv.url}/console/session`, admin)).status;
    // [method, url, body, what must not have changed]
    const cases: [string, string, unknown, () => Promise<number>][] = [
      ['POST', '/console/api/credentials', { role: 'reader', name: 'csrf-test' }, tokens],
      ['DELETE', `/console/api/credentials/${srv.reader.access_key_id}`, undefined, async () => (await srv.db.query('SELECT 1 FROM tokens WHERE revoked_at IS NULL')).length],
      ['PUT', '/v1/alarms/csrf-test', alarm, alarmCount],
      ['DELETE', '/v1/alarms/csrf-kept', undefined, alarmCount],
      ['POST', '/console/logout', {}, live],
    ];
    // An alarm to (not) delete.
    assert.is((await request(`${srv.url}/v1/alarms/csrf-kept`, { method: 'PUT', secret: srv.admin.secret, headers: { 'content-type': 'application/json' }, body: JSON.stringify(alarm) })).status, 201);
    for (const [method, path, body, state] of cases) {
      const before = await state();
      for (const bad of [
        { csrf: null, why: 'no token' },
        { csrf: 'x'.repeat(43), why: 'wrong token' },
        { csrf: admin.csrf, origin: 'http://evil.example', why: 'right token, foreign Origin' },
        { csrf: admin.csrf, origin: `http://127.0.0.1:${Number(new URL(srv.url).port) + 1}`, why: 'right token, Origin of another port' },
        { csrf: admin.csrf, origin: 'null', why: 'right token, Origin null' },
      ]) {
        const r = await withSession(`${srv.url}${path}`, admin, { method, body, csrf: bad.csrf, origin: bad.origin });
        assert.is(r.status, 403, `${method} ${path} with ${bad.why}: ${r.text}`);
        assert.is(await state(), before, `${method} ${path} with ${bad.why} changed nothing`);
      }
      const good = await withSession(`${srv.url}${path}`, admin, { method, body, origin: own });
      assert.ok(good.status === 200 || good.status === 201, `${method} ${path} with token and own Origin: ${good.status} ${good.text}`);
    }
    assert.is(await live(), 401, 'the last case signed out');
    // Reading needs no token (GET changes nothing).
    const reader = await signIn(srv.url, srv.reader.secret);
    assert.is(reader.reply.status, 401, 'the reader credential was revoked above');
  } finally {
    await srv.close();
  }
});

s('the console routes × roles: anonymous 401, agent 403, reader reads, admin also manages credentials', async () => {
  const srv = await startTestServer('sqlite');
  try {
    await seed(srv);
    const reader = await signIn(srv.url, srv.reader.secret);
    const admin = await signIn(srv.url, srv.admin.secret);
    const spare = await srv.server.credentials.create('reader', 'to-revoke');
    const alarm = { selector: { all: true }, metricName: 'CPUUtilization', statistic: 'Average', period: 60, comparisonOperator: 'GreaterThanThreshold', threshold: 90, evaluationPeriods: 1, datapointsToAlarm: 1 };
    // [method, path, body, reader status, admin status]; sign-out last, as it ends the sessions.
    const routes: [string, string, unknown, number, number][] = [
      ['GET', '/console/session', undefined, 200, 200],
      ['GET', '/console/api/fleet', undefined, 200, 200],
      ['GET', '/console/api/hosts/agent-1', undefined, 200, 200],
      ['GET', '/console/api/vms/agent-1/vm-1', undefined, 200, 200],
      ['GET', '/console/api/alarms', undefined, 200, 200],
      ['GET', '/console/api/alarms/vmpulse-host-silent/history', undefined, 200, 200],
      ['GET', '/console/api/credentials', undefined, 403, 200],
      ['POST', '/console/api/credentials', { role: 'reader', name: 'matrix' }, 403, 201],
      ['DELETE', `/console/api/credentials/${spare.access_key_id}`, undefined, 403, 200],
      ['GET', '/v1/instances', undefined, 200, 200],
      ['GET', '/v1/alarms', undefined, 403, 200],
      ['PUT', '/v1/alarms/matrix', alarm, 403, 201],
      ['POST', '/console/logout', {}, 200, 200],
    ];
    for (const [method, path, body, readerWant, adminWant] of routes) {
      const init: RequestInit = { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined };
      const anon = await request(`${srv.url}${path}`, init);
      assert.is(anon.status, 401, `anonymous ${method} ${path}`);
      const agent = await request(`${srv.url}${path}`, { ...init, secret: srv.agent.secret });
      assert.is(agent.status, 403, `agent ${method} ${path}`);
      const r = await withSession(`${srv.url}${path}`, reader, { method, body });
      assert.is(r.status, readerWant, `reader ${method} ${path}: ${r.text}`);
      const a = await withSession(`${srv.url}${path}`, admin, { method, body });
      assert.is(a.status, adminWant, `admin ${method} ${path}: ${a.text}`);
    }
    // What a reader sees is the data: the VM with its latest window.
    const reader2 = await signIn(srv.url, srv.reader.secret);
    const fleet = (await withSession(`${srv.url}/console/api/fleet`, reader2)).body;
    const vm = fleet.vms.find((v: { instance_id: string }) => v.instance_id === 'vm-1');
    assert.is(vm.cpu, 50, 'cpu_avg of the window (25 and 75)');
    assert.is(vm.net_in, 100, '6000 bytes over 60 s');
    assert.is(fleet.totals.vms, 1);
    // Every VM range asks GetInstanceMetricData for a period Lightsail allows, ≤ 1,440 datapoints.
    const want: Record<string, [number, number]> = { '1h': [3600, 60], '6h': [21600, 60], '1d': [86400, 300], '1w': [604800, 3600], '1mo': [2592000, 3600], '1y': [31536000, 86400] };
    for (const [range, [seconds, period]] of Object.entries(want)) {
      const r = await withSession(`${srv.url}/console/api/vms/agent-1/vm-1?range=${range}&statistic=Sum`, reader2);
      assert.is(r.status, 200, `${range}: ${r.text}`);
      assert.is(r.body.range.period, period, range);
      assert.is(r.body.range.endTime - r.body.range.startTime, seconds, range);
      assert.ok(seconds / period <= 1440, range);
      // The one stored minute (NetIn 6000) lands in exactly one bucket of every range.
      assert.equal(r.body.metrics.NetworkIn.points.map((p: [number, number]) => p[1]), [6000], range);
    }
    assert.is((await withSession(`${srv.url}/console/api/vms/agent-1/vm-1?range=2y`, reader2)).status, 400);
    assert.is((await withSession(`${srv.url}/console/api/vms/agent-1/vm-1?statistic=p99`, reader2)).status, 400);
    assert.is((await withSession(`${srv.url}/console/api/vms/agent-2/vm-1`, reader2)).status, 404);
    // Readers get alarms without their contacts (webhook URLs may carry secrets).
    const alarms = (await withSession(`${srv.url}/console/api/alarms`, reader2)).body.alarms as { alarmName: string; contacts: unknown }[];
    assert.ok(alarms.some((a) => a.alarmName === 'matrix'));
    for (const a of alarms) assert.is(a.contacts, null);
    const admin2 = await signIn(srv.url, srv.admin.secret);
    const full = (await withSession(`${srv.url}/console/api/alarms`, admin2)).body.alarms as { alarmName: string; contacts: unknown }[];
    assert.equal(full.find((a) => a.alarmName === 'matrix')!.contacts, { webhooks: [], alertmanagers: [] });
  } finally {
    await srv.close();
  }
});

s('vmpulse server at trace level: no secret, session id or CSRF token in its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-console-log-'));
  const cli = join(distRoot, 'src', 'cli.js');
  const env = { ...process.env, VMPULSE_DB: join(dir, 'v.db'), VMPULSE_SERVER_LISTEN: `127.0.0.1:${await freePort()}`, VMPULSE_SERVER_LOG_LEVEL: 'trace', VMPULSE_ALARM_BUILTINS: '0' };
  const token = (role: string) => JSON.parse(spawnSync(process.execPath, [cli, 'token', 'create', '--role', role, `log-${role}`, '--json'], { env, encoding: 'utf8' }).stdout) as { secret: string; access_key_id: string };
  const reader = token('reader');
  const admin = token('admin');
  const child = spawn(process.execPath, [cli, 'server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (b) => (logs += b));
  child.stderr!.on('data', (b) => (logs += b));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    for (let i = 0; i < 200 && !logs.includes('vmpulse server listening'); i++) await sleep(50);
    assert.match(logs, /vmpulse server listening/);
    const base = `http://${env.VMPULSE_SERVER_LISTEN}`;
    const wrong = await signIn(base, reader.secret.slice(0, -2) + 'xx');
    assert.is(wrong.reply.status, 401);
    const r = await signIn(base, reader.secret);
    const a = await signIn(base, admin.secret);
    assert.is((await withSession(`${base}/console/api/fleet`, r)).status, 200);
    const made = await withSession(`${base}/console/api/credentials`, a, { method: 'POST', body: { role: 'reader', name: 'from-console' } });
    assert.is(made.status, 201, made.text);
    assert.is((await withSession(`${base}/console/logout`, r, { method: 'POST', body: {} })).status, 200);
    child.kill('SIGTERM');
    assert.is(await exit, 0);
    assert.match(logs, /console sign-in/, 'the sign-in is logged (without its secret)');
    assert.match(logs, /incoming request/, 'trace level logs every request');
    for (const [what, secret] of [
      ['reader secret', reader.secret],
      ['admin secret', admin.secret],
      ['created secret', made.body.secret as string],
      ['reader session id', r.cookie.split('=')[1]!],
      ['admin session id', a.cookie.split('=')[1]!],
      ['CSRF token', a.csrf],
    ] as const) {
      assert.ok(secret.length >= 20, what);
      assert.not.ok(logs.includes(secret), `${what} in the log`);
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

s('postgres: two servers on one database share sessions; sign-out on one ends it on both', async () => {
  if (!(await needs('console sessions across servers', 'postgres'))) return;
  const db = await createTestDb('postgres');
  const a = await startServer(testConfig(db));
  const b = await startServer(testConfig(db));
  try {
    const reader = await a.credentials.create('reader', 'shared');
    const sess = await signIn(a.url, reader.secret);
    assert.is(sess.reply.status, 200);
    assert.is((await withSession(`${b.url}/v1/instances`, sess)).status, 200, 'server B honours a session made on A');
    const out = await withSession(`${b.url}/console/logout`, sess, { method: 'POST', body: {}, origin: b.url });
    assert.is(out.status, 200, out.text);
    assert.is((await withSession(`${a.url}/v1/instances`, sess)).status, 401, 'signed out on B: refused on A');
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

s.run();
