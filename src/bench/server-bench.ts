// `npm run bench:server`: ingest rate (VM-minute records per second through POST /v1/ingest) and
// GetInstanceMetricData latency (one VM, one day of minutes, period 300, all five statistics) for
// SQLite (temp file) and PostgreSQL (throwaway database vmpulse_bench_<pid> on
// VMPULSE_BENCH_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres); and what refusing a
// gzip bomb costs (time against a plain oversize body's refusal, RSS growth).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
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
}

async function benchEngine(engine: 'sqlite' | 'postgres', db: string, keyFile: string): Promise<Result> {
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
  };
  const srv = await startServer(config);
  try {
    const admin = await srv.credentials.create('admin', 'bench');
    const now = Math.floor(Date.now() / 60000) * 60;
    // Ingest: BATCHES batches of INSTANCES_PER_BATCH VMs × 1 minute (one host's window), CONCURRENCY at a time.
    const payloads = Array.from({ length: BATCHES }, (_, b) =>
      batch(`host-${b % 16}`, Array.from({ length: INSTANCES_PER_BATCH }, (_, i) => instance(`b${b % 16}-vm${i}`, [window(now - 3600 - Math.floor(b / 16) * 60, i)]))),
    );
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
    return { engine, records, ingestSeconds, recordsPerSecond: records / ingestSeconds, httpMs: stats(http), libMs: stats(lib), datapoints };
  } finally {
    await srv.close();
  }
}

/** 1 GiB of zeros, gzipped (about 1 MiB on the wire). */
async function gzipBomb(): Promise<Buffer> {
  const gz = createGzip({ level: 1 });
  const parts: Buffer[] = [];
  gz.on('data', (b: Buffer) => parts.push(b));
  const done = new Promise<void>((resolve, reject) => gz.on('end', resolve).on('error', reject));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 1024; i++) if (!gz.write(zeros)) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(parts);
}

interface BombResult {
  wireBytes: number;
  bombMs: number;
  oversizeMs: number;
  rssGrowthMiB: number;
}

/**
 * What refusing a gzip bomb costs the server (in this process): time to the 413 against the
 * refusal of a plain body just over the limit (the reference, same run), and the RSS growth.
 */
async function benchGzipBomb(dir: string): Promise<BombResult> {
  const limit = 8 * 1024 * 1024;
  const srv = await startServer({
    host: '127.0.0.1', port: 0, tls: null, db: join(dir, 'bomb.db'), keyFile: join(dir, 'bomb.key'),
    maxBodyBytes: limit, retentionDays: 15, retentionIntervalS: 3600, logLevel: 'silent', pgPoolMax: 1,
  });
  try {
    const agent = await srv.credentials.create('admin', 'bench');
    const send = async (body: Buffer, gzip: boolean): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const res = await fetch(`${srv.url}/v1/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent.secret}`, 'content-type': 'application/json', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
        body,
      });
      await res.text();
      if (res.status !== 413) throw new Error(`expected 413, got ${res.status}`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const bomb = await gzipBomb();
    const oversize = Buffer.alloc(limit + 1, 0x20);
    await send(oversize, false); // warm-up
    const oversizeMs = await send(oversize, false);
    let peak = process.memoryUsage().rss;
    const base = peak;
    const watch = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    const bombMs = await send(bomb, true);
    clearInterval(watch);
    peak = Math.max(peak, process.memoryUsage().rss);
    return { wireBytes: bomb.length, bombMs, oversizeMs, rssGrowthMiB: (peak - base) / 1048576 };
  } finally {
    await srv.close();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-bench-'));
  let bomb: BombResult;
  try {
    bomb = await benchGzipBomb(dir);
    results.push(await benchEngine('sqlite', join(dir, 'bench.db'), join(dir, 'server.key')));
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
    if (pgReady) {
      try {
        const u = new URL(PG_URL);
        u.pathname = `/${name}`;
        results.push(await benchEngine('postgres', u.toString(), join(dir, 'server-pg.key')));
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    }
    await admin.end().catch(() => {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (x: number) => x.toFixed(2);
  process.stdout.write(
    `\nvmpulse server bench: ingest ${BATCHES} batches × ${INSTANCES_PER_BATCH} VMs × 1 minute over HTTP (gzip, ${CONCURRENCY} concurrent);\n` +
      `GetInstanceMetricData: one VM, 1440 minutes, period 300, all five statistics, ${QUERIES} calls\n\n`,
  );
  process.stdout.write(`engine    VM-minutes/s   ingest s   REST p50 ms  p95 ms  mean ms   library p50 ms  p95 ms   datapoints\n`);
  for (const r of results) {
    process.stdout.write(
      `${r.engine.padEnd(10)}${r.recordsPerSecond.toFixed(0).padStart(12)}   ${f(r.ingestSeconds).padStart(8)}   ${f(r.httpMs.p50).padStart(11)}  ${f(r.httpMs.p95).padStart(6)}  ${f(r.httpMs.mean).padStart(7)}   ${f(r.libMs.p50).padStart(14)}  ${f(r.libMs.p95).padStart(6)}   ${String(r.datapoints).padStart(10)}\n`,
    );
  }
  process.stdout.write(
    `\ngzip bomb (1 GiB of zeros, ${bomb.wireBytes} bytes on the wire) refused in ${f(bomb.bombMs)} ms, ` +
      `${f(bomb.bombMs / bomb.oversizeMs)}× the refusal of a plain body 1 byte over the 8 MiB limit (${f(bomb.oversizeMs)} ms); ` +
      `RSS grew by ${f(bomb.rssGrowthMiB)} MiB\n`,
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`server bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
