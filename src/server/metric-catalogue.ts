// The one catalogue of the instance metrics vmpulse publishes (Lightsail's GetInstanceMetricData
// names): what kind each is, its unit, and the stored column or status check it is computed from.
// GetInstanceMetricData (metric-data.ts) answers exactly these; alarms (alerts/types.ts,
// alerts/validate.ts) accept exactly these, with the same units; the alarm evaluator's fleet scan
// (alerts/fleet-frame.ts) reads the same columns.
import { INSTANCE_TIER_GAUGES, INSTANCE_TIER_TOTALS } from './store/schema.js';

export type MetricDef =
  | { kind: 'gauge'; unit: 'Percent'; stat: string }
  | { kind: 'total'; unit: 'Bytes' | 'Count'; stat: string }
  | { kind: 'status'; unit: 'Count'; check: 'any' | 'instance' | 'system' };

export const METRICS = {
  CPUUtilization: { kind: 'gauge', unit: 'Percent', stat: INSTANCE_TIER_GAUGES.CPU },
  NetworkIn: { kind: 'total', unit: 'Bytes', stat: INSTANCE_TIER_TOTALS.NetIn },
  NetworkOut: { kind: 'total', unit: 'Bytes', stat: INSTANCE_TIER_TOTALS.NetOut },
  StatusCheckFailed: { kind: 'status', unit: 'Count', check: 'any' },
  StatusCheckFailed_Instance: { kind: 'status', unit: 'Count', check: 'instance' },
  StatusCheckFailed_System: { kind: 'status', unit: 'Count', check: 'system' },
  MemoryUtilization: { kind: 'gauge', unit: 'Percent', stat: INSTANCE_TIER_GAUGES.MemoryUtilization },
  DiskReadBytes: { kind: 'total', unit: 'Bytes', stat: INSTANCE_TIER_TOTALS.DiskRead },
  DiskWriteBytes: { kind: 'total', unit: 'Bytes', stat: INSTANCE_TIER_TOTALS.DiskWrite },
  CPUStealPercent: { kind: 'gauge', unit: 'Percent', stat: INSTANCE_TIER_GAUGES.Steal },
  // Beyond Lightsail's set: packets as EC2 names them, and the TAPs' errors and drops (VM view:
  // In = toward the VM), for agents that send them.
  NetworkPacketsIn: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetInPackets },
  NetworkPacketsOut: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetOutPackets },
  NetworkErrorsIn: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetInErrors },
  NetworkErrorsOut: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetOutErrors },
  NetworkDropsIn: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetInDropped },
  NetworkDropsOut: { kind: 'total', unit: 'Count', stat: INSTANCE_TIER_TOTALS.NetOutDropped },
} as const satisfies Record<string, MetricDef>;
export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** The unit each metric is published in (a request or alarm naming another unit is refused). */
export const METRIC_UNITS = Object.fromEntries(METRIC_NAMES.map((m) => [m, METRICS[m].unit])) as { [K in MetricName]: (typeof METRICS)[K]['unit'] };

export const STATISTICS = ['Minimum', 'Maximum', 'Sum', 'Average', 'SampleCount'] as const;
export type Statistic = (typeof STATISTICS)[number];
