// The server's own outage is not the VMs' fault (README, "Alarms"), on both engines, in the real
// server with data through POST /v1/ingest: a pass whose store query fails changes nothing; minutes
// nobody reported while the server could not receive (its store failing, or before it started) make
// alarms wait instead of flipping to ALARM or INSUFFICIENT_DATA, until the agents' backfill arrives;
// while the server is healthy, silent hosts are still judged as silent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer, type RunningServer } from '../src/server/app.js';
import type { ServerConfig } from '../src/server/config.js';
import type { Payload } from '../src/ship/payload.js';
import { ENGINES, agg, createTestDb, engineReady, hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, testConfig } from './helpers/server.js';

const OVERRIDES = {
  loops: false,
  builtins: true,
  lagSeconds: 0,
  goneGraceSeconds: 600,
  alarmsFile: null,
  defaultWebhooks: [],
  defaultAlertmanagers: [],
} satisfies ServerConfig['alerts'];

const CPU_HIGH = {
  selector: { all: true },
  metricName: 'CPUUtilization',
  statistic: 'Average',
  period: 60,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  threshold: 90,
  evaluationPeriods: 3,
  treatMissingData: 'missing',
};

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i * 60);

function hostBatch(agent: 'a' | 'b', minutes: number[], cpu: number): Payload {
  return payload({
    AgentID: `agent-${agent}`,
    Hostname: `hv-${agent}.test`,
    CreatedAt: Math.max(...minutes) + 60,
    Stats: minutes.map((m) => hostWindow(m)),
    Instances: [instanceRecord(`${agent}1`, { InstanceName: `web-${agent}`, Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([cpu, cpu]) })) })],
  });
}

for (const engine of ENGINES) {
  const t = suite(`alerts: the server's own outage [${engine}]`);

  t('failed pass changes nothing; outage minutes wait for backfill; a restart waits too; silent hosts still fire', async () => {
    if (!(await engineReady(engine, 'alerts outage'))) return;
    const db = await createTestDb(engine);
    let server: RunningServer = await startServer(testConfig(db, { alerts: OVERRIDES }));
    try {
      const admin = await server.credentials.create('admin', 'a');
      const agentA = await server.credentials.create('agent', 'ga');
      const agentB = await server.credentials.create('agent', 'gb');
      const put = await request(`${server.url}/v1/alarms/cpu-high`, { method: 'PUT', body: JSON.stringify(CPU_HIGH), headers: { 'content-type': 'application/json' }, secret: admin.secret });
      assert.is(put.status, 201);
      const send = async (agent: 'a' | 'b', minutes: number[], cpu: number) =>
        assert.is((await ingest(server.url, (agent === 'a' ? agentA : agentB).secret, hostBatch(agent, minutes, cpu))).status, 200);
      const states = async () => {
        const out: Record<string, string> = {};
        for (const s of await server.alerts.db.states()) out[`${s.alarmName}/${s.instanceId}`] = s.state;
        return out;
      };
      const historyCount = async () => (await server.alerts.db.history('cpu-high')).length + (await server.alerts.db.history('vmpulse-host-silent')).length;
      const pass = (minute: number) => server.alerts.evaluator.evaluateOnce(minute * 1000 + 250);

      const m0 = nowMinute(-60);
      await send('a', range(m0, 6), 10);
      await send('b', range(m0, 6), 10);
      // 1. First pass: the window is older than this server, but the agents' data is there: judged.
      let p = await pass(m0 + 360);
      assert.is(p.failed, 0);
      assert.is(p.deferred, 0);
      const healthy = {
        'cpu-high/a1': 'OK',
        'cpu-high/b1': 'OK',
        'vmpulse-host-silent/a1': 'OK',
        'vmpulse-host-silent/b1': 'OK',
        'vmpulse-vm-gone/a1': 'OK',
        'vmpulse-vm-gone/b1': 'OK',
      };
      assert.equal(await states(), healthy);
      const before = await historyCount();

      // 2. The store fails under the evaluator (its per-minute table is gone): nothing changes.
      await send('a', [m0 + 360], 10);
      await send('b', [m0 + 360], 10);
      await db.exec('ALTER TABLE instance_minutes RENAME TO instance_minutes_away');
      try {
        p = await pass(m0 + 420);
      } finally {
        await db.exec('ALTER TABLE instance_minutes_away RENAME TO instance_minutes');
      }
      assert.is(p.failed, 3, `every alarm failed: ${JSON.stringify(p)}`);
      assert.is(p.transitions, 0);
      assert.equal(await states(), healthy);
      assert.is(await historyCount(), before);

      // 3. Back, but nothing arrived for the outage minutes from anyone: every alarm waits. Without
      // the rule: host-silent ALARM for both hosts, cpu-high INSUFFICIENT_DATA for both VMs.
      p = await pass(m0 + 600);
      assert.is(p.failed, 0);
      assert.is(p.deferred, 3);
      assert.is(p.transitions, 0);
      assert.equal(await states(), healthy);

      // 4. The agents' backfill arrives (a1 was busy meanwhile): judged on the real data.
      await send('a', range(m0 + 420, 3), 99);
      await send('b', range(m0 + 420, 3), 10);
      p = await pass(m0 + 600);
      assert.is(p.deferred, 0);
      assert.equal(await states(), { ...healthy, 'cpu-high/a1': 'ALARM' });
      assert.is(await historyCount(), before + 1);

      // 5. A host falling silent while the server is healthy is a silent host: b's host-silent fires.
      await send('a', range(m0 + 600, 4), 99);
      p = await pass(m0 + 840);
      assert.is(p.deferred, 0);
      assert.equal(await states(), { ...healthy, 'cpu-high/a1': 'ALARM', 'cpu-high/b1': 'INSUFFICIENT_DATA', 'vmpulse-host-silent/b1': 'ALARM' });

      // 6. A restarted server cannot vouch for the minutes before its first pass: the whole fleet
      // silent there (nothing from a either) makes its alarms wait rather than judge it.
      const settled = await states();
      await server.close();
      server = await startServer(testConfig(db, { alerts: OVERRIDES }));
      p = await server.alerts.evaluator.evaluateOnce((m0 + 1080) * 1000 + 250);
      assert.is(p.deferred, 3);
      assert.is(p.transitions, 0);
      assert.equal(await states(), settled);
      // Once it has been up for a whole window, the same silence is judged: a's host is silent too.
      p = await server.alerts.evaluator.evaluateOnce((m0 + 1320) * 1000 + 250);
      assert.is(p.deferred, 0);
      assert.is((await states())['vmpulse-host-silent/a1'], 'ALARM');
    } finally {
      await server.close();
      await db.drop();
    }
  });

  t.run();
}
