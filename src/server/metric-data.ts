// GetInstanceMetricData with Lightsail's semantics, computed from the minutes and the 300 s and
// 3600 s tiers (store.ts, tiers.ts).
//
// Which tier answers (planPieces): the coarsest whose resolution divides the period, for every
// part of the range its buckets fit in; finer tiers fill the edges. The tiers hold exact
// Minimum/Maximum/Sum/SampleCount and minute masks, so the answer is the same whichever tier gives
// it, to floating-point rounding. Like Lightsail, a period that is not a multiple of 300 is only
// answered within the minute tier's retention (VMPULSE_RETENTION_DAYS); older than that the range
// is answered from the 300 s tier, and older than the 300 s tier's retention from the 3600 s tier,
// in whole buckets of that tier: an unaligned startTime or endTime there is rounded outward to
// 5 minutes (or to the hour). A period that is a multiple of 86400 reads whole days from the
// 86400 s tier (statistics only: its rows keep no minute masks, so status checks use the hours),
// and beyond the 3600 s tier's retention only whole days from it. Nothing else is answered for
// ranges older than the 3600 s tier's retention.
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
//   sampled minute (Samples > 0); Sum = Σ, SampleCount = minutes, Average = Sum / SampleCount,
//   Minimum / Maximum over the minutes. A minute that carries counters for seconds no reading
//   covered (Unsampled) counts too; a minute whose total is unknown (null: a TAP was unreadable)
//   does not.
// - status checks (Count, 0 or 1 per minute), over the minutes from the instance's first record
//   up to endTime and no later than `now - graceSeconds` (the current window is not shipped yet):
//   StatusCheckFailed_System = 1 when the host's agent sent no host record for that minute;
//   StatusCheckFailed_Instance = 1 when the host reported but the VM has no record for the minute
//   or its record has Samples = 0 (process not running or not sampled);
//   StatusCheckFailed = 1 when either is 1. For an agent whose windows are longer than a minute the
//   grace grows by the window's length beyond a minute (see agent-windows.ts). A VM that disappears for good keeps failing the
//   instance check while its host reports, as a stopped Lightsail instance would.
import { LightsailError } from './errors.js';
import { agentWindowDelay } from './agent-windows.js';
import { METRICS, STATISTICS, type MetricDef, type MetricName, type Statistic } from './metric-catalogue.js';
export { METRICS, STATISTICS, type MetricName, type Statistic };
import type { InstanceRow, MaskRow, SeriesTarget, StatRow, Store, Tier, TimeSeriesStore } from './store/store.js';

const STAT_KEY: Record<Statistic, 'minimum' | 'maximum' | 'sum' | 'average' | 'sampleCount'> = {
  Minimum: 'minimum',
  Maximum: 'maximum',
  Sum: 'sum',
  Average: 'average',
  SampleCount: 'sampleCount',
};

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

export interface Acc {
  min: number;
  max: number;
  sum: number;
  count: number;
}

export function addTo(acc: Map<number, Acc>, bucket: number, min: number, max: number, sum: number, count: number): void {
  const a = acc.get(bucket);
  if (!a) acc.set(bucket, { min, max, sum, count });
  else {
    if (min < a.min) a.min = min;
    if (max > a.max) a.max = max;
    a.sum += sum;
    a.count += count;
  }
}

/** A part of a range answered by one tier: [from, to), aligned to the tier except minute pieces. */
export interface Piece {
  tier: Tier;
  from: number;
  to: number;
}

const DAY = 86400;
const ceilTo = (x: number, s: number) => Math.ceil(x / s) * s;
const floorTo = (x: number, s: number) => Math.floor(x / s) * s;

/** Coarse to fine: each tier takes the whole buckets it can, finer ones the edges. */
function split(lo: number, hi: number, tiers: readonly Tier[]): Piece[] {
  if (lo >= hi) return [];
  const [t, ...finer] = tiers;
  if (finer.length === 0) return [{ tier: t!, from: lo, to: hi }];
  const a = ceilTo(lo, t!);
  const b = floorTo(hi, t!);
  if (a >= b) return split(lo, hi, finer);
  return [...split(lo, a, finer), { tier: t!, from: a, to: b }, ...split(b, hi, finer)];
}

