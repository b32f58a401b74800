// The pure parts of alerting: the M-of-N decision with every missing-data treatment, the
// comparison operators, notification filtering, PutAlarm validation and selectors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluate, type EvaluationRule } from '../src/server/alerts/evaluate.js';
import { notificationsFor } from '../src/server/alerts/evaluator.js';
import { selectTargets, globToRegExp } from '../src/server/alerts/selector.js';
import { parseAlarm } from '../src/server/alerts/validate.js';
import { backoffMs } from '../src/server/alerts/delivery.js';
import { summaryState } from '../src/server/alerts/service.js';
import type { AlarmState, TargetInstance, TreatMissingData } from '../src/server/alerts/types.js';
import { LightsailError } from '../src/server/errors.js';

const X = 100; // breaching
const O = 0; // good
const _ = null; // missing

const rule = (treat: TreatMissingData, n = 3, m = 3): EvaluationRule => ({
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  threshold: 90,
  evaluationPeriods: n,
  datapointsToAlarm: m,
  treatMissingData: treat,
});

const t = suite('alerts: M-of-N evaluation');

// CloudWatch's 3-of-3 table, as documented in evaluate.ts; 'keep' = the current state.
const TABLE: [(number | null)[], Record<TreatMissingData, AlarmState | 'keep'>][] = [
  [[O, O, O], { missing: 'OK', ignore: 'OK', breaching: 'OK', notBreaching: 'OK' }],
  [[_, _, O], { missing: 'OK', ignore: 'OK', breaching: 'OK', notBreaching: 'OK' }],
  [[_, _, _], { missing: 'INSUFFICIENT_DATA', ignore: 'keep', breaching: 'ALARM', notBreaching: 'OK' }],
  [[X, X, X], { missing: 'ALARM', ignore: 'ALARM', breaching: 'ALARM', notBreaching: 'ALARM' }],
  [[X, _, X], { missing: 'keep', ignore: 'keep', breaching: 'ALARM', notBreaching: 'OK' }],
  [[_, _, X], { missing: 'keep', ignore: 'keep', breaching: 'ALARM', notBreaching: 'OK' }],
  [[O, X, X], { missing: 'OK', ignore: 'OK', breaching: 'OK', notBreaching: 'OK' }],
];

for (const [points, expect] of TABLE) {
  for (const treat of ['missing', 'ignore', 'breaching', 'notBreaching'] as const) {
    t(`3 of 3, ${points.map((p) => (p === null ? '-' : p === X ? 'X' : '0')).join(' ')}, ${treat}`, () => {
      for (const current of ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const) {
        const d = evaluate(rule(treat), points, current);
        const want = expect[treat] === 'keep' ? current : expect[treat];
        assert.is(d.state, want, `from ${current}: ${d.reason}`);
      }
    });
  }
}

t('M of N: 2 of 3 breaching → ALARM for 2-of-3, OK for 3-of-3; breaching/present counts', () => {
  const d = evaluate(rule('missing', 3, 2), [X, O, X], 'OK');
  assert.is(d.state, 'ALARM');
  assert.is(d.breaching, 2);
  assert.is(d.present, 3);
  assert.is(evaluate(rule('missing', 3, 3), [X, O, X], 'ALARM').state, 'OK');
  // 3 of 5 with missing: enough present points judged (4 ≥ 3), only 2 breaching → OK.
  assert.is(evaluate(rule('missing', 5, 3), [O, X, _, X, O], 'ALARM').state, 'OK');
  // 3 of 5, 2 breaching + 1 good present: 3 present ≥ M judged → OK.
  assert.is(evaluate(rule('missing', 5, 3), [X, _, X, _, O], 'ALARM').state, 'OK');
  // 4 of 5, 2 breaching, 1 good, 2 missing: fewer than M present and ALARM still possible → kept.
  assert.is(evaluate(rule('missing', 5, 4), [X, _, X, _, O], 'ALARM').state, 'ALARM');
  assert.is(evaluate(rule('missing', 5, 4), [X, _, X, _, O], 'OK').state, 'OK');
  // breaching: 1 real + 2 missing = 3 → ALARM.
  assert.is(evaluate(rule('breaching', 5, 3), [O, X, _, O, _], 'OK').state, 'ALARM');
  // ignore: 3 good of 5 with M = 3 → ALARM impossible → OK.
  assert.is(evaluate(rule('ignore', 5, 3), [O, _, O, _, O], 'ALARM').state, 'OK');
});

