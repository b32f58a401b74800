import { METRIC_NAMES, METRIC_UNITS, STATISTICS, type MetricName, type Statistic } from '../metric-catalogue.js';

// Alarm model: Lightsail PutAlarm field names and values, extended with fleet-wide targets
// (`selector`) and delivery contacts. Everything else in src/server/alerts speaks these types.

// The metric names, their units and the statistics are the server's one catalogue
// (src/server/metric-catalogue.ts), shared with GetInstanceMetricData.
export const ALARM_METRICS = METRIC_NAMES;
export type AlarmMetric = MetricName;
export { METRIC_UNITS, STATISTICS, type Statistic };

export const COMPARISON_OPERATORS = [
  'GreaterThanOrEqualToThreshold',
  'GreaterThanThreshold',
  'LessThanThreshold',
  'LessThanOrEqualToThreshold',
] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

export const TREAT_MISSING = ['breaching', 'notBreaching', 'ignore', 'missing'] as const;
export type TreatMissingData = (typeof TREAT_MISSING)[number];

export const ALARM_STATES = ['OK', 'ALARM', 'INSUFFICIENT_DATA'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];

/** Which instances an alarm watches. All given fields must match (AND). */
export interface Selector {
  all?: boolean;
  /** Agent id or hostname. */
  host?: string;
  hypervisor?: string;
  /** Glob over the instance name: `*` any run, `?` one character. */
  instanceName?: string;
}

export interface Contacts {
  webhooks: string[];
  alertmanagers: string[];
}

export type AlarmSource = 'api' | 'file' | 'builtin';

export interface AlarmDefinition {
  alarmName: string;
  /** Exactly one of monitoredResourceName (an instance id or name) and selector is set. */
  monitoredResourceName: string | null;
  selector: Selector | null;
  metricName: AlarmMetric;
  statistic: Statistic;
  period: number;
  comparisonOperator: ComparisonOperator;
  threshold: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: TreatMissingData;
  notificationTriggers: AlarmState[];
  notificationEnabled: boolean;
  /** Alertmanager `severity` label; not a Lightsail field. */
  severity: string;
  contacts: Contacts;
}

/** What the evaluator knows about a VM: the store's instance row, reduced. */
export interface TargetInstance {
  instanceId: string;
  name: string;
  agentId: string;
  hostname: string;
  hypervisor: string;
  /** Unix seconds of the latest batch that carried the instance. */
  lastSeen: number;
}

/** One period of the evaluation window: its start (unix seconds) and value, null when missing. */
export interface Datapoint {
  timestamp: number;
  value: number | null;
}

export interface InstanceState {
  alarmName: string;
  instanceId: string;
  agentId: string;
  instanceName: string;
  state: AlarmState;
  reason: string;
  /** Unix ms since the instance entered this state. */
  sinceMs: number;
  /** Unix ms of the last evaluation that looked at it. */
  evaluatedMs: number;
}

export interface HistoryEntry {
  id: string;
  alarmName: string;
  instanceId: string;
  agentId: string;
  instanceName: string;
  atMs: number;
  oldState: AlarmState | null;
  newState: AlarmState;
  reason: string;
  datapoints: Datapoint[];
}

export interface StoredAlarm {
  definition: AlarmDefinition;
  source: AlarmSource;
  createdMs: number;
  updatedMs: number;
  /** When the alarm's last committed evaluation pass ran (unix ms); null before the first. */
  evaluatedMs: number | null;
}
