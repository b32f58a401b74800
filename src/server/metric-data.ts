// GetInstanceMetricData with Lightsail's semantics, computed from the per-minute records.
//
// Buckets: the start time is rounded down to a multiple of `period` (epoch-aligned, as CloudWatch
// does), and each datapoint covers [timestamp, timestamp + period) ∩ [startTime, endTime).
// Buckets with no data produce no datapoint. At most 1,440 buckets may be requested.
//
// Statistics per metric kind:
// - gauges (CPUUtilization, MemoryUtilization, CPUStealPercent; Percent): from each minute's Agg,
//   Minimum = min of Min, Maximum = max of Max, Sum = ΣSum, SampleCount = ΣCount (samples),
//   Average = ΣSum / ΣCount — the mean over samples, never a mean of minute means.
// - byte totals (NetworkIn, NetworkOut, DiskReadBytes, DiskWriteBytes; Bytes): one value per
//   sampled minute (Samples > 0) whose total was measured (not null); Sum = Σ, SampleCount = minutes, Average = Sum / SampleCount,
//   Minimum / Maximum over the minutes.
// - status checks (Count, 0 or 1 per minute), over the minutes from the instance's first record
//   up to endTime and no later than `now - graceSeconds` (the current window is not shipped yet):
//   StatusCheckFailed_System = 1 when the host's agent sent no host record for that minute;
//   StatusCheckFailed_Instance = 1 when the host reported but the VM has no record for the minute
//   or its record has Samples = 0 (process not running or not sampled);
//   StatusCheckFailed = 1 when either is 1. A VM that disappears for good keeps failing the
//   instance check while its host reports, as a stopped Lightsail instance would.
import { LightsailError } from './errors.js';
import { INSTANCE_AGGS } from './store/schema.js';
import type { InstanceRow, Store } from './store/store.js';

export const STATISTICS = ['Minimum', 'Maximum', 'Sum', 'Average', 'SampleCount'] as const;
export type Statistic = (typeof STATISTICS)[number];
const STAT_KEY: Record<Statistic, 'minimum' | 'maximum' | 'sum' | 'average' | 'sampleCount'> = {
  Minimum: 'minimum',
  Maximum: 'maximum',
  Sum: 'sum',
  Average: 'average',
  SampleCount: 'sampleCount',
};

type MetricDef =
  | { kind: 'gauge'; unit: 'Percent'; agg: string }
  | { kind: 'total'; unit: 'Bytes'; column: string }
  | { kind: 'status'; unit: 'Count'; check: 'any' | 'instance' | 'system' };

export const METRICS = {
  CPUUtilization: { kind: 'gauge', unit: 'Percent', agg: INSTANCE_AGGS.CPU },
  MemoryUtilization: { kind: 'gauge', unit: 'Percent', agg: INSTANCE_AGGS.MemoryUtilization },
  CPUStealPercent: { kind: 'gauge', unit: 'Percent', agg: INSTANCE_AGGS.Steal },
  NetworkIn: { kind: 'total', unit: 'Bytes', column: 'net_in' },
  NetworkOut: { kind: 'total', unit: 'Bytes', column: 'net_out' },
  DiskReadBytes: { kind: 'total', unit: 'Bytes', column: 'disk_read' },
  DiskWriteBytes: { kind: 'total', unit: 'Bytes', column: 'disk_write' },
  StatusCheckFailed: { kind: 'status', unit: 'Count', check: 'any' },
  StatusCheckFailed_Instance: { kind: 'status', unit: 'Count', check: 'instance' },
  StatusCheckFailed_System: { kind: 'status', unit: 'Count', check: 'system' },
} as const satisfies Record<string, MetricDef>;
export type MetricName = keyof typeof METRICS;

export const MAX_DATAPOINTS = 1440;

export interface MetricDataRequest {
  /** Instance id; with agentId when the same id exists on more than one host. */
  instanceId: string;
  agentId?: string;
  metricName: string;
  period: number;
  /** Unix seconds. */
  startTime: number;
  endTime: number;
  unit: string;
  statistics: readonly string[];
  /** Status checks ignore minutes newer than now − graceSeconds (default 120). */
  now?: number;
  graceSeconds?: number;
}

export interface Datapoint {
  /** Unix seconds of the bucket start. */
  timestamp: number;
  unit: string;
  minimum?: number;
  maximum?: number;
  sum?: number;
  average?: number;
  sampleCount?: number;
}

export interface MetricDataResult {
  metricName: MetricName;
  datapoints: Datapoint[];
}

const invalid = (m: string) => new LightsailError('InvalidInputException', m);

/** Parses epoch seconds (number or numeric string) or an ISO 8601 date into unix seconds. */
export function parseTime(v: unknown, name: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '') {
    const s = v.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    const t = Date.parse(s);
    if (Number.isFinite(t)) return t / 1000;
  }
  throw invalid(`${name} must be epoch seconds or an ISO 8601 date`);
}

interface Validated {
  def: MetricDef;
  metricName: MetricName;
  stats: Statistic[];
  from: number;
  to: number;
}

