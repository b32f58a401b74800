// A host's history in the HetrixTools v3 style: one point per interval (1m, 1h or 1d) with
// snake_case fields — cpu, ram, disk, load_1, iowait (averages over the interval's samples, percent
// or load) and net_in, net_out (bytes over the interval) — answered from the tiers exactly as
// GetInstanceMetricData is (planPieces; 1d from the day tier for whole days). An interval with no
// host record has no point; a field with no data in a point is null.
import { ApiError } from './errors.js';
import { addTo, planPieces, type Acc } from './metric-data.js';
import { HOST_TIER_GAUGES, HOST_TIER_TOTALS } from './store/schema.js';
import type { StatKind, TimeSeriesStore } from './store/store.js';

export const INTERVALS = { '1m': 60, '1h': 3600, '1d': 86400 } as const;
export type Interval = keyof typeof INTERVALS;
export const MAX_POINTS = 1440;

const FIELDS: readonly { name: string; stat: string; kind: StatKind }[] = [
  { name: 'cpu', stat: HOST_TIER_GAUGES.CPU, kind: 'gauge' },
  { name: 'ram', stat: HOST_TIER_GAUGES.RAM, kind: 'gauge' },
  { name: 'disk', stat: HOST_TIER_GAUGES.Disk, kind: 'gauge' },
  { name: 'load_1', stat: HOST_TIER_GAUGES.Load1, kind: 'gauge' },
  { name: 'iowait', stat: HOST_TIER_GAUGES.IOWait, kind: 'gauge' },
  { name: 'net_in', stat: HOST_TIER_TOTALS.NetIn, kind: 'total' },
  { name: 'net_out', stat: HOST_TIER_TOTALS.NetOut, kind: 'total' },
];

export interface HistoryPoint {
  timestamp: number;
  [field: string]: number | null;
}

/** Unix seconds, or an ISO 8601 date; `undefined` when absent. */
function timeParam(v: unknown, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return Math.floor(Number(s));
    const t = Date.parse(s);
    if (Number.isFinite(t)) return Math.floor(t / 1000);
  }
  throw new ApiError(400, 'invalid_parameter', `${name} must be unix seconds or an ISO 8601 date`, { field: name });
}

export interface HistoryQuery {
  interval: Interval;
  from: number;
  to: number;
}

/** Validates ?from=&to=&interval= (defaults: interval 1h, to now, from one day (1m: one hour; 1d: 30 days) before to). */
export function parseHistoryQuery(q: Record<string, unknown>, now: number): HistoryQuery {
  const iv = q.interval === undefined ? '1h' : q.interval;
  if (typeof iv !== 'string' || !Object.hasOwn(INTERVALS, iv)) throw new ApiError(400, 'invalid_parameter', 'interval must be 1m, 1h or 1d', { field: 'interval' });
  const interval = iv as Interval;
  const step = INTERVALS[interval];
  const to = timeParam(q.to, 'to') ?? now;
  const from = timeParam(q.from, 'from') ?? to - (interval === '1m' ? 3600 : interval === '1h' ? 86400 : 30 * 86400);
  if (to <= from) throw new ApiError(400, 'invalid_parameter', 'to must be after from', { field: 'to' });
  const points = Math.ceil((to - Math.floor(from / step) * step) / step);
  if (points > MAX_POINTS) throw new ApiError(400, 'invalid_parameter', `the range spans ${points} points of ${interval}; at most ${MAX_POINTS} are returned (raise interval or shorten the range)`, { field: 'from' });
  return { interval, from, to };
}

export async function hostHistory(ts: TimeSeriesStore, agentId: string, q: HistoryQuery, now: number): Promise<HistoryPoint[]> {
  const step = INTERVALS[q.interval];
  const lo = Math.ceil(q.from / 60) * 60;
  const pieces = planPieces(lo, q.to, step, now, ts.retentionDays);
  // Whole days of 1d come from the day tier (one row per day instead of 24 hour rows per field;
  // planPieces plans day pieces only for periods of whole days); which days have a point still
  // comes from the hours' masks, which day rows do not keep.
  const statPieces = planPieces(lo, q.to, step, now, ts.retentionDays, { day: true });
  const target = { agentId };
  const perField = await Promise.all(
    FIELDS.map(async (f) => {
      const acc = new Map<number, Acc>();
      const parts = await Promise.all(statPieces.map((p) => ts.statRows(target, p.tier, p.from, p.to, f.stat, f.kind, step)));
      for (const rows of parts) for (const r of rows) addTo(acc, Math.floor(Number(r.t) / step) * step, Number(r.min), Number(r.max), Number(r.sum), Number(r.count));
      return acc;
    }),
  );
  // A point per interval that has a host record: the host's minute masks say which.
  const present = new Set<number>();
  const masks = await Promise.all(pieces.map((p) => ts.maskRows(target, p.tier, p.from, p.to)));
  for (const rows of masks) for (const r of rows) if (Number(r.lo) || Number(r.hi)) present.add(Math.floor(Number(r.t) / step) * step);
  return [...present]
    .sort((a, b) => a - b)
    .map((timestamp) => {
      const p: HistoryPoint = { timestamp };
      FIELDS.forEach((f, i) => {
        const a = perField[i]!.get(timestamp);
        p[f.name] = a ? (f.kind === 'gauge' ? a.sum / a.count : a.sum) : null;
      });
      return p;
    });
}
