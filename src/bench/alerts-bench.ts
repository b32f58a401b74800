// One alarm evaluation pass over a fleet: 10,000 instances (100 hosts × 100 VMs) and 5 fleet-wide
// alarms, on SQLite and on PostgreSQL, with per-minute data ingested through the server's store.
//
//   node dist/src/bench/alerts-bench.js [--instances 10000] [--minutes 20] [--engines sqlite,postgres] [--json] [--reference] [--profile DIR]
//
// --profile DIR writes the CPU profile of each pass (DIR/<engine>-cold.cpuprofile, -steady2, -steady3).
//
// --json prints one JSON object: per engine { steady_ms, cold_ms, ... } (wall time of the pass) and
// steady_cpu_ms / cold_cpu_ms (this process's CPU time: on SQLite all of the work, on PostgreSQL
// without the database's), and load1: the machine's 1-minute load average when the passes ran
// (wall times on a loaded machine are that much longer; CPU times are steadier). --reference also times, in the same run and on the same data, the
// per-instance path the evaluator used before (GetInstanceMetricData once per VM and alarm, then
// evaluate()), reads and decisions only: reference_ms and the ratio reference_ms / steady_ms.
// PostgreSQL: a throwaway database on VMPULSE_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres,
// trust auth), created and dropped by this program. Pass 1 is cold (every instance is new: 50,000
// state rows are written); pass 2 is the steady state (same window, no transitions).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ulid } from 'ulid';
import { Evaluator, type PassStats } from '../server/alerts/evaluator.js';
import { builtinAlarms } from '../server/alerts/service.js';
import { alarmSource } from '../server/alerts/alarm-source.js';
import { evaluate } from '../server/alerts/evaluate.js';
import { selectTargets } from '../server/alerts/selector.js';
import { METRIC_UNITS, type AlarmDefinition } from '../server/alerts/types.js';
import { getMetricDataFor } from '../server/metric-data.js';
import type { InstanceRow, Store } from '../server/store/store.js';
import { parseAlarm } from '../server/alerts/validate.js';
import { openStore } from '../server/store/store.js';
import { profiler } from './profile.js';
import type { Agg, Payload } from '../ship/payload.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

const INSTANCES = Number(arg('instances', '10000'));
const MINUTES = Number(arg('minutes', '20'));
const ENGINES = arg('engines', 'sqlite,postgres').split(',');
const JSON_OUT = process.argv.includes('--json');
const REFERENCE = process.argv.includes('--reference');
const PROFILE_DIR = arg('profile', '') || null;

const STAT_FIELD = { Minimum: 'minimum', Maximum: 'maximum', Sum: 'sum', Average: 'average', SampleCount: 'sampleCount' } as const;

/** The per-instance path the evaluator had before set-based evaluation: reads and decisions of one pass. */
async function referencePass(store: Store, defs: AlarmDefinition[], nowMs: number): Promise<number> {
  const t0 = performance.now();
  const rows = new Map<string, InstanceRow>();
  for (const r of await store.listInstances()) {
    const had = rows.get(r.instanceId);
    if (!had || r.lastSeen > had.lastSeen) rows.set(r.instanceId, r);
  }
  const instances = [...rows.values()].map((r) => ({ instanceId: r.instanceId, name: r.name, agentId: r.agentId, hostname: r.hostname, hypervisor: r.hypervisor, lastSeen: r.lastSeen }));
  const now = nowMs / 1000;
  for (const def of defs) {
    const end = Math.floor(now / def.period) * def.period;
    const start = end - def.evaluationPeriods * def.period;
    const live = selectTargets(def, instances).filter((t) => now - t.lastSeen <= def.evaluationPeriods * def.period + 3600);
    let next = 0;
    const worker = async () => {
      while (next < live.length) {
        const t = live[next++]!;
        const res = await getMetricDataFor(store, rows.get(t.instanceId)!, { metricName: def.metricName, period: def.period, startTime: start, endTime: end, unit: METRIC_UNITS[def.metricName], statistics: [def.statistic], now, graceSeconds: 0 });
        const byTs = new Map(res.datapoints.map((d) => [d.timestamp, d[STAT_FIELD[def.statistic]] ?? null]));
        evaluate(def, Array.from({ length: def.evaluationPeriods }, (_, k) => byTs.get(start + k * def.period) ?? null), 'OK');
      }
    };
    await Promise.all(Array.from({ length: store.engine === 'postgres' ? 16 : 1 }, worker));
  }
  return performance.now() - t0;
}
const PER_HOST = 100;
const HOSTS = Math.ceil(INSTANCES / PER_HOST);
const PG_URL = process.env.VMPULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const agg = (v: number): Agg => ({ Avg: v, Min: v, Max: v, Sum: v * 12, Count: 12 });

