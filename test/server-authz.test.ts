// The security review, executable:
//  - ROUTE_ACCESS (src/server/access.ts) lists exactly the routes the server serves;
//  - every route × {no credential, agent, reader, admin} against a real server process answers as
//    the table says (401 without a credential, 403 for a role not allowed, success otherwise),
//    and a revoked or unknown credential is refused;
//  - no token, no webhook URL appears in that server's log, at debug level;
//  - TLS checked with curl: the certificate is verified, TLS < 1.2 is refused, ingest over TLS
//    from the real shipper stores every batch.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetInstanceMetricDataCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import { ROUTE_ACCESS, STATIC_ROUTE, servedRoutes, type RouteAccess } from '../src/server/access.js';
import type { Role } from '../src/server/store/store.js';
import { hostWindow, instanceRecord, instanceWindow, payload, request, startTestServer } from './helpers/server.js';
import { audit, CLI, createToken, report, secretsIn, startServerProcess, startSim } from './helpers/fire.js';

test('the route table lists exactly the routes the server serves', async () => {
  const s = await startTestServer('sqlite');
  try {
    const served = servedRoutes(s.server.app).map((r) => `${r.method} ${r.url}`).sort();
    const table = ROUTE_ACCESS.map((r) => `${r.method} ${r.url}`).sort();
    assert.equal(served, table, 'a route is served that the security table does not list (or the other way round)');
  } finally {
    await s.close();
  }
});

const WEBHOOK_SECRET = 'T0SECRET-WEBHOOK-7c2e81';
const WEBHOOK = `https://hooks.example.invalid/services/${WEBHOOK_SECRET}`;

type Who = 'none' | Role;

