// Where the evaluator gets instances and datapoints. The evaluator depends on this small interface
// only; storeDataSource() implements it with the server's Store and its GetInstanceMetricData, so
// alarm values are exactly what the Lightsail API returns for the same window.
import { getMetricDataFor } from '../metric-data.js';
import type { InstanceRow, Store } from '../store/store.js';
import { METRIC_UNITS, type AlarmMetric, type Statistic, type TargetInstance } from './types.js';

export interface SeriesQuery {
  metricName: AlarmMetric;
  statistic: Statistic;
  period: number;
  /** Unix seconds; [startTime, endTime) is a whole number of periods, aligned. */
  startTime: number;
  endTime: number;
  /** Evaluation time (unix seconds) and the ingest lag: status checks judge no minute newer than now − lag. */
  now: number;
  lagSeconds: number;
}

export interface AlarmDataSource {
  listInstances(): Promise<TargetInstance[]>;
  /** For each instance: value per period start (unix seconds); absent periods are missing. */
  series(instances: readonly TargetInstance[], q: SeriesQuery): Promise<Map<string, Map<number, number>>>;
}

const STAT_FIELD = { Minimum: 'minimum', Maximum: 'maximum', Sum: 'sum', Average: 'average', SampleCount: 'sampleCount' } as const;

/** The same instance id can be stored under two hosts (a migrated VM): the latest-seen row stands for it. */
export function latestPerInstance(rows: readonly InstanceRow[]): Map<string, InstanceRow> {
  const out = new Map<string, InstanceRow>();
  for (const r of rows) {
    const had = out.get(r.instanceId);
    if (!had || r.lastSeen > had.lastSeen) out.set(r.instanceId, r);
  }
  return out;
}

export function storeDataSource(store: Store, opts: { concurrency?: number } = {}): AlarmDataSource {
  let rows = new Map<string, InstanceRow>();
  const concurrency = opts.concurrency ?? (store.engine === 'postgres' ? 16 : 1);
  return {
    async listInstances() {
      rows = latestPerInstance(await store.listInstances());
      return [...rows.values()].map((r) => ({
        instanceId: r.instanceId,
        name: r.name,
        agentId: r.agentId,
        hostname: r.hostname,
        hypervisor: r.hypervisor,
        lastSeen: r.lastSeen,
      }));
    },
    async series(instances, q) {
      const out = new Map<string, Map<number, number>>();
      const field = STAT_FIELD[q.statistic];
      let next = 0;
      const worker = async () => {
        while (next < instances.length) {
          const t = instances[next++]!;
          const row = rows.get(t.instanceId);
          const m = new Map<number, number>();
          out.set(t.instanceId, m);
          if (!row) continue;
          const res = await getMetricDataFor(store, row, {
            metricName: q.metricName,
            period: q.period,
            startTime: q.startTime,
            endTime: q.endTime,
            unit: METRIC_UNITS[q.metricName],
            statistics: [q.statistic],
            now: q.now,
            graceSeconds: q.lagSeconds,
          });
          for (const d of res.datapoints) {
            const v = d[field];
            if (typeof v === 'number' && Number.isFinite(v)) m.set(d.timestamp, v);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, instances.length)) }, worker));
      return out;
    },
  };
}