export function validateRequest(r: Omit<MetricDataRequest, 'instanceId'>): Validated {
  if (typeof r.metricName !== 'string' || !Object.hasOwn(METRICS, r.metricName)) {
    throw invalid(`metricName must be one of ${Object.keys(METRICS).join(', ')}`);
  }
  const metricName = r.metricName as MetricName;
  const def: MetricDef = METRICS[metricName];
  if (!Number.isInteger(r.period) || r.period < 60 || r.period > 86400 || r.period % 60 !== 0) {
    throw invalid('period must be an integer number of seconds from 60 to 86400 and a multiple of 60');
  }
  if (!Number.isFinite(r.startTime) || !Number.isFinite(r.endTime)) throw invalid('startTime and endTime are required');
  if (r.endTime <= r.startTime) throw invalid('endTime must be after startTime');
  if (r.unit !== def.unit) throw invalid(`unit ${JSON.stringify(r.unit)} is not valid for ${metricName}: its published unit is ${def.unit}`);
  if (!Array.isArray(r.statistics) || r.statistics.length === 0) throw invalid('statistics must name at least one of Minimum, Maximum, Sum, Average, SampleCount');
  const stats: Statistic[] = [];
  for (const s of r.statistics) {
    if (!(STATISTICS as readonly string[]).includes(s)) throw invalid(`statistic ${JSON.stringify(s)} is not one of ${STATISTICS.join(', ')}`);
    if (!stats.includes(s as Statistic)) stats.push(s as Statistic);
  }
  const from = Math.floor(r.startTime / r.period) * r.period;
  const to = Math.ceil(r.endTime);
  const buckets = Math.ceil((to - from) / r.period);
  if (buckets > MAX_DATAPOINTS) {
    throw invalid(`the request spans ${buckets} datapoints; at most ${MAX_DATAPOINTS} are returned per call (raise period or shorten the range)`);
  }
  return { def, metricName, stats, from, to };
}

interface Acc {
  min: number;
  max: number;
  sum: number;
  count: number;
}

function add(acc: Map<number, Acc>, bucket: number, min: number, max: number, sum: number, count: number): void {
  const a = acc.get(bucket);
  if (!a) acc.set(bucket, { min, max, sum, count });
  else {
    if (min < a.min) a.min = min;
    if (max > a.max) a.max = max;
    a.sum += sum;
    a.count += count;
  }
}

/** Which stored instance a request means: an id, unique across hosts unless agentId narrows it. */
export async function resolveInstanceId(store: Store, instanceId: string, agentId?: string): Promise<InstanceRow> {
  const rows = (await store.findInstances({ id: instanceId })).filter((r) => agentId === undefined || r.agentId === agentId);
  if (rows.length === 0) throw new LightsailError('NotFoundException', `no instance with id ${JSON.stringify(instanceId)}`);
  if (rows.length > 1) throw invalid(`instance id ${JSON.stringify(instanceId)} exists on ${rows.length} hosts (${rows.map((r) => r.agentId).join(', ')}); name the host`);
  return rows[0]!;
}

export async function getMetricData(store: Store, req: MetricDataRequest): Promise<MetricDataResult> {
  const v = validateRequest(req);
  const inst = await resolveInstanceId(store, req.instanceId, req.agentId);
  return computeMetricData(store, inst, req, v);
}

/** As getMetricData, for an instance already resolved (the routes resolve ids and names first). */
export async function getMetricDataFor(store: Store, inst: InstanceRow, req: Omit<MetricDataRequest, 'instanceId'>): Promise<MetricDataResult> {
  return computeMetricData(store, inst, req, validateRequest(req));
}

async function computeMetricData(store: Store, inst: InstanceRow, req: Omit<MetricDataRequest, 'instanceId'>, v: Validated): Promise<MetricDataResult> {
  const def = v.def;
  const period = req.period;
  // Minutes whose start lies in [startTime, endTime) count; the first bucket starts at the aligned start.
  const lo = Math.ceil(req.startTime / 60) * 60;
  const hi = v.to;
  const bucketOf = (minute: number) => Math.floor(minute / period) * period;
  const acc = new Map<number, Acc>();

  if (def.kind === 'gauge') {
    const cols = ['min', 'max', 'sum', 'count'].map((p) => `${def.agg}_${p}`);
    const rows = await store.instanceMinutes(inst.agentId, inst.instanceId, lo, hi, cols);
    for (const r of rows) {
      const count = r[cols[3]!];
      if (count === null || count === undefined || count <= 0) continue;
      add(acc, bucketOf(r.minute!), r[cols[0]!]!, r[cols[1]!]!, r[cols[2]!]!, count);
    }
  } else if (def.kind === 'total') {
    const rows = await store.instanceMinutes(inst.agentId, inst.instanceId, lo, hi, [def.column, 'samples']);
    for (const r of rows) {
      const x = r[def.column];
      // A minute whose total was not measured (a TAP unreadable: null) has no value, not 0.
      if (!r.samples || x === null || x === undefined) continue;
      add(acc, bucketOf(r.minute!), x, x, x, 1);
    }
  } else {
    const now = req.now ?? Date.now() / 1000;
    const last = Math.min(hi, Math.floor((now - (req.graceSeconds ?? 120)) / 60) * 60 + 60);
    const first = Math.max(lo, inst.firstMinute ?? Infinity);
    if (first < last) {
      const hostMinutes = new Set(await store.hostMinuteSet(inst.agentId, first, last));
      const sampled = new Set<number>();
      for (const r of await store.instanceMinutes(inst.agentId, inst.instanceId, first, last, ['samples'])) if (r.samples) sampled.add(r.minute!);
      for (let m = first; m < last; m += 60) {
        const system = hostMinutes.has(m) ? 0 : 1;
        const instance = system === 0 && !sampled.has(m) ? 1 : 0;
        const x = def.check === 'system' ? system : def.check === 'instance' ? instance : system | instance;
        add(acc, bucketOf(m), x, x, x, 1);
      }
    }
  }

  const datapoints: Datapoint[] = [...acc.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, a]) => {
      const d: Datapoint = { timestamp, unit: def.unit };
      for (const s of v.stats) {
        const k = STAT_KEY[s];
        d[k] = s === 'Minimum' ? a.min : s === 'Maximum' ? a.max : s === 'Sum' ? a.sum : s === 'SampleCount' ? a.count : a.sum / a.count;
      }
      return d;
    });
  return { metricName: v.metricName, datapoints };
}