function hostBatch(h: number, minutes: number[], createdAt: number): Payload {
  const agentId = `agent-${h}`;
  return {
    Version: 1,
    BatchID: ulid(),
    AgentID: agentId,
    AgentVersion: 'bench',
    Hostname: `hv${h}.bench`,
    OperatingSystem: 'Linux',
    Kernel: '6.1',
    CPUModel: 'bench',
    CPUSpeed: 3000,
    CPUCores: 64,
    RAM: 256 * 2 ** 30,
    Swap: 0,
    SystemUptime: 1000,
    CreatedAt: createdAt,
    Disks: [],
    NetworkInterfaces: [],
    Stats: minutes.map((m) => ({
      Minute: m, Seconds: 60, Samples: 12, CPU: agg(30), IOWait: agg(1), Steal: null, RAM: agg(50), Swap: agg(0),
      Load1: agg(1), Load5: agg(1), Load15: agg(1), Disk: agg(40), NetIn: 1e6, NetOut: 1e6,
    })),
    Instances: Array.from({ length: Math.min(PER_HOST, INSTANCES - h * PER_HOST) }, (_, v) => {
      const id = `vm-${h}-${v}`;
      // A few VMs per host are pegged, so the CPU alarm has real transitions to write.
      const cpu = v % 20 === 0 ? 99 : 10 + (v % 50);
      return {
        InstanceID: id, InstanceName: `web-${h}-${v}`, Hypervisor: 'qemu' as const, PID: 1000 + v, StartTime: 1, AllocatedVcpus: 2,
        AllocatedMemoryBytes: 4 * 2 ** 30, TapDevices: [`tap${v}`], Running: true, Counters: null,
        Stats: minutes.map((m) => ({
          Minute: m, Seconds: 60, Samples: 12, Missed: 0, CPU: agg(cpu), CPUCore: agg(cpu * 2), CPUUser: agg(cpu), CPUSystem: agg(1),
          VcpuBusy: agg(cpu), Steal: agg(0.5), MemoryRSS: agg(2 ** 30), MemorySwap: null, MemoryUtilization: agg(25 + (v % 70)),
          NetIn: 5e5, NetOut: 2e5, NetInPackets: 500, NetOutPackets: 200, DiskRead: 4096, DiskWrite: 8192, ThrottledPeriods: 0, ThrottledTimeNs: 0,
        })),
      };
    }),
  };
}

const ALARMS = [
  { alarmName: 'cpu-high', selector: { all: true }, metricName: 'CPUUtilization', statistic: 'Average', period: 60, comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 90, evaluationPeriods: 3 },
  { alarmName: 'memory-high', selector: { all: true }, metricName: 'MemoryUtilization', statistic: 'Maximum', period: 300, comparisonOperator: 'GreaterThanThreshold', threshold: 90, evaluationPeriods: 2 },
  { alarmName: 'net-in-burst', selector: { all: true }, metricName: 'NetworkIn', statistic: 'Sum', period: 60, comparisonOperator: 'GreaterThanThreshold', threshold: 1e9, evaluationPeriods: 5, datapointsToAlarm: 3 },
].map((a) => parseAlarm(a));

