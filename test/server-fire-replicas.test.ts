// Several `vmpulse server` processes on one PostgreSQL database:
//  - agents listing both endpoints, and agents behind a real HAProxy, while one replica is
//    killed with -9 and started again: every batch stored once, the same answers from each
//    replica and through the load balancer;
//  - the evaluator lease: exactly one replica evaluates and delivers; kill -9 of it hands the
//    work to the other, and a webhook receiver gets each transition exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';
import { freePort } from './helpers/api-check.js';
import { needs } from './helpers/needs.js';
import { agg, createTestDb, engineReady, hostWindow, ingest, instanceRecord, instanceWindow, payload, request } from './helpers/server.js';
import { audit, createToken, report, secretsIn, sleep, startServerProcess, startSim, type ServerProcess } from './helpers/fire.js';
import { waitExit, waitFor } from './helpers/procs.js';

/** config/haproxy.cfg.example as shipped, with the test's listen port and replicas put in. */
function haproxyConfig(port: number, backends: string[]): string {
  const example = readFileSync(join(repoRoot, 'config', 'haproxy.cfg.example'), 'utf8');
  const bind = /^  bind 0\.0\.0\.0:8480$/m;
  assert.match(example, bind);
  const servers = /^  server vmpulse-.*$/gm;
  assert.is(example.match(servers)?.length, 2);
  return (
    example.replace(bind, `  bind 127.0.0.1:${port}`).replace(servers, '') +
    backends.map((b, i) => `  server s${i} ${b.replace(/^https?:\/\//, '')} check inter 500 fall 2 rise 1\n`).join('')
  );
}

async function startHaproxy(dir: string, backends: string[]): Promise<{ url: string; child: ChildProcess; logs: () => string }> {
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port, backends));
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).status === 200, 20_000, 'haproxy forwarding', 100);
  return { url, child, logs: () => logs };
}

/** A list answer in a stable order (by `key`), so answers from different replicas compare as text. */
const sortedJson = (rows: Record<string, unknown>[], key: string) => JSON.stringify([...rows].sort((a, b) => String(a[key]).localeCompare(String(b[key]))));

