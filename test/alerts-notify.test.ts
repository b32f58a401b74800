// Notifications end to end, on SQLite and PostgreSQL: a webhook receiver that is down, then up
// (and loses the first acknowledgement), and a real Alertmanager on loopback that lists the
// alert while the VM burns CPU and drops it once the VM idles.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { startServer, type RunningServer } from '../src/server/app.js';
import type { CreatedCredential } from '../src/server/credentials.js';
import { needs } from './helpers/needs.js';
import { startAlertmanager } from './helpers/alertmanager.js';
import { waitFor } from './helpers/procs.js';
import { ENGINES, createTestDb, engineReady, ingest, nowMinute, request, testConfig, type Engine, type TestDb } from './helpers/server.js';
import type { ServerConfig } from '../src/server/config.js';
import type { Payload } from '../src/ship/payload.js';
import { agg, hostWindow, instanceRecord, instanceWindow, payload } from './helpers/server.js';
import { freePort } from '../src/bench/proc-usage.js';

// As in alerts-server.test.ts (importing it would run its suites a second time).
const ALERT_TEST_OVERRIDES = {
  loops: false,
  builtins: false,
  lagSeconds: 0,
  goneGraceSeconds: 600,
  retryBaseMs: 100,
  retryMaxMs: 400,
  httpTimeoutMs: 2000,
  alarmsFile: null,
  defaultWebhooks: [],
  defaultAlertmanagers: [],
} satisfies ServerConfig['alerts'];

function batch(minutes: number[], vms: { id: string; name: string; cpu: number }[]): Payload {
  return payload({
    CreatedAt: Math.max(...minutes) + 60,
    Stats: minutes.map((m) => hostWindow(m)),
    Instances: vms.map((v) => instanceRecord(v.id, { InstanceName: v.name, Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([v.cpu, v.cpu]) })) })),
  });
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i * 60);


interface Env {
  db: TestDb;
  server: RunningServer;
  admin: CreatedCredential;
  agent: CreatedCredential;
}

async function withEnv(engine: Engine, name: string, fn: (e: Env) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const db = await createTestDb(engine);
  const env: Env = { db, server: await startServer(testConfig(db, { alerts: ALERT_TEST_OVERRIDES })), admin: null!, agent: null! };
  try {
    env.admin = await env.server.credentials.create('admin', 'a');
    env.agent = await env.server.credentials.create('agent', 'g');
    await fn(env);
  } finally {
    await env.server.close();
    await db.drop();
  }
}

const alarm = (contacts: object) => ({
  selector: { all: true },
  metricName: 'CPUUtilization',
  statistic: 'Average',
  period: 60,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  threshold: 90,
  evaluationPeriods: 3,
  contacts,
});

async function putAlarm(e: Env, name: string, body: object): Promise<void> {
  const r = await request(`${e.server.url}/v1/alarms/${name}`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, secret: e.admin.secret });
  assert.is(r.status, 201, r.text);
}

