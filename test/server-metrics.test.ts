// The server's own /metrics: who may read it, the exact values after known ingest and alerting
// activity, promtool's linter, and a real Prometheus scraping it with a reader credential.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { needs } from './helpers/needs.js';
import { findSamples, parseExposition, startPrometheus } from './helpers/api-check.js';
import { ENGINES, agg, engineReady, hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, startTestServer, type Engine } from './helpers/server.js';
import { freePort } from './helpers/api-check.js';

const ALERTS = {
  loops: false,
  builtins: false,
  lagSeconds: 0,
  goneGraceSeconds: 600,
  retryBaseMs: 60_000,
  retryMaxMs: 60_000,
  httpTimeoutMs: 1000,
  alarmsFile: null,
  defaultWebhooks: [],
  defaultAlertmanagers: [],
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scenario(engine: Engine, withPrometheus: boolean): Promise<void> {
  const s = await startTestServer(engine, { alerts: ALERTS });
  try {
    // Who may read it.
    assert.is((await request(`${s.url}/metrics`)).status, 401);
    assert.is((await request(`${s.url}/metrics`, { secret: s.agent.secret })).status, 403);
    const empty = await request(`${s.url}/metrics`, { secret: s.reader.secret });
    assert.is(empty.status, 200);
    assert.match(empty.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.is((await request(`${s.url}/metrics`, { secret: s.admin.secret })).status, 200);

    // Known ingest activity: one stored batch (3 host minutes, 2 VMs × 3 minutes), its replay, a
    // batch failing validation, one without credentials.
    const m0 = nowMinute(-10);
    const minutes = [m0, m0 + 60, m0 + 120];
    const b = payload({
      CreatedAt: m0 + 180,
      Stats: minutes.map((m) => hostWindow(m)),
      Instances: [
        instanceRecord('v1', { InstanceName: 'web-1', Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([99, 99]) })) }),
        instanceRecord('v2', { InstanceName: 'web-2', Stats: minutes.map((m) => instanceWindow(m, { CPU: agg([5, 5]) })) }),
      ],
    });
    assert.is((await ingest(s.url, s.agent.secret, b)).body.status, 'stored');
    assert.is((await ingest(s.url, s.agent.secret, b)).body.status, 'duplicate');
    assert.is((await ingest(s.url, s.agent.secret, { ...b, BatchID: 'not-a-ulid', Stats: 'x' } as never)).status, 400);
    assert.is((await ingest(s.url, '', payload())).status, 401);

    // Known alerting activity: one VM over the threshold, a webhook nobody listens on.
    const deadPort = await freePort();
    const put = await request(`${s.url}/v1/alarms/cpu-high`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      secret: s.admin.secret,
      body: JSON.stringify({
        selector: { instanceName: 'web-*' },
        metricName: 'CPUUtilization',
        statistic: 'Average',
        period: 60,
        comparisonOperator: 'GreaterThanOrEqualToThreshold',
        threshold: 90,
        evaluationPeriods: 3,
        contacts: { webhooks: [`http://127.0.0.1:${deadPort}/hook`] },
      }),
    });
    assert.is(put.status, 201, put.text);
    const pass = await s.server.alerts.evaluator.evaluateOnce((m0 + 180) * 1000);
    assert.is(pass.transitions, 2);
    const round = await s.server.alerts.delivery.round();
    assert.is(round.failed, 1);

    const text = (await request(`${s.url}/metrics`, { secret: s.reader.secret })).text;
    const { samples, types } = parseExposition(text);
    const v = (name: string, labels: Record<string, string> = {}) => {
      const f = findSamples(samples, name, labels);
      assert.is(f.length, 1, `${name} ${JSON.stringify(labels)}: ${f.length} series`);
      return f[0]!.value;
    };
    assert.is(v('vmpulse_server_ingest_batches_total', { outcome: 'stored' }), 1);
    assert.is(v('vmpulse_server_ingest_batches_total', { outcome: 'duplicate' }), 1);
    assert.is(v('vmpulse_server_ingest_batches_total', { outcome: 'rejected' }), 2);
    assert.is(v('vmpulse_server_ingest_rejected_total', { reason: 'invalid_payload' }), 1);
    assert.is(v('vmpulse_server_ingest_rejected_total', { reason: 'unauthorized' }), 1);
    assert.is(v('vmpulse_server_ingest_vm_records_stored_total'), 6);
    assert.is(v('vmpulse_server_ingest_host_records_stored_total'), 3);
    assert.is(v('vmpulse_server_ingest_request_duration_seconds_count', { outcome: 'stored' }), 1);
    assert.is(v('vmpulse_server_ingest_request_duration_seconds_count', { outcome: 'rejected' }), 2);
    assert.ok(v('vmpulse_server_ingest_request_duration_seconds_sum', { outcome: 'stored' }) > 0);
    assert.is(v('vmpulse_server_alarm_passes_total', { result: 'ok' }), 1);
    assert.is(v('vmpulse_server_alarm_passes_total', { result: 'failed' }), 0);
    assert.is(v('vmpulse_server_alarm_pass_duration_seconds_count'), 1);
    assert.is(v('vmpulse_server_alarm_instances_judged_total'), 2);
    assert.is(v('vmpulse_server_alarm_instances_judged'), 2);
    assert.is(v('vmpulse_server_alarm_transitions_total', { state: 'ALARM' }), 1);
    assert.is(v('vmpulse_server_alarm_transitions_total', { state: 'OK' }), 1);
    assert.is(v('vmpulse_server_alarm_transitions_total', { state: 'INSUFFICIENT_DATA' }), 0);
    assert.is(v('vmpulse_server_alarm_evaluations_failed_total'), 0);
    assert.is(v('vmpulse_server_alarm_evaluations_deferred_total'), 0);
    // The OK of a new VM is recorded, not announced: one webhook for the ALARM.
    assert.is(v('vmpulse_server_alarm_notifications_queued_total'), 1);
    assert.is(v('vmpulse_server_alarm_notifications_pending'), 1);
    assert.is(v('vmpulse_server_alarm_notifications_failed_total'), 1);
    assert.is(v('vmpulse_server_alarm_notifications_delivered_total'), 0);
    assert.is(v('vmpulse_server_alarm_notifications_expired_total'), 0);
    assert.is(types.get('vmpulse_server_ingest_request_duration_seconds'), 'histogram');
    assert.is(types.get('vmpulse_server_alarm_notifications_pending'), 'gauge');
    assert.is(types.get('vmpulse_server_alarm_transitions_total'), 'counter');

    if (await needs('server /metrics passes promtool check metrics', 'promtool')) {
      const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
      assert.is(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    }

    if (withPrometheus && (await needs('a real Prometheus scrapes the server with a reader credential', 'prometheus'))) {
      const prom = await startPrometheus(new URL(s.url).host, { bearerToken: s.reader.secret });
      try {
        let got: string | null = null;
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && !prom.exited()) {
          const r = await prom.query('vmpulse_server_ingest_vm_records_stored_total');
          if (r.length === 1) {
            got = r[0]!.value[1];
            break;
          }
          await sleep(500);
        }
        assert.is(got, '6', `Prometheus never got the value: ${prom.stderr()}`);
        const up = await prom.query('up{job="vmpulse"}');
        assert.is(up[0]?.value[1], '1');
        const judged = await prom.query('vmpulse_server_alarm_transitions_total{state="ALARM"}');
        assert.is(judged[0]?.value[1], '1');
      } finally {
        await prom.stop();
      }
    }
  } finally {
    await s.close();
  }
}

const t = suite('server /metrics');
for (const engine of ENGINES) {
  t(`reader-only, exact ingest and alerting values, promtool${engine === 'sqlite' ? ', a real Prometheus' : ''} [${engine}]`, async () => {
    if (!(await engineReady(engine, 'server /metrics'))) return;
    await scenario(engine, engine === 'sqlite');
  });
}
t.run();