test('[postgres] two replicas, agents listing both and agents behind HAProxy, one replica killed: every batch once, same answers everywhere', async () => {
  if (!(await engineReady('postgres', 'replicas behind a load balancer'))) return;
  if (!(await needs('replicas behind HAProxy', 'haproxy'))) return;
  const db = await createTestDb('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-repl-'));
  const servers: ServerProcess[] = [];
  let lb: Awaited<ReturnType<typeof startHaproxy>> | null = null;
  const sims: ReturnType<typeof startSim>[] = [];
  try {
    const admin = createToken(db.db, db.keyFile, 'admin', 'repl-admin');
    const reader = createToken(db.db, db.keyFile, 'reader', 'repl-reader');
    // The replicas share the database and the master key file.
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess({ db: db.db, keyFile: db.keyFile }));
    lb = await startHaproxy(dir, servers.map((s) => s.url));
    const agents = 3;
    const windows = 30;
    const vms = 20;
    const listed = startSim({ endpoints: servers.map((s) => s.url), token: admin.secret, dir: join(dir, 'listed'), agents, vms, windows, windowMs: 200, prefix: 'repl-listed', drainMs: 90_000 });
    const balanced = startSim({ endpoints: [lb.url], token: admin.secret, dir: join(dir, 'balanced'), agents, vms, windows, windowMs: 200, prefix: 'repl-lb', drainMs: 90_000 });
    sims.push(listed, balanced);

    await waitFor(() => listed.sent() >= agents * 8, 60_000, 'traffic', 100);
    await servers[0]!.kill9();
    await sleep(1500);
    await servers[0]!.restart();
    await waitFor(() => listed.sent() >= agents * 20, 60_000, 'more traffic', 100);
    await servers[1]!.kill9();
    await sleep(1500);
    await servers[1]!.restart();

    for (const [name, sim] of [['listed', listed], ['balanced', balanced]] as const) {
      const r = await sim.wait(150_000);
      assert.is(r.code, 0, `${name}: every batch acknowledged: ${JSON.stringify(r.done)} ${r.stderr}`);
    }
    for (const [name, prefix] of [['agents listing both replicas', 'repl-listed'], ['agents behind HAProxy', 'repl-lb']] as const) {
      const a = await audit(db.db, join(dir, prefix === 'repl-listed' ? 'listed' : 'balanced'), prefix, vms);
      report(`[postgres] ${name}, each replica killed -9 once`, a);
      assert.equal(a, { sent: agents * windows, stored: agents * windows, duplicated: 0, lost: 0, partial: 0 });
    }

    // Queries: each replica and the load balancer give the same answers.
    const answers = await Promise.all(
      [...servers.map((s) => s.url), lb.url].map(async (base) => {
        const s = await request(`${base}/v1/servers`, { secret: reader.secret });
        const i = await request(`${base}/v1/instances`, { secret: reader.secret });
        assert.is(s.status, 200);
        assert.is(i.status, 200);
        return `${sortedJson(s.body, 'AgentID')}\n${sortedJson(i.body, 'instance_id')}`;
      }),
    );
    assert.is(answers[1], answers[0]);
    assert.is(answers[2], answers[0]);
    const agentsSeen = (JSON.parse(answers[0]!.split('\n')[0]!) as { AgentID: string }[]).map((r) => r.AgentID).filter((id) => id.startsWith('repl-'));
    assert.is(agentsSeen.length, 2 * agents);
    const instancesSeen = (JSON.parse(answers[0]!.split('\n')[1]!) as { instance_id: string }[]).filter((r) => r.instance_id.startsWith('repl-'));
    assert.is(instancesSeen.length, 2 * agents * vms);
    for (const s of servers) assert.equal(secretsIn(s.logs(), [admin.secret, reader.secret]), []);
  } finally {
    for (const s of sims) s.kill();
    if (lb && lb.child.exitCode === null) {
      process.kill(lb.child.pid!, 'SIGTERM');
      await waitExit(lb.child, 10_000).catch(() => process.kill(lb!.child.pid!, 'SIGKILL'));
    }
    for (const s of servers) await s.stop();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Hook {
  dedupKey: string;
  state: string;
  previousState: string | null;
}

/** A webhook receiver recording every POST, duplicates included. */
async function startReceiver(): Promise<{ url: string; got: Hook[]; close(): Promise<void> }> {
  const got: Hook[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        const b = JSON.parse(body);
        got.push({ dedupKey: b.dedupKey, state: b.state, previousState: b.previousState });
      } catch {
        got.push({ dedupKey: 'unparsable', state: body, previousState: null });
      }
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    // A secret in the path, as real webhook URLs have: it must never reach a log.
    url: `http://127.0.0.1:${port}/hooks/T0SECRET-WEBHOOK-PATH-5f1c9a`,
    got,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const holds = (s: ServerProcess) => (s.logs().match(/lease acquired/g) ?? []).length;

test('[postgres] evaluator lease: one replica evaluates; kill -9 of it hands over; each transition notified exactly once', async () => {
  if (!(await engineReady('postgres', 'evaluator lease across replicas'))) return;
  const db = await createTestDb('postgres');
  const hooks = await startReceiver();
  const servers: ServerProcess[] = [];
  try {
    const admin = createToken(db.db, db.keyFile, 'admin', 'lease-admin');
    const env = {
      VMPULSE_ALARM_EVAL_INTERVAL_MS: '400',
      VMPULSE_ALARM_EVAL_LAG_SECONDS: '0',
      VMPULSE_ALARM_DELIVERY_INTERVAL_MS: '200',
      VMPULSE_ALARM_RETRY_BASE_MS: '200',
    };
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess({ db: db.db, keyFile: db.keyFile, env }));
    const put = await request(`${servers[0]!.url}/v1/alarms/fire-cpu`, {
      method: 'PUT',
      secret: admin.secret,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        selector: { instanceName: 'lease-vm' },
        metricName: 'CPUUtilization',
        statistic: 'Maximum',
        period: 60,
        comparisonOperator: 'GreaterThanThreshold',
        threshold: 50,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: 'missing',
        notificationTriggers: ['ALARM', 'OK'],
        contacts: { webhooks: [hooks.url] },
      }),
    });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    await waitFor(() => servers.reduce((n, s) => n + holds(s), 0) === 1, 20_000, 'one replica holding the lease', 100);
    await sleep(1500);
    assert.is(servers.reduce((n, s) => n + holds(s), 0), 1, 'exactly one replica holds the lease');

    // Every phase writes the last ten minutes of the VM at one CPU level, so the alarm's 3-minute
    // window is covered whatever minute it is. A minute written again is merged, not replaced (its
    // Maximum stays the highest), so each phase reports the VM from another host, as a migrated VM:
    // the latest-seen host's minutes stand for the instance id, whose alarm state carries on.
    let phase = 0;
    const setLevel = async (via: ServerProcess, cpu: number) => {
      const now = Math.floor(Date.now() / 60_000) * 60;
      const minutes = Array.from({ length: 11 }, (_, k) => now - 600 + k * 60);
      const p = payload({
        AgentID: `lease-agent-${phase}`,
        CreatedAt: Math.floor(Date.now() / 1000) + phase,
        Stats: minutes.map((m) => hostWindow(m)),
        Instances: [instanceRecord('lease-vm-id', { InstanceName: 'lease-vm', Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([cpu]) })) })],
      });
      const r = await ingest(via.url, admin.secret, p);
      assert.is(r.status, 200, r.text);
      phase++;
    };
    const outboxSettled = async (n: number) => {
      await waitFor(() => hooks.got.length >= n, 30_000, `${n} webhooks`, 100);
      // Delivered and marked so in the outbox before anything else happens.
      await waitFor(async () => Number((await db.query('SELECT count(*) AS n FROM alarm_outbox WHERE done_ms IS NULL'))[0]!.n) === 0, 30_000, 'outbox drained', 100);
    };

    await setLevel(servers[1]!, 90);
    await outboxSettled(1);
    await setLevel(servers[1]!, 10);
    await outboxSettled(2);

    const holder = servers.findIndex((s) => holds(s) === 1);
    const other = 1 - holder;
    const killedAt = Date.now();
    await servers[holder]!.kill9();
    await setLevel(servers[other]!, 90);
    await outboxSettled(3);
    assert.is(holds(servers[other]!), 1, 'the other replica took the lease over');
    const acquiredLine = servers[other]!.logs().split('\n').find((l) => l.includes('lease acquired'))!;
    const takeoverMs = Number(JSON.parse(acquiredLine).time) - killedAt;
    process.stdout.write(`\n  lease handed over ${takeoverMs} ms after kill -9 (evaluation interval 400 ms)\n`);

    // The killed replica comes back and stays a follower.
    await servers[holder]!.restart();
    await setLevel(servers[holder]!, 10);
    await outboxSettled(4);
    await setLevel(servers[holder]!, 90);
    await outboxSettled(5);
    // A few more evaluation and delivery rounds on both replicas: nothing more is sent.
    await sleep(3000);
    assert.is(phase, 5);
    assert.equal(
      hooks.got.map((h) => `${h.previousState}->${h.state}`),
      ['INSUFFICIENT_DATA->ALARM', 'ALARM->OK', 'OK->ALARM', 'ALARM->OK', 'OK->ALARM'],
      'each transition notified exactly once, in order',
    );
    assert.is(new Set(hooks.got.map((h) => h.dedupKey)).size, 5);
    const restartedLogs = servers[holder]!.logs().split('[vmpulse server pid')[1] ?? '';
    assert.not.match(restartedLogs.split('\n').slice(1).join('\n'), /lease acquired/, 'the restarted replica does not evaluate while the other holds the lease');
    for (const s of servers) assert.equal(secretsIn(s.logs(), [admin.secret, hooks.url, 'T0SECRET-WEBHOOK-PATH-5f1c9a']), [], 'neither the token nor the webhook URL is logged');
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- logs ---\n${servers.map((s) => s.logs().slice(-3000)).join('\n---\n')}`);
  } finally {
    for (const s of servers) await s.stop();
    await hooks.close();
    await db.drop();
  }
});

test.run();
