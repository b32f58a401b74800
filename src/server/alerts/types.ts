// Alarm model: Lightsail PutAlarm field names and values, extended with fleet-wide targets
// (`selector`) and delivery contacts. Everything else in src/server/alerts speaks these types.

export const ALARM_METRICS = [
  'CPUUtilization',
  'NetworkIn',
  'NetworkOut',
  'StatusCheckFailed',
  'StatusCheckFailed_Instance',
  'StatusCheckFailed_System',
  'MemoryUtilization',
  'DiskReadBytes',
  'DiskWriteBytes',
  'CPUStealPercent',
] as const;
export type AlarmMetric = (typeof ALARM_METRICS)[number];

/** The unit GetInstanceMetricData publishes for each metric (it refuses any other). */
export const METRIC_UNITS: Record<AlarmMetric, string> = {
  CPUUtilization: 'Percent',
  NetworkIn: 'Bytes',
  NetworkOut: 'Bytes',
  StatusCheckFailed: 'Count',
  StatusCheckFailed_Instance: 'Count',
  StatusCheckFailed_System: 'Count',
  MemoryUtilization: 'Percent',
  DiskReadBytes: 'Bytes',
  DiskWriteBytes: 'Bytes',
  CPUStealPercent: 'Percent',
};

export const STATISTICS = ['Minimum', 'Maximum', 'Sum', 'Average', 'SampleCount'] as const;
export type Statistic = (typeof STATISTICS)[number];

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