/**
 * Which tier answers which part of [lo, hi) for a period, at time `now`, with the tiers kept
 * `days` days. Horizons are rounded up to whole hours, so pieces of two tiers never overlap.
 * `day`: the 86400 s tier may answer (statistics; never the masks, which it does not keep).
 */
export function planPieces(lo: number, hi: number, period: number, now: number, days: Record<Tier, number>, opts: { day?: boolean } = {}): Piece[] {
  // A day row holds every minute ever stored for its day, so it gives the same answer as any
  // finer tiers would, wherever it is kept: the whole days of the range come from one day-tier
  // piece (one statement, not one per finer tier's horizon), the partial days at the edges from
  // the finer tiers.
  if (opts.day === true && period % DAY === 0) {
    const a = Math.max(ceilTo(lo, DAY), ceilTo(now - days[DAY] * DAY, DAY));
    const b = floorTo(hi, DAY);
    if (a < b) return coalesce([...planPieces(lo, a, period, now, days), { tier: DAY, from: a, to: b }, ...planPieces(b, hi, period, now, days)]);
  }
  const use300 = period % 300 === 0;
  const use3600 = period % 3600 === 0;
  const coarse: Tier[] = use3600 ? [3600, 300] : [300];
  const h60 = use300 ? ceilTo(now - days[60] * DAY, 3600) : ceilTo(now - days[60] * DAY, 60);
  const out: Piece[] = split(Math.max(lo, h60), hi, [...(use3600 ? [3600 as Tier] : []), ...(use300 ? [300 as Tier] : []), 60]);
  if (lo < h60 && use300) {
    const a = floorTo(lo, 300);
    const b = Math.min(ceilTo(hi, 300), h60);
    const h300 = ceilTo(now - days[300] * DAY, 3600);
    out.push(...split(Math.max(a, h300), b, coarse));
    if (a < h300 && use3600) {
      const a2 = floorTo(a, 3600);
      const b2 = Math.min(ceilTo(b, 3600), h300);
      const h3600 = ceilTo(now - days[3600] * DAY, 3600);
      if (b2 > Math.max(a2, h3600)) out.push({ tier: 3600, from: Math.max(a2, h3600), to: b2 });
    }
  }
  return coalesce(out.filter((p) => p.from < p.to).sort((x, y) => x.from - y.from));
}

/** Adjacent pieces of one tier (either side of a finer tier's horizon) as one: one statement each. */
function coalesce(pieces: Piece[]): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    const last = out[out.length - 1];
    if (last && last.tier === p.tier && last.to === p.from) out[out.length - 1] = { tier: p.tier, from: last.from, to: p.to };
    else out.push(p);
  }
  return out;
}

const popcount = (x: number): number => {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};

export interface StatusCounts {
  /** Minutes judged, and those failing each check. */
  minutes: number;
  system: number;
  instance: number;
  any: number;
}

/**
 * Status checks of one tier bucket [t, t + tier) restricted to [first, last): a minute fails the
 * system check when its host sent no record, the instance check when the host did and the VM was
 * not sampled.
 */
export function statusOf(t: number, tier: Tier, host: MaskRow | undefined, vm: MaskRow | undefined, first: number, last: number): StatusCounts {
  const n = tier / 60;
  let lo = 0;
  let hi = 0;
  if (t >= first && t + tier <= last) {
    lo = n >= 30 ? 0x3fffffff : (1 << n) - 1;
    hi = n > 30 ? (1 << (n - 30)) - 1 : 0;
  } else {
    for (let k = 0; k < n; k++) {
      const m = t + 60 * k;
      if (m < first || m >= last) continue;
      if (k < 30) lo |= 1 << k;
      else hi |= 1 << (k - 30);
    }
  }
  const hl = (host?.lo ?? 0) & lo;
  const hh = (host?.hi ?? 0) & hi;
  const bl = hl & (vm?.lo ?? 0);
  const bh = hh & (vm?.hi ?? 0);
  const minutes = popcount(lo) + popcount(hi);
  const h = popcount(hl) + popcount(hh);
  const b = popcount(bl) + popcount(bh);
  return { minutes, system: minutes - h, instance: h - b, any: minutes - b };
}