for (const engine of ENGINES) {
  const t = suite(`alerts notifications [${engine}]`);

  t('webhook receiver down, then up: delivered after retries (and a restart), exactly once after dedup', () =>
    withEnv(engine, 'alerts webhook', async (e) => {
      const port = await freePort();
      await putAlarm(e, 'cpu-high', alarm({ webhooks: [`http://127.0.0.1:${port}/hook`] }));
      const m0 = nowMinute(-10);
      await ingest(e.server.url, e.agent.secret, batch(range(m0, 3), [{ id: 'v1', name: 'web-1', cpu: 100 }]));
      const pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 180) * 1000);
      assert.is(pass.notifications, 1);

      // Down: every attempt fails and is rescheduled (each round tries what is due), evaluation
      // is not held up.
      let failedAttempts = 0;
      await waitFor(async () => {
        const r = await e.server.alerts.delivery.round();
        assert.is(r.delivered, 0);
        failedAttempts += r.failed;
        return failedAttempts >= 3;
      }, 10_000, 'three failed attempts', 50);
      assert.is(await e.server.alerts.db.pendingOutbox(), 1);
      const again = await e.server.alerts.evaluator.evaluateOnce((m0 + 180) * 1000);
      assert.is(again.transitions, 0);

      // The outbox survives a restart.
      await e.server.close();
      e.server = await startServer(testConfig(e.db, { alerts: ALERT_TEST_OVERRIDES }));
      assert.is(await e.server.alerts.db.pendingOutbox(), 1);

      // Up: the receiver records everything and "loses" its first answer (500), so the sender
      // delivers twice with the same dedupKey; deduplicated, the transition arrives once.
      const got: { key: string; header: string | undefined; body: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
      const recv: Server = createServer((req, res) => {
        let raw = '';
        req.on('data', (c) => (raw += c));
        req.on('end', () => {
          const body = JSON.parse(raw);
          got.push({ key: body.dedupKey, header: req.headers['x-vmpulse-dedup-key'] as string | undefined, body });
          res.writeHead(got.length === 1 ? 500 : 204).end();
        });
      });
      await new Promise<void>((r) => recv.listen(port, '127.0.0.1', r));
      try {
        await waitFor(async () => {
          await e.server.alerts.delivery.round();
          return (await e.server.alerts.db.pendingOutbox()) === 0;
        }, 10_000, 'the outbox to drain', 50);
        assert.ok(got.length >= 2, `deliveries: ${got.length}`);
        const keys = new Set(got.map((g) => g.key));
        assert.is(keys.size, 1);
        for (const g of got) assert.is(g.header, g.key);
        const b = got[0]!.body;
        assert.is(b.state, 'ALARM');
        assert.is(b.previousState, 'INSUFFICIENT_DATA');
        assert.equal(b.instance, { id: 'v1', name: 'web-1', agentId: 'agent-1' });
        assert.is(b.alarm.alarmName, 'cpu-high');
        assert.equal(b.datapoints.map((d: { value: number }) => d.value), [100, 100, 100]);
        assert.equal(b.datapoints.map((d: { timestamp: number }) => d.timestamp), range(m0, 3));
        // Nothing more is sent once delivered.
        const n = got.length;
        await e.server.alerts.delivery.round();
        assert.is(got.length, n);
      } finally {
        await new Promise<void>((r) => recv.close(() => r()));
      }
    }),
  );

  t('a real Alertmanager lists the alert while the VM burns CPU and drops it once it idles', async () => {
    if (!(await needs(`alerts alertmanager [${engine}]`, 'alertmanager'))) return;
    const am = await startAlertmanager();
    const amUrl = am.url;
    try {
      const active = () => am.active('cpu-high');

      await withEnv(engine, `alerts alertmanager [${engine}]`, async (e) => {
        await putAlarm(e, 'cpu-high', alarm({ alertmanagers: [amUrl] }));
        const m0 = nowMinute(-7);
        await ingest(e.server.url, e.agent.secret, batch(range(m0, 3), [{ id: 'v1', name: 'web-1', cpu: 100 }]));
        await e.server.alerts.evaluator.evaluateOnce((m0 + 180) * 1000);
        const r1 = await e.server.alerts.delivery.round();
        assert.is(r1.delivered, 1);
        assert.is(r1.resent, 1);
        let alerts = await waitFor(async () => {
          const a = await active();
          return a.length ? a : null;
        }, 5000, 'Alertmanager to list the alert', 100);
        assert.is(alerts.length, 1);
        assert.equal(alerts[0]!.labels, { alertname: 'cpu-high', instance_id: 'v1', instance_name: 'web-1', agent_id: 'agent-1', severity: 'warning', metric: 'CPUUtilization' });
        assert.is(alerts[0]!.status.state, 'active');
        assert.ok(Date.parse(alerts[0]!.endsAt) > Date.now(), 'firing alert ends in the future');

        // The VM idles: the alarm returns to OK and the alert is resolved with endsAt = then.
        await ingest(e.server.url, e.agent.secret, batch(range(m0 + 180, 3), [{ id: 'v1', name: 'web-1', cpu: 3 }]));
        const pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 360) * 1000);
        assert.is(pass.transitions, 1);
        const r2 = await e.server.alerts.delivery.round();
        assert.is(r2.delivered, 1);
        await waitFor(async () => (alerts = await active()).length === 0, 5000, 'Alertmanager to drop the alert', 100);
        assert.is(alerts.length, 0);
        const st = (await request(`${e.server.url}/v1/alarms/cpu-high`, { secret: e.admin.secret })).body.states;
        assert.equal(st.map((s: { state: string }) => s.state), ['OK']);
      });
    } finally {
      await am.stop();
    }
  });

  t.run();
}