async function runEngine(engine: string): Promise<Record<string, number>> {
  let db: string;
  let cleanup: () => Promise<void>;
  if (engine === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'vmpulse-alerts-bench-'));
    db = join(dir, 'bench.db');
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const name = `vmpulse_alerts_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    db = u.toString();
    cleanup = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const store = await openStore(db, { poolMax: 16 });
  const alerts = store.alarms;
  try {
    await store.migrate();
    const now = Math.floor(Date.now() / 60000) * 60;
    const minutes = Array.from({ length: MINUTES }, (_, i) => now - (MINUTES - i) * 60);
    const t0 = performance.now();
    for (let h = 0; h < HOSTS; h++) await store.ingest(hostBatch(h, minutes, now), { receivedAt: now });
    const ingestMs = performance.now() - t0;
    // The tiers of those minutes, built as the server's periodic rollup builds them while minutes
    // arrive (store/rollup.ts); the passes then find nothing left to roll up.
    const r0 = performance.now();
    await store.rollup(now);
    const rollupMs = performance.now() - r0;
    for (const d of [...ALARMS, ...builtinAlarms({ webhooks: [], alertmanagers: [] })]) await alerts.putAlarm(d, 'api', Date.now());
    const ev = new Evaluator({ db: alerts, source: alarmSource(store), lagSeconds: 0, goneGraceSeconds: 3600, publicUrl: 'http://bench', concurrency: store.engine === 'postgres' ? 3 : 1 });
    const perAlarm: string[] = [];
    const cpu = async (f: () => Promise<PassStats>): Promise<PassStats & { cpuMs: number }> => {
      const c = process.cpuUsage();
      const r = await f();
      const d = process.cpuUsage(c);
      return { ...r, cpuMs: (d.user + d.system) / 1000 };
    };
    const load1 = loadavg()[0]!;
    const prof = await profiler(PROFILE_DIR);
    const p1 = await prof.around(`${engine}-cold`, () => cpu(() => ev.evaluateOnce(now * 1000)));
    const p2 = await prof.around(`${engine}-steady2`, () => cpu(() => ev.evaluateOnce(now * 1000)));
    const p3 = await prof.around(`${engine}-steady3`, () => cpu(() => ev.evaluateOnce(now * 1000)));
    await prof.close();
    const defs = (await alerts.listAlarms()).map((a) => a.definition);
    const referenceMs = REFERENCE ? await referencePass(store, defs, now * 1000) : null;
    // Per-alarm cost of the steady pass, to see which metric kinds dominate.
    for (const a of await alerts.listAlarms()) {
      const t = performance.now();
      await ev.evaluateAlarm(a.definition, now * 1000);
      perAlarm.push(`${a.definition.alarmName} ${(performance.now() - t).toFixed(0)} ms`);
    }
    const states = await alerts.states();
    const inAlarm = states.filter((s) => s.state === 'ALARM').length;
    const steady = Math.min(p2.ms, p3.ms);
    const steadyCpu = Math.min(p2.cpuMs, p3.cpuMs);
    const line = (p: typeof p1) =>
      `${p.ms.toFixed(0)} ms (${p.evaluated} instance-alarm evaluations, ${p.transitions} transitions; ${((p.ms * 1000) / Math.max(1, p.evaluated)).toFixed(1)} µs each)`;
    if (!JSON_OUT) {
      process.stdout.write(
        `${engine}: ${INSTANCES} instances × ${MINUTES} min ingested in ${(ingestMs / 1000).toFixed(1)} s, tiers rolled up in ${(rollupMs / 1000).toFixed(1)} s; ${ALARMS.length + 2} fleet-wide alarms\n` +
          `  pass 1 (cold): ${line(p1)}\n` +
          `  pass 2, 3 (steady): ${line(p2)}; ${p3.ms.toFixed(0)} ms\n` +
          `  per alarm (steady): ${perAlarm.join(', ')}\n` +
          `  CPU of this process: cold ${p1.cpuMs.toFixed(0)} ms, steady ${steadyCpu.toFixed(0)} ms\n` +
          (referenceMs !== null ? `  reference (per-instance reads + decisions, same data): ${referenceMs.toFixed(0)} ms = ${(referenceMs / steady).toFixed(1)} × steady\n` : '') +
          `  states ${states.length}, in ALARM ${inAlarm}; cold / steady = ${(p1.ms / steady).toFixed(2)}; load average ${load1.toFixed(2)}\n`,
      );
    }
    return {
      instances: INSTANCES,
      alarms: ALARMS.length + 2,
      ingest_s: Number((ingestMs / 1000).toFixed(1)),
      rollup_s: Number((rollupMs / 1000).toFixed(1)),
      cold_ms: Math.round(p1.ms),
      steady_ms: Math.round(steady),
      cold_cpu_ms: Math.round(p1.cpuMs),
      steady_cpu_ms: Math.round(steadyCpu),
      load1: Number(load1.toFixed(2)),
      ...(referenceMs !== null ? { reference_ms: Math.round(referenceMs), reference_ratio: Number((referenceMs / steady).toFixed(2)) } : {}),
      evaluated: p2.evaluated,
      cold_transitions: p1.transitions,
      states: states.length,
      in_alarm: inAlarm,
    };
  } finally {
    await store.close();
    await cleanup();
  }
}

const results: Record<string, Record<string, number>> = {};
for (const e of ENGINES) results[e] = await runEngine(e);
if (JSON_OUT) process.stdout.write(`${JSON.stringify(results)}\n`);
