// `npm run bench:engines`: the three time-series engines side by side — ingest rate (VM-minute records per second through POST /v1/ingest) and
// GetInstanceMetricData latency (one VM, one day of minutes, period 300, all five statistics) for
// SQLite (temp file) and PostgreSQL (throwaway database vmpulse_bench_<pid> on
// VMPULSE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres), and VictoriaMetrics
// (Debian's victoria-metrics started on loopback in a temp dir, metadata in SQLite); plus bytes
// on disk per VM-day: VMPULSE_BENCH_DISK_VMS VMs × one day of minutes, in hourly batches.
// VMPULSE_BENCH_ENGINES=sqlite,postgres,victoria picks engines (default all). The day's 288 or 289
// datapoints depend on whether the run's start minute is a multiple of 5.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createServer, type AddressInfo } from 'node:net';
import pg from 'pg';
import { ulid } from 'ulid';
import { startServer } from '../server/app.js';
import type { ServerConfig } from '../server/config.js';
import { getMetricData } from '../server/metric-data.js';
import type { Agg, InstanceRecord, InstanceWindow, Payload } from '../ship/payload.js';

const PG_URL = process.env.VMPULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const INSTANCES_PER_BATCH = Number(process.env.VMPULSE_BENCH_INSTANCES ?? 500);
const BATCHES = Number(process.env.VMPULSE_BENCH_BATCHES ?? 40);
const CONCURRENCY = Number(process.env.VMPULSE_BENCH_CONCURRENCY ?? 4);
const QUERIES = Number(process.env.VMPULSE_BENCH_QUERIES ?? 200);
const DISK_VMS = Number(process.env.VMPULSE_BENCH_DISK_VMS ?? 20);

const agg = (x: number): Agg => ({ Avg: x, Min: x * 0.5, Max: x * 1.5, Sum: x * 12, Count: 12 });

function window(minute: number, i: number): InstanceWindow {
  const x = (i % 97) + 1;
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    Missed: 0,
    CPU: agg(x / 2),
    CPUCore: agg(x),
    CPUUser: agg(x * 0.7),
    CPUSystem: agg(x * 0.3),
    VcpuBusy: agg(x / 2),
    Steal: agg(0.1),
    MemoryRSS: agg(1e9 + x),
    MemorySwap: null,
    MemoryUtilization: agg(25),
    NetIn: 1e6 + x,
    NetOut: 5e5 + x,
    NetInPackets: 1000,
    NetOutPackets: 500,
    DiskRead: 4096 * x,
    DiskWrite: 8192 * x,
    ThrottledPeriods: 0,
    ThrottledTimeNs: 0,
  };
}

function instance(id: string, stats: InstanceWindow[]): InstanceRecord {
  return {
    InstanceID: id,
    InstanceName: `vm-${id}`,
    Hypervisor: 'qemu',
    PID: 1000,
    StartTime: 1,
    AllocatedVcpus: 2,
    AllocatedMemoryBytes: 4 * 2 ** 30,
    TapDevices: [`tap${id.slice(-8)}`],
    Running: true,
    Counters: {
      CPUSeconds: 1,
      MemoryRSSBytes: 1e9,
      MemoryVMSBytes: 4e9,
      MemorySwapBytes: 0,
      MemoryPeakRSSBytes: 1e9,
      NetworkRxBytes: 1,
      NetworkTxBytes: 1,
      DiskReadBytes: 1,
      DiskWriteBytes: 1,
    },
    Stats: stats,
  };
}

function batch(agentId: string, instances: InstanceRecord[]): Payload {
  return {
    Version: 1,
    BatchID: ulid(),
    AgentID: agentId,
    AgentVersion: 'bench',
    Hostname: agentId,
    OperatingSystem: 'bench',
    Kernel: 'bench',
    CPUModel: 'bench',
    CPUSpeed: 3000,
    CPUCores: 64,
    RAM: 2 ** 38,
    Swap: 0,
    SystemUptime: 1,
    CreatedAt: Math.floor(Date.now() / 1000),
    Disks: [],
    NetworkInterfaces: [],
    Stats: [],
    Instances: instances,
  };
}

async function post(url: string, secret: string, p: Payload): Promise<void> {
  const res = await fetch(`${url}/v1/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-encoding': 'gzip', 'idempotency-key': p.BatchID },
    body: gzipSync(JSON.stringify(p)),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${text}`);
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  engine: string;
  records: number;
  ingestSeconds: number;
  recordsPerSecond: number;
  httpMs: { p50: number; p95: number; mean: number };
  libMs: { p50: number; p95: number; mean: number };
  datapoints: number;
  bytesPerVmDay: number;
}