t('fewer points than N: the missing ones are the oldest', () => {
  assert.is(evaluate(rule('breaching', 3, 3), [X], 'OK').state, 'ALARM');
  assert.is(evaluate(rule('notBreaching', 3, 1), [X], 'OK').state, 'ALARM');
  assert.is(evaluate(rule('missing', 3, 3), [], 'OK').state, 'INSUFFICIENT_DATA');
  // Only the last N count.
  assert.is(evaluate(rule('missing', 2, 2), [X, X, O, O], 'ALARM').state, 'OK');
});

t('comparison operators at and around the threshold', () => {
  const at = (op: EvaluationRule['comparisonOperator'], v: number) => evaluate({ ...rule('missing', 1, 1), comparisonOperator: op, threshold: 50 }, [v], 'OK').state;
  assert.is(at('GreaterThanOrEqualToThreshold', 50), 'ALARM');
  assert.is(at('GreaterThanOrEqualToThreshold', 49.9), 'OK');
  assert.is(at('GreaterThanThreshold', 50), 'OK');
  assert.is(at('GreaterThanThreshold', 50.1), 'ALARM');
  assert.is(at('LessThanThreshold', 50), 'OK');
  assert.is(at('LessThanThreshold', 49.9), 'ALARM');
  assert.is(at('LessThanOrEqualToThreshold', 50), 'ALARM');
  assert.is(at('LessThanOrEqualToThreshold', 50.1), 'OK');
});

t('reasons name the datapoints, newest first, and the threshold', () => {
  const d = evaluate(rule('missing'), [{ timestamp: 0, value: 95 }, { timestamp: 60, value: 99.5 }, { timestamp: 120, value: 100 }], 'OK');
  assert.is(d.state, 'ALARM');
  assert.is(d.reason, 'Threshold Crossed: 3 out of the last 3 datapoints [100.0, 99.5, 95.0] were greater than or equal to the threshold (90.0) (minimum 3 datapoints for ALARM).');
  const i = evaluate(rule('missing'), [_, _, _], 'OK');
  assert.is(i.reason, 'Insufficient Data: all 3 datapoints [missing, missing, missing] were missing.');
});

t('every state transition is reachable', () => {
  const r = rule('missing', 1, 1);
  const step = (from: AlarmState, v: number | null) => evaluate(r, [v], from).state;
  assert.is(step('INSUFFICIENT_DATA', X), 'ALARM');
  assert.is(step('INSUFFICIENT_DATA', O), 'OK');
  assert.is(step('OK', X), 'ALARM');
  assert.is(step('OK', _), 'INSUFFICIENT_DATA');
  assert.is(step('ALARM', O), 'OK');
  assert.is(step('ALARM', _), 'INSUFFICIENT_DATA');
  assert.is(step('OK', O), 'OK');
  assert.is(step('ALARM', X), 'ALARM');
});

t.run();

const n = suite('alerts: notifications, validation, selectors');

const def = (o: Record<string, unknown> = {}) =>
  parseAlarm({
    alarmName: 'cpu-high',
    selector: { all: true },
    metricName: 'CPUUtilization',
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
    threshold: 90,
    evaluationPeriods: 3,
    contacts: { webhooks: ['http://127.0.0.1:1/hook'], alertmanagers: ['http://127.0.0.1:2'] },
    ...o,
  });
const inst = { instanceId: 'i-1', name: 'web-1', agentId: 'agent-1' };
const tr = (from: AlarmState | null, to: AlarmState) => ({ inst, from, to, fromSinceMs: 1_000, reason: 'r', datapoints: [], notify: true });

