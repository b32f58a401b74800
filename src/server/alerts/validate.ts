// PutAlarm input → AlarmDefinition, or an InvalidInputException naming the first bad field.
// The same checks serve the API, the alarms file and the built-ins, so no alarm reaches the
// evaluator without passing here.
import { LightsailError } from '../errors.js';
import {
  ALARM_METRICS,
  ALARM_STATES,
  COMPARISON_OPERATORS,
  STATISTICS,
  TREAT_MISSING,
  type AlarmDefinition,
  type AlarmState,
  type Contacts,
  type Selector,
} from './types.js';

const invalid = (m: string) => new LightsailError('InvalidInputException', m);

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const KNOWN = new Set([
  'alarmName',
  'monitoredResourceName',
  'selector',
  'metricName',
  'statistic',
  'period',
  'comparisonOperator',
  'threshold',
  'evaluationPeriods',
  'datapointsToAlarm',
  'treatMissingData',
  'notificationTriggers',
  'notificationEnabled',
  'severity',
  'contacts',
]);

function oneOf<T extends string>(v: unknown, allowed: readonly T[], field: string, dflt?: T): T {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw invalid(`${field} must be one of ${allowed.join(', ')}`);
  return v as T;
}

function intIn(v: unknown, field: string, lo: number, hi: number, dflt?: number): number {
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw invalid(`${field} must be an integer from ${lo} to ${hi}`);
  return v;
}

function urls(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 20) throw invalid(`${field} must be an array of at most 20 http(s) URLs`);
  return v.map((u, i) => {
    let ok = false;
    if (typeof u === 'string') {
      try {
        const p = new URL(u);
        ok = p.protocol === 'http:' || p.protocol === 'https:';
      } catch {
        ok = false;
      }
    }
    if (!ok) throw invalid(`${field}[${i}] must be an http(s) URL`);
    return u as string;
  });
}

function selectorOf(v: unknown): Selector {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('selector must be an object: { all, host, hypervisor, instanceName }');
  const s = v as Record<string, unknown>;
  for (const k of Object.keys(s)) if (!['all', 'host', 'hypervisor', 'instanceName'].includes(k)) throw invalid(`selector.${k} is not a known field (all, host, hypervisor, instanceName)`);
  const out: Selector = {};
  if (s.all !== undefined) {
    if (s.all !== true) throw invalid('selector.all must be true when given');
    out.all = true;
  }
  for (const k of ['host', 'hypervisor', 'instanceName'] as const) {
    if (s[k] === undefined) continue;
    if (typeof s[k] !== 'string' || (s[k] as string).length === 0 || (s[k] as string).length > 255) throw invalid(`selector.${k} must be a non-empty string`);
    out[k] = s[k] as string;
  }
  if (Object.keys(out).length === 0) throw invalid('selector must match something: give all: true, host, hypervisor or instanceName');
  return out;
}

/**
 * Validates a PutAlarm body. `nameFromPath` (the `{alarmName}` of the URL) wins; a body alarmName
 * that differs from it is refused rather than silently ignored.
 */
export function parseAlarm(input: unknown, nameFromPath?: string): AlarmDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('the body must be a JSON object');
  const b = input as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!KNOWN.has(k)) throw invalid(`${k} is not a known alarm field`);

  const alarmName = nameFromPath ?? b.alarmName;
  if (typeof alarmName !== 'string' || !NAME_RE.test(alarmName)) throw invalid('alarmName must be 1-255 characters of letters, digits, ".", "_" and "-", starting with a letter or digit');
  if (nameFromPath !== undefined && b.alarmName !== undefined && b.alarmName !== nameFromPath) throw invalid('alarmName in the body differs from the one in the path');

  const hasResource = b.monitoredResourceName !== undefined;
  const hasSelector = b.selector !== undefined;
  if (hasResource === hasSelector) throw invalid('give exactly one of monitoredResourceName (one instance id or name) and selector (many instances)');
  let monitoredResourceName: string | null = null;
  if (hasResource) {
    if (typeof b.monitoredResourceName !== 'string' || b.monitoredResourceName.length === 0 || b.monitoredResourceName.length > 255) {
      throw invalid('monitoredResourceName must be an instance id or name');
    }
    monitoredResourceName = b.monitoredResourceName;
  }
  const selector = hasSelector ? selectorOf(b.selector) : null;

  const metricName = oneOf(b.metricName, ALARM_METRICS, 'metricName');
  const statistic = oneOf(b.statistic, STATISTICS, 'statistic', 'Average');
  const period = intIn(b.period, 'period', 60, 86400, 300);
  if (period % 60 !== 0) throw invalid('period must be a multiple of 60 seconds');
  const comparisonOperator = oneOf(b.comparisonOperator, COMPARISON_OPERATORS, 'comparisonOperator');
  if (typeof b.threshold !== 'number' || !Number.isFinite(b.threshold)) throw invalid('threshold must be a finite number');
  const evaluationPeriods = intIn(b.evaluationPeriods, 'evaluationPeriods', 1, 1440);
  if (evaluationPeriods * period > 86400 * 15) throw invalid('evaluationPeriods × period must not exceed 15 days (the per-minute retention)');
  const datapointsToAlarm = intIn(b.datapointsToAlarm, 'datapointsToAlarm', 1, evaluationPeriods, evaluationPeriods);
  const treatMissingData = oneOf(b.treatMissingData, TREAT_MISSING, 'treatMissingData', 'missing');

  let notificationTriggers: AlarmState[] = [...ALARM_STATES];
  if (b.notificationTriggers !== undefined) {
    if (!Array.isArray(b.notificationTriggers)) throw invalid('notificationTriggers must be an array of ALARM, OK, INSUFFICIENT_DATA');
    notificationTriggers = [];
    for (const t of b.notificationTriggers) {
      const s = oneOf(t, ALARM_STATES, 'notificationTriggers[]');
      if (!notificationTriggers.includes(s)) notificationTriggers.push(s);
    }
  }
  if (b.notificationEnabled !== undefined && typeof b.notificationEnabled !== 'boolean') throw invalid('notificationEnabled must be true or false');
  const notificationEnabled = b.notificationEnabled ?? true;
  if (b.severity !== undefined && (typeof b.severity !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(b.severity))) throw invalid('severity must be a short word such as warning or critical');
  const severity = (b.severity as string | undefined) ?? 'warning';

  let contacts: Contacts = { webhooks: [], alertmanagers: [] };
  if (b.contacts !== undefined) {
    if (typeof b.contacts !== 'object' || b.contacts === null || Array.isArray(b.contacts)) throw invalid('contacts must be { "webhooks": [url...], "alertmanagers": [url...] }');
    const c = b.contacts as Record<string, unknown>;
    for (const k of Object.keys(c)) if (k !== 'webhooks' && k !== 'alertmanagers') throw invalid(`contacts.${k} is not known (webhooks, alertmanagers)`);
    contacts = { webhooks: urls(c.webhooks, 'contacts.webhooks'), alertmanagers: urls(c.alertmanagers, 'contacts.alertmanagers') };
  }

  return {
    alarmName,
    monitoredResourceName,
    selector,
    metricName,
    statistic,
    period,
    comparisonOperator,
    threshold: b.threshold,
    evaluationPeriods,
    datapointsToAlarm,
    treatMissingData,
    notificationTriggers,
    notificationEnabled,
    severity,
    contacts,
  };
}