/** StatusCheckFailed counts per period bucket, from whichever tiers planPieces picks. */
export async function statusBuckets(
  ts: TimeSeriesStore,
  target: Required<SeriesTarget>,
  pieces: readonly Piece[],
  period: number,
  first: number,
  last: number,
): Promise<Map<number, StatusCounts[]>> {
  const out = new Map<number, StatusCounts[]>();
  for (const p of pieces) {
    const from = Math.max(p.from, floorTo(first, p.tier));
    const to = Math.min(p.to, last);
    if (from >= to) continue;
    const [hostRows, vmRows] = await Promise.all([ts.maskRows({ agentId: target.agentId }, p.tier, from, to), ts.maskRows(target, p.tier, from, to)]);
    const host = new Map(hostRows.map((r) => [Number(r.t), r]));
    const vm = new Map(vmRows.map((r) => [Number(r.t), r]));
    const lo = Math.max(first, p.from);
    const hi = Math.min(last, p.to);
    for (let t = floorTo(from, p.tier); t < to; t += p.tier) {
      const c = statusOf(t, p.tier, host.get(t), vm.get(t), lo, hi);
      if (c.minutes === 0) continue;
      const b = floorTo(t, period);
      let list = out.get(b);
      if (!list) out.set(b, (list = []));
      list.push(c);
    }
  }
  return out;
}

/**
 * The datapoints of statRows answers, one list per piece: pieces are in time order and never
 * overlap, each list ascends, so buckets arrive in non-decreasing order and equal ones are
 * adjacent — one pass, no map, no sort (the per-datapoint allocations were most of a long
 * answer's time after the SQL). Adds in the same order as addTo would.
 */
function mergeInOrder(parts: readonly StatRow[][], period: number, unit: string, stats: readonly Statistic[]): Datapoint[] {
  const out: Datapoint[] = [];
  let b = NaN;
  let min = 0;
  let max = 0;
  let sum = 0;
  let count = 0;
  const flush = () => {
    const d: Datapoint = { timestamp: b, unit };
    for (const s of stats) d[STAT_KEY[s]] = s === 'Minimum' ? min : s === 'Maximum' ? max : s === 'Sum' ? sum : s === 'SampleCount' ? count : sum / count;
    out.push(d);
  };
  for (const rows of parts) {
    for (const r of rows) {
      const t = floorTo(r.t, period);
      if (t === b) {
        if (r.min < min) min = r.min;
        if (r.max > max) max = r.max;
        sum += r.sum;
        count += r.count;
        continue;
      }
      if (t < b) throw new Error(`statRows out of order: ${t} after ${b}`);
      if (!Number.isNaN(b)) flush();
      b = t;
      min = r.min;
      max = r.max;
      sum = r.sum;
      count = r.count;
    }
  }
  if (!Number.isNaN(b)) flush();
  return out;
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
  const now = req.now ?? Date.now() / 1000;
  // Minutes whose start lies in [startTime, endTime) count; the first bucket starts at the aligned start.
  const lo = Math.ceil(req.startTime / 60) * 60;
  const hi = v.to;
  // Status checks come from minute masks, which the day tier does not keep (schema.ts).
  const pieces = planPieces(lo, hi, period, now, store.retentionDays);
  const dayPieces = def.kind === 'status' ? pieces : planPieces(lo, hi, period, now, store.retentionDays, { day: true });
  const target = { agentId: inst.agentId, instanceId: inst.instanceId };
  const acc = new Map<number, Acc>();

  if (def.kind !== 'status') {
    const parts = await Promise.all(dayPieces.map((p) => store.statRows(target, p.tier, p.from, p.to, def.stat, def.kind, period)));
    return { metricName: v.metricName, datapoints: mergeInOrder(parts, period, def.unit, v.stats) };
  } else {
    // An agent with windows longer than a minute delivers its newest minutes up to a window late.
    const grace = (req.graceSeconds ?? 120) + agentWindowDelay(store, inst.agentId);
    const last = Math.min(hi, Math.floor((now - grace) / 60) * 60 + 60);
    const first = Math.max(lo, inst.firstMinute ?? Infinity);
    if (first < last) {
      const buckets = await statusBuckets(store, target, pieces, period, first, last);
      for (const [b, list] of buckets) {
        for (const c of list) {
          const failed = def.check === 'system' ? c.system : def.check === 'instance' ? c.instance : c.any;
          addTo(acc, b, failed === c.minutes ? 1 : 0, failed > 0 ? 1 : 0, failed, c.minutes);
        }
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

