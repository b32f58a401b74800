// Alerting inside the real server, the same suite on SQLite and PostgreSQL: data goes in through
// POST /v1/ingest, alarms through the API, and passes run at chosen evaluation times (the loops
// are off, so the test decides when each period boundary is reached).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer } from '../src/server/app.js';
import type { ServerConfig } from '../src/server/config.js';
import type { Payload } from '../src/ship/payload.js';
import {
  ENGINES,
  agg,
  createTestDb,
  engineReady,
  hostWindow,
  ingest,
  instanceRecord,
  instanceWindow,
  nowMinute,
  payload,
  request,
  testConfig,
  type Engine,
  type TestDb,
} from './helpers/server.js';
import type { CreatedCredential } from '../src/server/credentials.js';
import type { RunningServer } from '../src/server/app.js';

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

interface Env {
  db: TestDb;
  server: RunningServer;
  url: string;
  admin: CreatedCredential;
  reader: CreatedCredential;
  agent: CreatedCredential;
  restart(): Promise<void>;
}

async function withEnv(engine: Engine, name: string, alerts: ServerConfig['alerts'], fn: (e: Env) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const db = await createTestDb(engine);
  let server = await startServer(testConfig(db, { alerts }));
  const env: Env = {
    db,
    server,
    url: server.url,
    admin: await server.credentials.create('admin', 'a'),
    reader: await server.credentials.create('reader', 'r'),
    agent: await server.credentials.create('agent', 'g'),
    async restart() {
      await server.close();
      server = await startServer(testConfig(db, { alerts }));
      env.server = server;
      env.url = server.url;
    },
  };
  try {
    await fn(env);
  } finally {
    await env.server.close();
    await db.drop();
  }
}

/** One batch carrying `minutes` of host windows and the given VMs' windows (CPU per VM). */
function batch(minutes: number[], vms: { id: string; name: string; cpu: number }[], o: Partial<Payload> = {}): Payload {
  const last = Math.max(...minutes);
  return payload({
    CreatedAt: last + 60,
    Stats: minutes.map((m) => hostWindow(m)),
    Instances: vms.map((v) => instanceRecord(v.id, { InstanceName: v.name, Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([v.cpu, v.cpu]) })) })),
    ...o,
  });
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i * 60);

const CPU_ALARM = {
  selector: { instanceName: 'web-*' },
  metricName: 'CPUUtilization',
  statistic: 'Average',
  period: 60,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  threshold: 90,
  evaluationPeriods: 3,
  datapointsToAlarm: 3,
};