test('every route × every role × no credential answers as the table says; no secret in the debug log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-authz-'));
  const db = join(dir, 'vmpulse.db');
  const keyFile = join(dir, 'server.key');
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  try {
    const cred = {
      admin: createToken(db, keyFile, 'admin', 'authz-admin'),
      reader: createToken(db, keyFile, 'reader', 'authz-reader'),
      agent: createToken(db, keyFile, 'agent', 'authz-agent'),
    };
    const revoked = createToken(db, keyFile, 'reader', 'authz-revoked');
    // Revoked by the admin's DELETE /console/api/credentials/:id in the walk below.
    const victim = createToken(db, keyFile, 'reader', 'authz-victim');
    execFileSync(process.execPath, [CLI, 'token', 'revoke', revoked.accessKeyId], { env: { PATH: process.env.PATH ?? '', VMPULSE_DB: db, VMPULSE_SERVER_KEY_FILE: keyFile } });
    server = await startServerProcess({ db, keyFile, env: { VMPULSE_SERVER_LOG_LEVEL: 'debug' } });
    const base = server.url;

    const minute = Math.floor(Date.now() / 60_000) * 60 - 300;
    const batch = payload({ AgentID: 'authz-host', Stats: [hostWindow(minute)], Instances: [instanceRecord('authz-vm-id', { InstanceName: 'authz-vm', Stats: [instanceWindow(minute)] })] });
    const alarm = {
      selector: { instanceName: 'authz-*' },
      metricName: 'CPUUtilization',
      statistic: 'Average',
      period: 60,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      threshold: 90,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      contacts: { webhooks: [WEBHOOK] },
    };
    const json = { 'content-type': 'application/json' };
    // One request per route that succeeds for an allowed caller.
    const samples: Record<string, { path: string; body?: string; headers?: Record<string, string> }> = {
      'GET /healthz': { path: '/healthz' },
      'GET /v1/whoami': { path: '/v1/whoami' },
      'POST /v1/ingest': { path: '/v1/ingest', body: JSON.stringify(batch), headers: { ...json, 'idempotency-key': batch.BatchID } },
      'GET /v1/servers': { path: '/v1/servers' },
      'GET /v1/servers/:agentId/stats': { path: '/v1/servers/authz-host/stats' },
      'GET /v1/instances': { path: '/v1/instances' },
      'GET /v1/instances/:id/stats': { path: '/v1/instances/authz-vm-id/stats' },
      'GET /v1/instances/:id/disks': { path: '/v1/instances/authz-vm-id/disks' },
      'GET /v1/instances/:id/metric-data': {
        path: `/v1/instances/authz-vm-id/metric-data?metricName=CPUUtilization&period=60&startTime=${minute}&endTime=${minute + 60}&unit=Percent&statistics=Average`,
      },
      'PUT /v1/alarms/:alarmName': { path: '/v1/alarms/authz-alarm', body: JSON.stringify(alarm), headers: json },
      'GET /v1/alarms': { path: '/v1/alarms' },
      'GET /v1/alarms/:alarmName': { path: '/v1/alarms/authz-alarm' },
      'GET /v1/alarms/:alarmName/history': { path: '/v1/alarms/authz-alarm/history' },
      'DELETE /v1/alarms/:alarmName': { path: '/v1/alarms/authz-alarm' },
      'GET /v1/servers/:agentId/metrics': { path: `/v1/servers/authz-host/metrics?interval=1m&from=${minute - 600}&to=${minute + 120}` },
      'GET /metrics': { path: '/metrics' },
      [`GET ${STATIC_ROUTE}`]: { path: '/' },
      'POST /console/session': { path: '/console/session', body: JSON.stringify({ token: cred.reader.secret }), headers: json },
      'GET /console/session': { path: '/console/session' },
      'POST /console/logout': { path: '/console/logout' },
      'GET /console/api/fleet': { path: '/console/api/fleet' },
      'GET /console/api/hosts/:agentId': { path: '/console/api/hosts/authz-host' },
      'GET /console/api/vms/:agentId/:id': { path: '/console/api/vms/authz-host/authz-vm-id?range=1h' },
      'GET /console/api/alarms': { path: '/console/api/alarms' },
      'GET /console/api/alarms/:name/history': { path: '/console/api/alarms/authz-alarm/history' },
      'GET /console/api/credentials': { path: '/console/api/credentials' },
      'POST /console/api/credentials': { path: '/console/api/credentials', body: JSON.stringify({ role: 'reader', name: 'authz-made' }), headers: json },
      'DELETE /console/api/credentials/:id': { path: `/console/api/credentials/${victim.accessKeyId}` },
    };
    // Seed what the samples refer to; the agent credential binds to the batch's AgentID here.
    assert.is((await request(`${base}/v1/ingest`, { method: 'POST', body: samples['POST /v1/ingest']!.body, headers: samples['POST /v1/ingest']!.headers, secret: cred.agent.secret })).status, 200);
    assert.ok((await request(`${base}/v1/alarms/authz-alarm`, { method: 'PUT', body: JSON.stringify(alarm), headers: json, secret: cred.admin.secret })).status < 300);

    const lightsail = async (who: Who): Promise<number> => {
      if (who === 'none') {
        const r = await request(`${base}/`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Lightsail_20161128.GetInstanceMetricData' } });
        return r.status;
      }
      const c = new LightsailClient({ endpoint: base, region: 'us-east-1', credentials: { accessKeyId: cred[who].accessKeyId, secretAccessKey: cred[who].secret }, maxAttempts: 1 });
      try {
        await c.send(new GetInstanceMetricDataCommand({ instanceName: 'authz-vm', metricName: 'CPUUtilization', period: 60, startTime: new Date(minute * 1000), endTime: new Date((minute + 60) * 1000), unit: 'Percent', statistics: ['Average'] }));
        return 200;
      } catch (e) {
        return (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? -1;
      }
    };

    const expected = (r: RouteAccess, who: Who): 'ok' | 401 | 403 => {
      if (r.allowed === 'public') return 'ok';
      if (who === 'none') return 401;
      return r.allowed.includes(who) ? 'ok' : 403;
    };
    const rows: string[] = [];
    const whos: Who[] = ['none', 'agent', 'reader', 'admin'];
    for (const r of ROUTE_ACCESS) {
      const key = `${r.method} ${r.url}`;
      const cells: string[] = [];
      for (const who of whos) {
        let status: number;
        if (r.auth === 'sigv4') status = await lightsail(who);
        else {
          const s = samples[key];
          assert.ok(s, `a sample request for ${key}`);
          const res = await request(`${base}${s!.path}`, { method: r.method, body: s!.body, headers: s!.headers, secret: who === 'none' ? undefined : cred[who].secret });
          status = res.status;
        }
        const want = expected(r, who);
        cells.push(`${who}=${status}`);
        if (want === 'ok') assert.ok(status >= 200 && status < 300, `${key} as ${who}: expected success, got ${status}`);
        else assert.is(status, want, `${key} as ${who}`);
      }
      rows.push(`${key.padEnd(40)} ${cells.join(' ')}`);
    }
    process.stdout.write(`\n  ${rows.join('\n  ')}\n`);

    // A revoked and an unknown credential are refused on every bearer route that needs one.
    for (const r of ROUTE_ACCESS.filter((x) => x.auth === 'bearer')) {
      const s = samples[`${r.method} ${r.url}`]!;
      for (const secret of [revoked.secret, 'vmp_not-a-real-secret-0000000000']) {
        const res = await request(`${base}${s.path}`, { method: r.method, body: s.body, headers: s.headers, secret });
        assert.is(res.status, 401, `${r.method} ${r.url} with a revoked/unknown credential`);
      }
    }

    // Nothing secret in the log of all that, though it is at debug level (every request logged).
    const logs = server.logs();
    assert.ok(logs.includes('incoming request'), 'the log is at debug level');
    const secrets = [cred.admin.secret, cred.reader.secret, cred.agent.secret, revoked.secret, WEBHOOK, WEBHOOK_SECRET];
    assert.equal(secretsIn(logs, secrets), [], 'no token and no webhook URL in the server log');
    assert.not.match(logs, /authorization"?\s*:\s*"Bearer/i);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TLS with curl: verified certificate, TLS 1.0/1.1 refused, the shipper stores every batch over HTTPS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-tls-'));
  const db = join(dir, 'vmpulse.db');
  const keyFile = join(dir, 'server.key');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const admin = createToken(db, keyFile, 'admin', 'tls-admin');
    server = await startServerProcess({ db, keyFile, https: true, env: { VMPULSE_SERVER_TLS_CERT: cert, VMPULSE_SERVER_TLS_KEY: key } });
    const curl = (...args: string[]) => spawnSync('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'utf8' });

    const ok = curl('--cacert', cert, '-w', '\n%{http_code} %{ssl_verify_result}', `${server.url}/healthz`);
    assert.is(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /"status":"ok"/);
    assert.match(ok.stdout, /\n200 0$/);
    // Without the CA the certificate does not verify (curl exit 60).
    assert.is(curl(`${server.url}/healthz`).status, 60);
    // TLS 1.1 and below are refused by the server (curl exit 35: handshake failed).
    const old = curl('--cacert', cert, '--tlsv1', '--tls-max', '1.1', `${server.url}/healthz`);
    assert.ok(old.status !== 0, `TLS ≤ 1.1 was accepted: ${old.stdout}`);
    // Plain HTTP to the TLS port gets nothing usable.
    const plain = curl('-o', '/dev/null', '-w', '%{http_code}', server.url.replace('https:', 'http:') + '/healthz');
    assert.ok(plain.status !== 0 || plain.stdout !== '200', 'plain HTTP is not served on the TLS port');

    // The real outbox and shipper over HTTPS, trusting the test CA.
    const sim = startSim({ endpoints: [server.url], token: admin.secret, dir, agents: 2, vms: 5, windows: 5, windowMs: 200, prefix: 'tls', drainMs: 60_000, env: { NODE_EXTRA_CA_CERTS: cert } });
    const r = await sim.wait(90_000);
    assert.is(r.code, 0, `${JSON.stringify(r.done)} ${r.stderr}`);
    const a = await audit(db, dir, 'tls', 5);
    report('ingest over HTTPS (curl-verified certificate)', a);
    assert.equal(a, { sent: 10, stored: 10, duplicated: 0, lost: 0, partial: 0 });
    assert.equal(secretsIn(server.logs(), [admin.secret, readFileSync(key, 'utf8').split('\n')[1]!]), []);
  } finally {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