n('defaults follow PutAlarm: Average, 300 s, M = N, missing, all triggers, enabled', () => {
  const d = def();
  assert.is(d.statistic, 'Average');
  assert.is(d.period, 300);
  assert.is(d.datapointsToAlarm, 3);
  assert.is(d.treatMissingData, 'missing');
  assert.equal(d.notificationTriggers, ['OK', 'ALARM', 'INSUFFICIENT_DATA']);
  assert.is(d.notificationEnabled, true);
  assert.is(d.severity, 'warning');
});

n('notificationTriggers filter webhooks; Alertmanager gets firing and its resolve', () => {
  const d = def({ notificationTriggers: ['ALARM'] });
  const fire = notificationsFor(d, tr('OK', 'ALARM'), 'H1', 5_000, 'http://vmp');
  assert.equal(fire.map((r) => [r.kind, r.url]), [['webhook', 'http://127.0.0.1:1/hook'], ['alertmanager', 'http://127.0.0.1:2']]);
  assert.is(fire[0]!.dedupKey, 'cpu-high/i-1/H1');
  const wb = JSON.parse(fire[0]!.body);
  assert.is(wb.state, 'ALARM');
  assert.is(wb.previousState, 'OK');
  assert.equal(wb.instance, { id: 'i-1', name: 'web-1', agentId: 'agent-1' });
  assert.is(wb.dedupKey, 'cpu-high/i-1/H1');
  assert.is(wb.timestamp, new Date(5_000).toISOString());
  const am = JSON.parse(fire[1]!.body);
  assert.equal(am[0].labels, { alertname: 'cpu-high', instance_id: 'i-1', instance_name: 'web-1', agent_id: 'agent-1', severity: 'warning', metric: 'CPUUtilization' });
  assert.is(am[0].startsAt, new Date(5_000).toISOString());
  assert.is(am[0].endsAt, undefined);
  assert.is(am[0].generatorURL, 'http://vmp/v1/alarms/cpu-high');
  // OK is not a trigger: no webhook, but the Alertmanager alert is resolved with endsAt = now.
  const ok = notificationsFor(d, tr('ALARM', 'OK'), 'H2', 9_000, 'http://vmp');
  assert.equal(ok.map((r) => r.kind), ['alertmanager']);
  const res = JSON.parse(ok[0]!.body)[0];
  assert.is(res.startsAt, new Date(1_000).toISOString());
  assert.is(res.endsAt, new Date(9_000).toISOString());
  // INSUFFICIENT_DATA not a trigger and not leaving ALARM: nothing.
  assert.equal(notificationsFor(d, tr('OK', 'INSUFFICIENT_DATA'), 'H3', 9_000, 'x'), []);
});

n('OK-only triggers: webhook on OK, nothing to Alertmanager; notificationEnabled false silences all', () => {
  const d = def({ notificationTriggers: ['OK'] });
  assert.equal(notificationsFor(d, tr('ALARM', 'OK'), 'H', 1, 'x').map((r) => r.kind), ['webhook']);
  assert.equal(notificationsFor(d, tr('OK', 'ALARM'), 'H', 1, 'x'), []);
  assert.equal(notificationsFor(def({ notificationEnabled: false }), tr('OK', 'ALARM'), 'H', 1, 'x'), []);
  assert.equal(notificationsFor(def(), { ...tr('INSUFFICIENT_DATA', 'OK'), notify: false }, 'H', 1, 'x'), []);
});