for (const engine of ENGINES) {
  const t = suite(`alerts in the server [${engine}]`);

  t('API: admin only, Lightsail-style errors, create/replace/get/list/delete', () =>
    withEnv(engine, 'alerts api', ALERT_TEST_OVERRIDES, async (e) => {
      const put = (name: string, body: unknown, secret = e.admin.secret) =>
        request(`${e.url}/v1/alarms/${name}`, { method: 'PUT', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, secret });
      const noauth = await request(`${e.url}/v1/alarms`);
      assert.is(noauth.status, 401);
      assert.is(noauth.body.__type, 'UnauthenticatedException');
      const reader = await request(`${e.url}/v1/alarms`, { secret: e.reader.secret });
      assert.is(reader.status, 403);
      assert.is(reader.body.__type, 'AccessDeniedException');
      assert.is((await put('cpu-high', CPU_ALARM, e.reader.secret)).status, 403);

      const bad = await put('cpu-high', { ...CPU_ALARM, period: 90 });
      assert.is(bad.status, 400);
      assert.is(bad.body.__type, 'InvalidInputException');
      assert.match(bad.body.message, /multiple of 60/);
      const badJson = await request(`${e.url}/v1/alarms/x`, { method: 'PUT', body: '{"a":', headers: { 'content-type': 'application/json' }, secret: e.admin.secret });
      assert.is(badJson.status, 400);
      assert.is(badJson.body.__type, 'InvalidInputException');

      const created = await put('cpu-high', CPU_ALARM);
      assert.is(created.status, 201, created.text);
      assert.is(created.body.outcome, 'created');
      assert.is(created.body.alarm.state, 'INSUFFICIENT_DATA');
      assert.equal(created.body.alarm.states, []);
      const replaced = await put('cpu-high', { ...CPU_ALARM, threshold: 95 });
      assert.is(replaced.status, 200);
      assert.is(replaced.body.alarm.threshold, 95);
      const list = await request(`${e.url}/v1/alarms`, { secret: e.admin.secret });
      assert.equal(list.body.alarms.map((a: { alarmName: string; source: string }) => [a.alarmName, a.source]), [['cpu-high', 'api']]);
      const del = await request(`${e.url}/v1/alarms/cpu-high`, { method: 'DELETE', secret: e.admin.secret });
      assert.is(del.status, 200);
      const gone = await request(`${e.url}/v1/alarms/cpu-high`, { secret: e.admin.secret });
      assert.is(gone.status, 404);
      assert.is(gone.body.__type, 'NotFoundException');
      assert.is((await request(`${e.url}/v1/alarms/cpu-high/history`, { secret: e.admin.secret })).status, 404);
    }),
  );

  t('fleet alarm: per-instance states, new VMs join, restart neither re-fires nor forgets, gone VMs resolve', () =>
    withEnv(engine, 'alerts lifecycle', ALERT_TEST_OVERRIDES, async (e) => {
      const m0 = nowMinute(-30);
      const r = await request(`${e.url}/v1/alarms/cpu-high`, { method: 'PUT', body: JSON.stringify(CPU_ALARM), headers: { 'content-type': 'application/json' }, secret: e.admin.secret });
      assert.is(r.status, 201);

      // Phase A: web-1 burns CPU for three minutes.
      assert.is((await ingest(e.url, e.agent.secret, batch(range(m0, 3), [{ id: 'v1', name: 'web-1', cpu: 100 }]))).status, 200);
      let pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 180) * 1000);
      assert.is(pass.evaluated, 1);
      assert.is(pass.transitions, 1);
      let a = (await request(`${e.url}/v1/alarms/cpu-high`, { secret: e.admin.secret })).body;
      assert.is(a.state, 'ALARM');
      assert.equal(a.states.map((s: { instanceId: string; state: string }) => [s.instanceId, s.state]), [['v1', 'ALARM']]);
      assert.match(a.states[0].reason, /3 out of the last 3 datapoints \[100\.0, 100\.0, 100\.0\]/);

      // Phase B: web-1 idles; web-2 appears burning; db-1 burns too but is not matched.
      const b = batch(range(m0 + 180, 3), [
        { id: 'v1', name: 'web-1', cpu: 2 },
        { id: 'v2', name: 'web-2', cpu: 97 },
        { id: 'v3', name: 'db-1', cpu: 99 },
      ]);
      assert.is((await ingest(e.url, e.agent.secret, b)).status, 200);
      pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 360) * 1000);
      assert.is(pass.evaluated, 2);
      assert.is(pass.transitions, 2);
      a = (await request(`${e.url}/v1/alarms/cpu-high`, { secret: e.admin.secret })).body;
      assert.equal(a.states.map((s: { instanceId: string; state: string }) => [s.instanceId, s.state]), [['v1', 'OK'], ['v2', 'ALARM']]);
      assert.is(a.state, 'ALARM');

      // A restarted server evaluating the same window changes nothing and queues nothing.
      const historyBefore = (await request(`${e.url}/v1/alarms/cpu-high/history`, { secret: e.admin.secret })).body.history;
      assert.is(historyBefore.length, 3);
      await e.restart();
      pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 360) * 1000);
      assert.is(pass.transitions, 0);
      const h = (await request(`${e.url}/v1/alarms/cpu-high/history`, { secret: e.admin.secret })).body.history;
      assert.equal(h, historyBefore);
      const trio = h.map((x: { instanceId: string; oldState: string; newState: string }) => `${x.instanceId}:${x.oldState}>${x.newState}`).sort();
      assert.equal(trio, ['v1:ALARM>OK', 'v1:INSUFFICIENT_DATA>ALARM', 'v2:INSUFFICIENT_DATA>ALARM']);
      const onlyV1 = (await request(`${e.url}/v1/alarms/cpu-high/history?instanceId=v1&limit=1`, { secret: e.admin.secret })).body.history;
      assert.equal(onlyV1.map((x: { newState: string }) => x.newState), ['OK']);
      assert.equal(onlyV1[0].datapoints.map((d: { value: number }) => d.value), [2, 2, 2]);
      // The route schema's refusal keeps the Lightsail shape and wording.
      for (const bad of ['0', '10001', '1.5', 'many']) {
        const r = await request(`${e.url}/v1/alarms/cpu-high/history?limit=${bad}`, { secret: e.admin.secret });
        assert.is(r.status, 400, `limit=${bad}`);
        assert.equal(r.body, { __type: 'InvalidInputException', message: 'limit must be an integer from 1 to 10000', code: 'InvalidInputException' });
      }

      // Nothing seen for evaluationPeriods × period + grace (180 + 600 s): both VMs are gone for good.
      pass = await e.server.alerts.evaluator.evaluateOnce((m0 + 360 + 781) * 1000);
      assert.is(pass.removed, 2);
      a = (await request(`${e.url}/v1/alarms/cpu-high`, { secret: e.admin.secret })).body;
      assert.equal(a.states, []);
      const last = (await request(`${e.url}/v1/alarms/cpu-high/history?limit=1`, { secret: e.admin.secret })).body.history[0];
      assert.is(last.instanceId, 'v2');
      assert.is(last.oldState, 'ALARM');
      assert.is(last.newState, 'OK');
      assert.match(last.reason, /gone for good/);
    }),
  );

  t('built-ins: host-silent (StatusCheckFailed_System) and VM-gone (StatusCheckFailed_Instance)', () =>
    withEnv(engine, 'alerts builtins', { ...ALERT_TEST_OVERRIDES, builtins: true }, async (e) => {
      const m0 = nowMinute(-30);
      const list = (await request(`${e.url}/v1/alarms`, { secret: e.admin.secret })).body.alarms;
      assert.equal(list.map((x: { alarmName: string; source: string; metricName: string }) => [x.alarmName, x.source, x.metricName]), [
        ['vmpulse-host-silent', 'builtin', 'StatusCheckFailed_System'],
        ['vmpulse-vm-gone', 'builtin', 'StatusCheckFailed_Instance'],
      ]);
      await ingest(e.url, e.agent.secret, batch(range(m0, 3), [{ id: 'v1', name: 'web-1', cpu: 5 }]));
      // The host keeps reporting, the VM is gone from its batches.
      await ingest(e.url, e.agent.secret, batch(range(m0 + 180, 3), []));
      await e.server.alerts.evaluator.evaluateOnce((m0 + 360) * 1000);
      const state = async (name: string) => (await request(`${e.url}/v1/alarms/${name}`, { secret: e.admin.secret })).body.states.map((s: { instanceId: string; state: string }) => `${s.instanceId}:${s.state}`);
      assert.equal(await state('vmpulse-vm-gone'), ['v1:ALARM']);
      assert.equal(await state('vmpulse-host-silent'), ['v1:OK']);
      // Then the host falls silent: the system check fails, the instance check is not blamed.
      await e.server.alerts.evaluator.evaluateOnce((m0 + 540) * 1000);
      assert.equal(await state('vmpulse-host-silent'), ['v1:ALARM']);
      assert.equal(await state('vmpulse-vm-gone'), ['v1:OK']);
    }),
  );

  t('builtins off: VMPULSE_ALARM_BUILTINS=0 removes them at the next start', () =>
    withEnv(engine, 'alerts builtins off', { ...ALERT_TEST_OVERRIDES, builtins: true }, async (e) => {
      assert.is((await e.server.alerts.db.listAlarms()).length, 2);
      await e.server.close();
      const cfg = testConfig(e.db, { alerts: { ...ALERT_TEST_OVERRIDES, builtins: false } });
      e.server = await startServer(cfg);
      assert.equal(await e.server.alerts.db.listAlarms(), []);
    }),
  );

  t.run();
}