/** Bytes under a directory (files only). */
function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

interface Engine {
  name: string;
  db: string;
  keyFile: string;
  tsdb?: { write: string; read: string };
  /** Bytes the engine holds on disk now (after making written data durable). */
  diskBytes(srv: Awaited<ReturnType<typeof startServer>>): Promise<number>;
}

async function benchEngine(e: Engine): Promise<Result> {
  const { name: engine, db, keyFile } = e;
  const config: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    tls: null,
    db,
    keyFile,
    maxBodyBytes: 64 * 1024 * 1024,
    retentionDays: 15,
    retentionIntervalS: 3600,
    logLevel: 'silent',
    pgPoolMax: 10,
    tsdb: e.tsdb ?? null,
  };
  const srv = await startServer(config);
  try {
    const admin = await srv.credentials.create('admin', 'bench');
    const now = Math.floor(Date.now() / 60000) * 60;
    // Ingest: BATCHES batches of INSTANCES_PER_BATCH VMs × 1 minute (one host's window), CONCURRENCY at a time.
    const payloads = Array.from({ length: BATCHES }, (_, b) =>
      batch(`host-${b % 16}`, Array.from({ length: INSTANCES_PER_BATCH }, (_, i) => instance(`b${b % 16}-vm${i}`, [window(now - 3600 - Math.floor(b / 16) * 60, i)]))),
    );
    // Disk first, on an empty store (later merges in VictoriaMetrics would shrink what came before):
    // DISK_VMS VMs × 1440 minutes (two days back), one batch per hour of one host.
    const before = await e.diskBytes(srv);
    const diskDay = now - 2 * 86400;
    for (let h = 0; h < 24; h++) {
      const vms = Array.from({ length: DISK_VMS }, (_, v) => instance(`disk-vm${v}`, Array.from({ length: 60 }, (_, m) => window(diskDay + (h * 60 + m) * 60, v * 7 + m))));
      await post(srv.url, admin.secret, batch('disk-host', vms));
    }
    await (srv.store as { flush?: () => Promise<void> }).flush?.call(srv.store);
    const bytesPerVmDay = ((await e.diskBytes(srv)) - before) / DISK_VMS;
    await post(srv.url, admin.secret, batch('warmup', [instance('warm', [window(now - 60, 1)])]));
    const t0 = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < payloads.length) await post(srv.url, admin.secret, payloads[next++]!);
      }),
    );
    const ingestSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const records = BATCHES * INSTANCES_PER_BATCH;

    // One VM with a full day of minutes, shipped as 24 hourly batches.
    const dayStart = now - 86400;
    for (let h = 0; h < 24; h++) {
      const stats = Array.from({ length: 60 }, (_, m) => window(dayStart + (h * 60 + m) * 60, h * 60 + m));
      await post(srv.url, admin.secret, batch('day-host', [instance('day-vm', stats)]));
    }
    const flush = (srv.store as { flush?: () => Promise<void> }).flush;
    await flush?.call(srv.store);
    const statistics = ['Minimum', 'Maximum', 'Sum', 'Average', 'SampleCount'];
    const qs = new URLSearchParams({ metricName: 'CPUUtilization', period: '300', startTime: String(dayStart), endTime: String(dayStart + 86400), unit: 'Percent', statistics: statistics.join(',') });
    const http: number[] = [];
    const lib: number[] = [];
    let datapoints = 0;
    for (let i = 0; i < QUERIES + 10; i++) {
      const a = process.hrtime.bigint();
      const res = await fetch(`${srv.url}/v1/instances/day-vm/metric-data?${qs}`, { headers: { authorization: `Bearer ${admin.secret}` } });
      const body = (await res.json()) as { metricData: unknown[] };
      const b = process.hrtime.bigint();
      const r = await getMetricData(srv.store, { instanceId: 'day-vm', metricName: 'CPUUtilization', period: 300, startTime: dayStart, endTime: dayStart + 86400, unit: 'Percent', statistics });
      const c = process.hrtime.bigint();
      datapoints = body.metricData.length;
      if (r.datapoints.length !== datapoints) throw new Error('REST and library disagree');
      if (i >= 10) {
        http.push(Number(b - a) / 1e6);
        lib.push(Number(c - b) / 1e6);
      }
    }
    const stats = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return { p50: pct(s, 50), p95: pct(s, 95), mean: xs.reduce((x, y) => x + y, 0) / xs.length };
    };

    return { engine, records, ingestSeconds, recordsPerSecond: records / ingestSeconds, httpMs: stats(http), libMs: stats(lib), datapoints, bytesPerVmDay };
  } finally {
    await srv.close();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-bench-'));
  try {
    const sqliteBytes = (file: string) => async (srv: Awaited<ReturnType<typeof startServer>>) => {
      const sq = (srv.store as unknown as { sql?: { db: { exec(s: string): Promise<void> } }; db: { exec(s: string): Promise<void> } });
      await (sq.sql?.db ?? sq.db).exec('PRAGMA wal_checkpoint(TRUNCATE)');
      return [file, `${file}-wal`].reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0);
    };
    const only = process.env.VMPULSE_BENCH_ENGINES?.split(',');
    if (!only || only.includes('sqlite')) results.push(await benchEngine({ name: 'sqlite', db: join(dir, 'bench.db'), keyFile: join(dir, 'server.key'), diskBytes: sqliteBytes(join(dir, 'bench.db')) }));
    const name = `vmpulse_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    let pgReady = false;
    try {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      pgReady = true;
    } catch (e) {
      process.stdout.write(`PostgreSQL skipped: ${(e as Error).message}\n`);
    }
    if (pgReady && (!only || only.includes('postgres'))) {
      try {
        const u = new URL(PG_URL);
        u.pathname = `/${name}`;
        const pgBytes = async () => Number((await admin.query('SELECT pg_database_size($1) AS n', [name])).rows[0].n);
        results.push(await benchEngine({ name: 'postgres', db: u.toString(), keyFile: join(dir, 'server-pg.key'), diskBytes: pgBytes }));
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    }
    await admin.end().catch(() => {});
    const vm = !only || only.includes('victoria') ? await startVictoria(join(dir, 'vm')) : null;
    if (vm) {
      try {
        const file = join(dir, 'bench-vm.db');
        results.push(
          await benchEngine({
            name: 'victoria',
            db: file,
            keyFile: join(dir, 'server-vm.key'),
            tsdb: { write: vm.url, read: vm.url },
            // VictoriaMetrics' data directory once its in-memory parts are on disk, plus the metadata in SQLite.
            diskBytes: async (srv) => {
              await new Promise((r) => setTimeout(r, 2500));
              return dirBytes(join(dir, 'vm')) + (await sqliteBytes(file)(srv));
            },
          }),
        );
      } finally {
        await vm.stop();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (x: number) => x.toFixed(2);
  process.stdout.write(
    `\nvmpulse server bench: ingest ${BATCHES} batches × ${INSTANCES_PER_BATCH} VMs × 1 minute over HTTP (gzip, ${CONCURRENCY} concurrent);\n` +
      `GetInstanceMetricData: one VM, 1440 minutes, period 300, all five statistics, ${QUERIES} calls\n\n`,
  );
  process.stdout.write(`engine    VM-minutes/s   ingest s   REST p50 ms  p95 ms  mean ms   library p50 ms  p95 ms   datapoints   bytes/VM-day\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.engine.padEnd(10)}${r.recordsPerSecond.toFixed(0).padStart(12)}   ${f(r.ingestSeconds).padStart(8)}   ${f(r.httpMs.p50).padStart(11)}  ${f(r.httpMs.p95).padStart(6)}  ${f(r.httpMs.mean).padStart(7)}   ${f(r.libMs.p50).padStart(14)}  ${f(r.libMs.p95).padStart(6)}   ${String(r.datapoints).padStart(10)}   ${r.bytesPerVmDay.toFixed(0).padStart(12)}\n`,
    );
  }
}

/** Debian's victoria-metrics on a free loopback port with the flags the engine needs; null when not installed. */
async function startVictoria(dataDir: string): Promise<{ url: string; stop(): Promise<void> } | null> {
  const port = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const p = spawn('victoria-metrics', [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${dataDir}`, '-dedup.minScrapeInterval=1ms', '-retentionPeriod=456d', '-loggerLevel=ERROR'], {
    stdio: 'ignore',
  });
  const failed = await new Promise<boolean>((resolve) => {
    p.once('error', () => resolve(true));
    setTimeout(() => resolve(false), 200);
  });
  if (failed) {
    process.stdout.write('VictoriaMetrics skipped: victoria-metrics is not installed\n');
    return null;
  }
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async stop() {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    },
  };
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`server bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
