// Alarm data for a store whose time series are not in its SQL database (VictoriaMetrics,
// store/victoria.ts): the set-based query (bulk-source.ts) cannot join instances to their minutes
// there, so each matched instance is read through GetInstanceMetricData, a few at a time. The
// values are then GetInstanceMetricData's by construction; a pass costs one query per instance and
// alarm, which is what limits such a fleet's evaluation.
import { getMetricDataFor } from '../metric-data.js';
import type { InstanceRow, Store } from '../store/store.js';
import { fromInstances, type AlarmWindow, type BulkSource, type JudgedInstance } from './bulk-source.js';
import { selectTargets } from './selector.js';
import { METRIC_UNITS, type AlarmDefinition, type TargetInstance } from './types.js';

const STAT_FIELD = { Minimum: 'minimum', Maximum: 'maximum', Sum: 'sum', Average: 'average', SampleCount: 'sampleCount' } as const;

/** The latest row per instance id (a migrated VM is stored under both hosts), in listInstances order. */
function latestPerInstance(rows: readonly InstanceRow[]): Map<string, InstanceRow> {
  const out = new Map<string, InstanceRow>();
  for (const r of rows) {
    const had = out.get(r.instanceId);
    if (!had || r.lastSeen > had.lastSeen) out.set(r.instanceId, r);
  }
  return out;
}

const target = (r: InstanceRow): TargetInstance => ({ instanceId: r.instanceId, name: r.name, agentId: r.agentId, hostname: r.hostname, hypervisor: r.hypervisor, lastSeen: r.lastSeen });

export function instanceSource(store: Store, opts: { concurrency?: number } = {}): BulkSource {
  const concurrency = opts.concurrency ?? 8;
  const matched = async (def: AlarmDefinition) => {
    const rows = latestPerInstance(await store.listInstances());
    return { rows, targets: selectTargets(def, [...rows.values()].map(target)) };
  };
  async function judge(def: AlarmDefinition, w: AlarmWindow): Promise<JudgedInstance[]> {
    const { rows, targets } = await matched(def);
    const live = targets.filter((t) => w.now - t.lastSeen <= w.goneAfter);
    const n = Math.round((w.end - w.start) / def.period);
    const out: JudgedInstance[] = live.map((t) => ({ instanceId: t.instanceId, name: t.name, agentId: t.agentId, values: new Array(n).fill(null) }));
    let next = 0;
    const worker = async () => {
      while (next < out.length) {
        const j = out[next++]!;
        const res = await getMetricDataFor(store, rows.get(j.instanceId)!, {
          metricName: def.metricName,
          period: def.period,
          startTime: w.start,
          endTime: w.end,
          unit: METRIC_UNITS[def.metricName],
          statistics: [def.statistic],
          now: w.now,
          graceSeconds: w.lagSeconds,
        });
        for (const d of res.datapoints) {
          const v = d[STAT_FIELD[def.statistic]];
          const k = Math.round((d.timestamp - w.start) / def.period);
          if (typeof v === 'number' && Number.isFinite(v) && k >= 0 && k < n) j.values[k] = v;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, out.length)) }, worker));
    return out;
  }
  return {
    judge,
    async judgeAll(jobs) {
      const out = [];
      for (const j of jobs) out.push(fromInstances(await judge(j.def, j.w), Math.round((j.w.end - j.w.start) / j.def.period)));
      return out;
    },

    async stillMatched(def, ids) {
      const { targets } = await matched(def);
      const want = new Set(ids);
      return new Set(targets.map((t) => t.instanceId).filter((id) => want.has(id)));
    },

    async fleetMinutes(from, to) {
      const out = new Set<number>();
      for (const a of await store.listAgents()) for (const m of await store.hostMinuteSet(a.agentId, from, to)) out.add(Math.floor(m / 60) * 60);
      return out;
    },
  };
}