n('bad input is an InvalidInputException naming the field', () => {
  const bad = (o: Record<string, unknown>, re: RegExp) => {
    try {
      def(o);
    } catch (e) {
      assert.ok(e instanceof LightsailError);
      assert.is((e as LightsailError).type, 'InvalidInputException');
      assert.match((e as Error).message, re);
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(o)}`);
  };
  bad({ metricName: 'BurstCapacityTime' }, /metricName/);
  bad({ period: 90 }, /multiple of 60/);
  bad({ period: 30 }, /period/);
  bad({ datapointsToAlarm: 4 }, /datapointsToAlarm/);
  bad({ statistic: 'p99' }, /statistic/);
  bad({ comparisonOperator: 'Equal' }, /comparisonOperator/);
  bad({ threshold: 'high' }, /threshold/);
  bad({ treatMissingData: 'zero' }, /treatMissingData/);
  bad({ notificationTriggers: ['FIRING'] }, /notificationTriggers/);
  bad({ monitoredResourceName: 'web-1' }, /exactly one/);
  bad({ selector: {} }, /selector/);
  bad({ selector: { rack: 'a' } }, /selector.rack/);
  bad({ contacts: { webhooks: ['ftp://x'] } }, /contacts.webhooks\[0\]/);
  bad({ colour: 'red' }, /colour/);
  bad({ alarmName: 'has space' }, /alarmName/);
});

n('selectors: all, host by agent id or hostname, hypervisor, name glob, combined; resource by id then name', () => {
  const mk = (id: string, name: string, agentId: string, hostname: string, hypervisor: string): TargetInstance => ({ instanceId: id, name, agentId, hostname, hypervisor, lastSeen: 0 });
  const fleet = [mk('a', 'web-1', 'ag1', 'hv1', 'qemu'), mk('b', 'web-2', 'ag2', 'hv2', 'firecracker'), mk('c', 'db-1', 'ag1', 'hv1', 'qemu'), mk('d', 'a', 'ag2', 'hv2', 'qemu')];
  const ids = (o: Record<string, unknown>) => selectTargets(def(o), fleet).map((i) => i.instanceId);
  assert.equal(ids({}), ['a', 'b', 'c', 'd']);
  assert.equal(ids({ selector: { host: 'ag1' } }), ['a', 'c']);
  assert.equal(ids({ selector: { host: 'hv2' } }), ['b', 'd']);
  assert.equal(ids({ selector: { hypervisor: 'firecracker' } }), ['b']);
  assert.equal(ids({ selector: { instanceName: 'web-*' } }), ['a', 'b']);
  assert.equal(ids({ selector: { instanceName: 'web-*', host: 'hv1' } }), ['a']);
  assert.equal(ids({ selector: { instanceName: '??-1' } }), ['c'], '? is exactly one character, as in GET /v1/instances?name=');
  assert.equal(ids({ selector: undefined, monitoredResourceName: 'a' }), ['a']);
  assert.equal(ids({ selector: undefined, monitoredResourceName: 'db-1' }), ['c']);
  assert.ok(globToRegExp('w?b.*').test('web.x'));
  assert.not.ok(globToRegExp('w?b.*').test('webx'));
});

n('backoff doubles up to the cap; summary state is the worst', () => {
  assert.equal([1, 2, 3, 4, 10].map((a) => backoffMs(a, 100, 1000)), [100, 200, 400, 800, 1000]);
  assert.is(summaryState([]), 'INSUFFICIENT_DATA');
  assert.is(summaryState([{ state: 'OK' }, { state: 'ALARM' }]), 'ALARM');
  assert.is(summaryState([{ state: 'OK' }, { state: 'INSUFFICIENT_DATA' }]), 'INSUFFICIENT_DATA');
  assert.is(summaryState([{ state: 'OK' }]), 'OK');
});

n.run();

const f = suite('alerts: alarms file');

f('config/alarms.example.json loads and validates; a bad file names the alarm and field', async () => {
  const { readAlarmsFile } = await import('../src/server/alerts/service.js');
  const { repoRoot } = await import('../src/paths.js');
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const defs = readAlarmsFile(join(repoRoot, 'config', 'alarms.example.json'));
  assert.equal(defs.map((d) => [d.alarmName, d.metricName, d.period, d.datapointsToAlarm]), [
    ['web-cpu-high', 'CPUUtilization', 300, 2],
    ['db1-memory', 'MemoryUtilization', 60, 3],
    ['hv7-steal', 'CPUStealPercent', 300, 2],
  ]);
  assert.equal(defs[0]!.notificationTriggers, ['ALARM', 'OK']);
  assert.is(defs[1]!.monitoredResourceName, 'db-1');
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-alarms-'));
  try {
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ alarmName: 'x', selector: { all: true }, metricName: 'CPUUtilization', comparisonOperator: 'GreaterThanThreshold', threshold: 1, evaluationPeriods: 2, period: 90 }]));
    assert.throws(() => readAlarmsFile(join(dir, 'bad.json')), /alarm 0: period must be a multiple of 60/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

f.run();
