// The VM page's time ranges and the GetInstanceMetricData period each one asks for, shared by the
// server (which computes the range) and the browser (which offers the buttons). Every period is one
// Lightsail allows (a multiple of 60 from 60 to 86400) and keeps a range at most 1,440 datapoints;
// the long ranges use the 3600 s and 86400 s periods that the 300 s / 3600 s tiers will serve.
export const RANGES = {
  '1h': { label: '1 hour', seconds: 3600, period: 60 },
  '6h': { label: '6 hours', seconds: 6 * 3600, period: 60 },
  '1d': { label: '1 day', seconds: 86400, period: 300 },
  '1w': { label: '1 week', seconds: 7 * 86400, period: 3600 },
  '1mo': { label: '30 days', seconds: 30 * 86400, period: 3600 },
  '1y': { label: '1 year', seconds: 365 * 86400, period: 86400 },
} as const;
export type RangeKey = keyof typeof RANGES;
export const RANGE_KEYS = Object.keys(RANGES) as RangeKey[];

/** The metrics a VM page charts, with the unit GetInstanceMetricData publishes for each. */
export const VM_METRICS = [
  { name: 'CPUUtilization', unit: 'Percent', title: 'CPU utilization' },
  { name: 'CPUStealPercent', unit: 'Percent', title: 'CPU steal' },
  { name: 'MemoryUtilization', unit: 'Percent', title: 'Memory utilization' },
  { name: 'NetworkIn', unit: 'Bytes', title: 'Network in' },
  { name: 'NetworkOut', unit: 'Bytes', title: 'Network out' },
  { name: 'DiskReadBytes', unit: 'Bytes', title: 'Disk read' },
  { name: 'DiskWriteBytes', unit: 'Bytes', title: 'Disk write' },
  { name: 'NetworkPacketsIn', unit: 'Count', title: 'Packets in' },
  { name: 'NetworkPacketsOut', unit: 'Count', title: 'Packets out' },
  { name: 'NetworkErrorsIn', unit: 'Count', title: 'Network errors in' },
  { name: 'NetworkErrorsOut', unit: 'Count', title: 'Network errors out' },
  { name: 'NetworkDropsIn', unit: 'Count', title: 'Network drops in' },
  { name: 'NetworkDropsOut', unit: 'Count', title: 'Network drops out' },
  { name: 'StatusCheckFailed', unit: 'Count', title: 'Status check failed' },
] as const;

export const STATISTICS = ['Average', 'Maximum', 'Minimum', 'Sum', 'SampleCount'] as const;
export type ConsoleStatistic = (typeof STATISTICS)[number];

/** [startTime, endTime) in unix seconds for a range ending with the current minute. */
export function rangeBounds(key: RangeKey, nowS: number): { startTime: number; endTime: number; period: number } {
  const r = RANGES[key];
  const endTime = Math.floor(nowS / 60) * 60 + 60;
  return { startTime: endTime - r.seconds, endTime, period: r.period };
}

/** A host or VM whose agent sent nothing for this long is shown as silent. */
export const SILENT_AFTER_S = 180;
