// `vmpulse token` and `vmpulse server` as processes: credentials printed once, listed and revoked;
// the server started from the environment (plain and TLS), no secret in its logs, clean exit on SIGTERM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distRoot } from '../src/paths.js';
import { hostWindow, ingest, nowMinute, payload, request } from './helpers/server.js';
import { waitFor } from './helpers/procs.js';
import { freePort } from '../src/bench/proc-usage.js';

const cli = join(distRoot, 'src', 'cli.js');

function run(args: string[], env: Record<string, string>): { code: number; out: string; err: string } {
  try {
    const out = execFileSync(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, out, err: '' };
  } catch (e) {
    const x = e as { status: number; stdout: string; stderr: string };
    return { code: x.status, out: x.stdout, err: x.stderr };
  }
}


async function startCliServer(env: Record<string, string>): Promise<{ child: ChildProcess; logs: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, 'server'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (b) => (logs += b));
  child.stderr!.on('data', (b) => (logs += b));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await waitFor(() => child.exitCode !== null || logs.includes('vmpulse server listening'), 10_000, 'the server to listen').catch(() => undefined);
  if (!logs.includes('vmpulse server listening')) {
    child.kill('SIGKILL');
    throw new Error(`the server did not start:\n${logs}`);
  }
  return { child, logs: () => logs, exit };
}

test('token create/list/revoke and vmpulse server on the same database; SIGTERM exits 0; no secret logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-cli-'));
  const child: ChildProcess[] = [];
  try {
    const env = { VMPULSE_DB: join(dir, 'db', 'v.db'), VMPULSE_SERVER_LISTEN: `127.0.0.1:${await freePort()}`, VMPULSE_SERVER_LOG_LEVEL: 'debug' };
    assert.is(run(['token', '--help'], env).code, 0);
    assert.is(run(['server', '--help'], env).code, 0);
    assert.match(run(['server', '--help'], env).out, /VMPULSE_SERVER_LISTEN/);
    assert.is(run(['token', 'create', '--role', 'root', 'x'], env).code, 2);
    assert.is(run(['token', 'create', '--role', 'reader', 'r', '--agent-id', 'a'], env).code, 2);

    const created = run(['token', 'create', '--role', 'agent', 'hv1', '--agent-id', 'agent-1', '--json'], env);
    assert.is(created.code, 0, created.err);
    const agent = JSON.parse(created.out);
    assert.equal(Object.keys(agent).sort(), ['access_key_id', 'agent_id', 'name', 'role', 'secret']);
    assert.is(agent.role, 'agent');
    assert.is(agent.agent_id, 'agent-1');
    assert.match(agent.secret, /^[A-Za-z0-9_-]{43}$/);
    const reader = JSON.parse(run(['token', 'create', '--role', 'reader', 'grafana', '--json'], env).out);
    const human = run(['token', 'create', '--role', 'admin', 'ops'], env);
    assert.match(human.out, /secret: +\S+/);
    // The key file sits next to the SQLite database, private to its owner.
    assert.is(statSync(join(dir, 'db', 'server.key')).mode & 0o777, 0o600);
    assert.is(statSync(join(dir, 'db', 'server.key')).size, 32);
    const dbBytes = readFileSync(join(dir, 'db', 'v.db'));
    assert.not.ok(dbBytes.includes(Buffer.from(agent.secret)), 'the secret is not in the database');

    const list = JSON.parse(run(['token', 'list', '--json'], env).out);
    assert.equal(list.map((t: Record<string, unknown>) => [t.name, t.role, t.agent_id, t.revoked_at]), [
      ['hv1', 'agent', 'agent-1', null],
      ['grafana', 'reader', null, null],
      ['ops', 'admin', null, null],
    ]);
    assert.not.ok(JSON.stringify(list).includes(agent.secret));

    const srv = await startCliServer(env);
    child.push(srv.child);
    const base = `http://${env.VMPULSE_SERVER_LISTEN}`;
    const r = await ingest(base, agent.secret, payload({ AgentID: 'agent-1', Stats: [hostWindow(nowMinute(-1))] }));
    assert.is(r.status, 200, r.text);
    const servers = await request(`${base}/v1/servers`, { secret: reader.secret });
    assert.is(servers.body[0].AgentID, 'agent-1');
    assert.is(run(['token', 'revoke', reader.access_key_id], env).code, 0);
    assert.is(run(['token', 'revoke', reader.access_key_id], env).code, 1, 'revoking twice reports it');
    assert.is((await request(`${base}/v1/servers`, { secret: reader.secret })).status, 401);
    assert.ok(JSON.parse(run(['token', 'list', '--json'], env).out)[1].revoked_at);

    srv.child.kill('SIGTERM');
    assert.is(await srv.exit, 0);
    const logs = srv.logs();

    // A second signal while the first one drains exits at once (130), as the agent and `start` do:
    // a request in flight (its body still coming) holds the drain open.
    const srv2 = await startCliServer(env);
    child.push(srv2.child);
    const sock = connect({ host: '127.0.0.1', port: Number(env.VMPULSE_SERVER_LISTEN.split(':')[1]) });
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    sock.on('error', () => undefined);
    sock.write(`POST /v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${agent.secret}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"AgentID":`);
    try {
      await waitFor(() => srv2.logs().includes('/v1/ingest'), 10_000, 'the request to be in flight');
      srv2.child.kill('SIGTERM');
      await waitFor(() => srv2.logs().includes('shutting down'), 10_000, 'the drain to begin');
      assert.is(srv2.child.exitCode, null, 'the drain waits for the request in flight');
      srv2.child.kill('SIGTERM');
      assert.is(await srv2.exit, 130, 'a second signal exits at once');
      assert.ok(srv2.logs().includes('second signal: exiting now'));
    } finally {
      sock.destroy();
    }
    assert.ok(logs.includes('/v1/ingest'), 'requests are logged');
    assert.not.ok(logs.includes(agent.secret), 'no secret in the logs');
    assert.not.ok(logs.includes(reader.secret), 'no secret in the logs');
  } finally {
    for (const c of child) if (c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS when VMPULSE_SERVER_TLS_CERT and _KEY name PEM files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-tls-'));
  let c: ChildProcess | null = null;
  try {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const port = await freePort();
    const env = { VMPULSE_DB: join(dir, 'v.db'), VMPULSE_SERVER_LISTEN: `127.0.0.1:${port}`, VMPULSE_SERVER_TLS_CERT: cert, VMPULSE_SERVER_TLS_KEY: key };
    const srv = await startCliServer(env);
    c = srv.child;
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/healthz', ca: readFileSync(cert) }, (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(JSON.parse(body), { status: 'ok', engine: 'sqlite' });
    srv.child.kill('SIGINT');
    assert.is(await srv.exit, 0);
  } finally {
    if (c && c.exitCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
