// Alerting end to end, nothing synthetic: a stand-in VM really burns a core, the real agent samples
// it and ships its windows to the real server, a fleet-wide CPUUtilization alarm goes to ALARM and
// a real Alertmanager lists the alert; the VM idles, the alarm returns to OK, the alert resolves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needs } from './helpers/needs.js';
import { request, startTestServer, type TestServer } from './helpers/server.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { startAlertmanager, type Alertmanager } from './helpers/alertmanager.js';
import { sleep, waitFor } from './helpers/procs.js';

/** Sleeps until the clock reaches `at` (epoch ms): the minute to judge must have ended. */
const until = (at: number) => sleep(Math.max(0, at - Date.now()));

const s = suite('alerting end to end');

s('a stand-in burning CPU: ALARM and an Alertmanager alert; idle: OK and the alert resolves', async () => {
  if (!(await needs('alerting end to end', 'root', 'cc', 'alertmanager'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-alert-'));
  const folder = `burn-${process.pid}`;
  const agentId = `alert-e2e-${process.pid}`;
  mkdirSync(join(dir, folder));
  const argv = ['run', '--cpus', '1', '--mem', '64', '--socket', `${dir}/${folder}/crosvm.sock`, '/boot/vmlinux'];
  let am: Alertmanager | undefined;
  let srv: TestServer | undefined;
  let vm: Standin | undefined;
  let agent: AgentProcess | undefined;
  try {
    am = await startAlertmanager();
    // The evaluator is driven by the test at chosen instants (loops off), on the data the agent sent.
    srv = await startTestServer('sqlite', { alerts: { loops: false, builtins: false, lagSeconds: 2, retryBaseMs: 100, retryMaxMs: 400 } });
    const put = await request(`${srv.url}/v1/alarms/vm-cpu-hot`, {
      method: 'PUT',
      secret: srv.admin.secret,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        // This run's VM only: other runs on this host have burn-<pid> VMs the agent sees too.
        selector: { instanceName: folder },
        metricName: 'CPUUtilization',
        statistic: 'Average',
        period: 60,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        // The burning VM reads ~100 % alone but far less on a contended host (a run of 12
        // runnable threads on 2 cores gives it ~20 %); the idle one reads ~0 %. 5 % tells them apart
        // whatever the load.
        threshold: 5,
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        contacts: { alertmanagers: [am.url] },
      }),
    });
    assert.is(put.status, 201, put.text);

    // The VM's one vCPU thread burns a whole core: CPUUtilization ~100 %.
    vm = await startStandin({ kind: 'crosvm', argv, threads: 1, burn: 'all' });
    agent = await startAgentProcess({
      VMPULSE_SAMPLE_INTERVAL_MS: '500',
      VMPULSE_WINDOW_SECONDS: '2',
      VMPULSE_DISCOVERY_INTERVAL_MS: '1000',
      VMPULSE_ENDPOINT: srv.url,
      VMPULSE_TOKEN: srv.agent.secret,
      VMPULSE_SPOOL_DIR: join(dir, 'spool'),
      VMPULSE_AGENT_ID: agentId,
    });
    // Judge the first whole minute that holds at least 10 s of burning.
    const boundary = Math.ceil((Date.now() + 10_000) / 60_000) * 60_000;
    // The server holds the agent's last 2 s window of the minute before `end` once it holds a
    // window of the minute starting at `end`: the agent ships its windows in order, and the server
    // files each on the start of its minute (minutes.ts), so the newest record of a minute cannot
    // tell whether its last window is in. (The evaluator's lag of 2 s puts the judged minute's end
    // 2 s before the evaluation instant.)
    const minuteAtServer = (end: number) =>
      waitFor(async () => (await srv!.server.store.hostMinuteSet(agentId, end / 1000, end / 1000 + 60)).includes(end / 1000), 90_000, `a window of the minute after ${end / 1000} at the server`, 250);
    await until(boundary);
    await minuteAtServer(boundary);
    const hot = await srv.server.alerts.evaluator.evaluateOnce(boundary + 2000);
    assert.ok(hot.transitions >= 1, JSON.stringify(hot));
    const alarm = (await request(`${srv.url}/v1/alarms/vm-cpu-hot`, { secret: srv.admin.secret })).body;
    const mine = alarm.states.find((x: { instanceId: string }) => x.instanceId === folder);
    assert.ok(mine, `the VM is a target: ${JSON.stringify(alarm.states)}`);
    assert.is(mine.state, 'ALARM', JSON.stringify(mine));
    // Delivery rounds (the loops are off) until Alertmanager holds it: a round also retries an
    // attempt that failed.
    const firing = await waitFor(async () => {
      await srv!.server.alerts.delivery.round();
      const list = await am!.active('vm-cpu-hot');
      return list.length ? list : null;
    }, 20_000, 'Alertmanager to list the alert', 200);
    assert.is(firing.length, 1);
    assert.is(firing[0]!.labels.instance_id, folder);
    assert.is(firing[0]!.labels.instance_name, folder);
    assert.is(firing[0]!.labels.agent_id, agentId);
    assert.is(firing[0]!.labels.metric, 'CPUUtilization');

    // The VM idles: the same VM (same socket folder, so the same instance id), not burning.
    await vm.stop();
    vm = await startStandin({ kind: 'crosvm', argv, threads: 1 });
    await until(boundary + 60_000);
    await minuteAtServer(boundary + 60_000);
    const cool = await srv.server.alerts.evaluator.evaluateOnce(boundary + 60_000 + 2000);
    assert.ok(cool.transitions >= 1, JSON.stringify(cool));
    const after = (await request(`${srv.url}/v1/alarms/vm-cpu-hot`, { secret: srv.admin.secret })).body;
    assert.is(after.states.find((x: { instanceId: string }) => x.instanceId === folder)?.state, 'OK');
    const history = (await request(`${srv.url}/v1/alarms/vm-cpu-hot/history`, { secret: srv.admin.secret })).body;
    const transitions = (history.history ?? history) as { newState: string; instanceId: string }[];
    assert.ok(transitions.some((h) => h.instanceId === folder && h.newState === 'ALARM'), JSON.stringify(history).slice(0, 500));
    await waitFor(async () => {
      await srv!.server.alerts.delivery.round();
      return (await am!.active('vm-cpu-hot')).length === 0;
    }, 20_000, 'the alert to resolve', 200);
  } finally {
    await agent?.stop();
    await vm?.stop();
    await srv?.close();
    await am?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
