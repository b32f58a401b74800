// `npm run bench:server` (`-- --json` for one JSON object per engine): for SQLite (temp file) and
// PostgreSQL (throwaway database vmpulse_bench_<pid> on VMPULSE_BENCH_PG_URL, default
// postgres://postgres@127.0.0.1:5432/postgres):
// - ingest_vm_minutes_per_s: VM-minute records per second through POST /v1/ingest (gzip JSON,
//   validation, dedup, facts, merged minutes), with the tier rollup after the last batch counted
//   in (it builds the tiers of every minute ingested), and raw_vm_minutes_per_s: the same minute
//   rows inserted straight into the same schema with better-sqlite3 / pg (prepared INSERT per row /
//   one binary COPY, one transaction per batch, values built beforehand), measured in the same
//   run; their ratio is the cost of everything the server does around the engine;
// - a per-batch profile of the ingest path (gunzip, JSON parse, validation, row building, store, rollup);
// - GetInstanceMetricData over REST, p50, for one VM with 455 days of history (minutes kept 15
//   days, 300 s rows 63 days, 3600 s and 86400 s rows 455 days): 1 day at 300, 63 days at 3600, 455 days at 86400;
// - bytes_per_vm_day per tier on disk (tables and their indexes, per row × rows per VM-day).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { copyBinary } from '../server/store/pg-copy.js';
import Database from 'better-sqlite3';
import { gunzipSync } from 'node:zlib';
import { startServer } from '../server/app.js';
import type { ServerConfig } from '../server/config.js';
import { combineInstanceMinute } from '../ship/window-merge.js';
import { keptWindows } from '../server/store/rows.js';
import { INSTANCE_MINUTE_COLS, instanceMinuteValues, instanceValues, type Value } from '../server/store/schema.js';
import type { SqlStore } from '../server/store/sql-store.js';
import { parsePayload, payloadValidator } from '../server/validate.js';
import type { Payload } from '../ship/payload.js';
import { profiler } from './profile.js';
import { batch, instance, pct, post, window } from './synthetic.js';
import { BenchClient, packBodies } from './http-client.js';

const PG_URL = process.env.VMPULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const INSTANCES_PER_BATCH = Number(process.env.VMPULSE_BENCH_INSTANCES ?? 500);
const BATCHES = Number(process.env.VMPULSE_BENCH_BATCHES ?? 40);
const CONCURRENCY = Number(process.env.VMPULSE_BENCH_CONCURRENCY ?? 4);
const QUERIES = Number(process.env.VMPULSE_BENCH_QUERIES ?? 200);
const HISTORY_DAYS = Number(process.env.VMPULSE_BENCH_HISTORY_DAYS ?? 455);
const JSON_OUT = process.argv.includes('--json');
const PROFILE_AT = process.argv.indexOf('--profile');
/** --profile DIR: CPU profiles of the event loop during ingest (DIR/<engine>-ingest.cpuprofile) and during each query figure's calls (DIR/<engine>-<days>d-<period>.cpuprofile). */
const PROFILE_DIR = PROFILE_AT > 0 ? (process.argv[PROFILE_AT + 1] ?? null) : null;
const DAY = 86400;

interface Result {
  engine: 'sqlite' | 'postgres';
  ingest_vm_minutes_per_s: number;
  raw_vm_minutes_per_s: number;
  /** raw_vm_minutes_per_s / ingest_vm_minutes_per_s: what the server costs per VM-minute, in units of the bare engine insert. */
  ratio: number;
  /** CPU time (user + system) per VM-minute: of the server process for ingest (the HTTP client runs in a child process), of the driver for raw (PostgreSQL's own CPU is in neither). */
  ingest_cpu_us_per_vm_minute: number;
  raw_cpu_us_per_vm_minute: number;
  p50_ms_1d_300: number;
  p50_ms_63d_3600: number;
  p50_ms_455d_86400: number;
  bytes_per_vm_day: { '60': number; '300': number; '3600': number; '86400': number };
  profile_ms_per_batch: { gunzip: number; json_parse: number; validate: number; rows: number; store: number; rollup: number };
  /** Of ingest's time: the rollup of the tiers after the last batch (included in ingest_vm_minutes_per_s). */
  rollup_ms: number;
  batches: number;
  vms_per_batch: number;
}

const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
const payloadOf = (gz: Buffer): Payload => JSON.parse(gunzipSync(gz).toString('utf8')) as Payload;
/** Microseconds of CPU (user + system) this process used since `c0`. */
const cpuSince = (c0: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(c0);
  return c.user + c.system;
};

/** Raw engine speed: the batches' minute rows inserted straight into the same schema, one transaction per batch. */
async function rawInsert(engine: 'sqlite' | 'postgres', db: string, payloads: Payload[]): Promise<{ rate: number; cpuUs: number }> {
  const rowsOf = (p: Payload) => p.Instances.flatMap((i) => i.Stats.map((w) => instanceMinuteValues(p.AgentID, i.InstanceID, w)));
  const prepared = payloads.map(rowsOf);
  const cols = INSTANCE_MINUTE_COLS.map((c) => c.name).join(', ');
  const records = prepared.reduce((a, r) => a + r.length, 0);
  if (engine === 'sqlite') {
    const d = new Database(db);
    // The store's own settings (sqlite.ts): WAL, and a commit is on disk before it returns.
    d.pragma('journal_mode = WAL');
    d.pragma('synchronous = FULL');
    try {
      const st = d.prepare(`INSERT INTO instance_minutes (${cols}) VALUES (${INSTANCE_MINUTE_COLS.map(() => '?').join(', ')})`);
      const tx = d.transaction((rows: Value[][]) => {
        for (const r of rows) st.run(r);
      });
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const rows of prepared) tx.immediate(rows);
      return { rate: records / (ms(t0, process.hrtime.bigint()) / 1000), cpuUs: cpuSince(c0) / records };
    } finally {
      d.close();
    }
  }
  const c = new pg.Client({ connectionString: db });
  await c.connect();
  try {
    // The engine's fastest bulk insert, the one the store's ingest uses for new minutes: binary COPY.
    const kinds = INSTANCE_MINUTE_COLS.map((col) => col.kind);
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const rows of prepared) {
      await c.query('BEGIN');
      await pipeline(Readable.from(copyBinary(rows, kinds)), c.query(copyFrom(`COPY instance_minutes (${cols}) FROM STDIN WITH (FORMAT binary)`)));
      await c.query('COMMIT');
    }
    return { rate: records / (ms(t0, process.hrtime.bigint()) / 1000), cpuUs: cpuSince(c0) / records };
  } finally {
    await c.end();
  }
}

async function bytesPerVmDay(engine: 'sqlite' | 'postgres', store: SqlStore, dbPath: string): Promise<Result['bytes_per_vm_day']> {
  const tables = { '60': ['instance_minutes', 1440], '300': ['instance_5m', 288], '3600': ['instance_1h', 24], '86400': ['instance_1d', 1] } as const;
  const out = { '60': 0, '300': 0, '3600': 0, '86400': 0 };
  for (const [tier, [table, perDay]] of Object.entries(tables) as [keyof typeof out, readonly [string, number]][]) {
    const rows = Number((await store.db.all(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
    let bytes: number;
    if (engine === 'sqlite') {
      const d = new Database(dbPath, { readonly: true });
      try {
        bytes = Number((d.prepare(`SELECT SUM(pgsize) AS b FROM dbstat WHERE name = ? OR name LIKE ?`).get(table, `${table}_%`) as { b: number }).b);
      } finally {
        d.close();
      }
    } else {
      const r = await store.db.all(
        `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS b FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ?`,
        [table],
      );
      bytes = Number(r[0]!.b);
    }
    out[tier] = rows ? Math.round((bytes / rows) * perDay) : 0;
  }
  return out;
}

async function benchEngine(engine: 'sqlite' | 'postgres', db: string, rawDb: string, keyFile: string): Promise<Result> {
  const config: ServerConfig = {
    host: '127.0.0.1',
    port: 0,
    tls: null,
    db,
    keyFile,
    maxBodyBytes: 64 * 1024 * 1024,
    retentionDays: 15,
    // One day more than the history: with the default 455 the oldest day straddles the cutoff,
    // and whether it gives a datapoint depends on the hour the bench runs.
    retention1hDays: HISTORY_DAYS + 1,
    retention1dDays: HISTORY_DAYS + 1,
    retentionIntervalS: 3600,
    logLevel: 'silent',
    pgPoolMax: 10,
    alerts: { loops: false, builtins: false },
    // As the server reads it (its default when unset), so the bench compares decode threads with none.
    ...(process.env.VMPULSE_SERVER_INGEST_THREADS ? { ingestThreads: Number(process.env.VMPULSE_SERVER_INGEST_THREADS) } : {}),
  };
  const srv = await startServer(config);
  try {
    const admin = await srv.credentials.create('admin', 'bench');
    const now = Math.floor(Date.now() / 60000) * 60;
    // Ingest: BATCHES batches of INSTANCES_PER_BATCH VMs × 1 minute (one host's window), CONCURRENCY
    // at a time: 8 hosts, each sending the 5 minutes of one 300 s bucket, as a fleet does (the
    // rollup then builds one 300 s row per VM and 5 minutes; its hour and day rows, built once
    // per 5 minutes here, are built once per 60 and 1,440 minutes in a fleet sending all day).
    const lastMinute = Math.floor((now - 3600) / 300) * 300 + 240;
    const bodies = Array.from({ length: BATCHES }, (_, b) =>
      gzipSync(
        JSON.stringify(batch(`host-${b % 8}`, Array.from({ length: INSTANCES_PER_BATCH }, (_, i) => instance(`b${b % 8}-vm${i}`, [window(lastMinute - Math.floor(b / 8) * 60, i)])))),
      ),
    );
    // A full-size batch of an agent of its own first: statements prepared and code compiled before the clock starts.
    await post(srv.url, admin.secret, batch('warmup', Array.from({ length: INSTANCES_PER_BATCH }, (_, i) => instance(`warm${i}`, [window(now - 60, i)]))));
    // The client is a child process (http-client.ts): this process's CPU and heap are the server's.
    const bodiesFile = join(dirname(keyFile), `bodies-${engine}.bin`);
    writeFileSync(bodiesFile, packBodies(bodies));
    const client = fork(join(dirname(fileURLToPath(import.meta.url)), 'http-client.js'), [], {
      env: { ...process.env, BENCH_BODIES: bodiesFile, BENCH_URL: srv.url, BENCH_SECRET: admin.secret, BENCH_CONCURRENCY: String(CONCURRENCY) },
    });
    const failed = new Promise<never>((_, reject) => client.once('exit', (code) => code && reject(new Error(`the bench client exited with ${code}`))));
    await Promise.race([new Promise((r) => client.once('message', r)), failed]);
    const cpuProf = await profiler(PROFILE_DIR);
    const c0 = process.cpuUsage();
    const postSeconds = await cpuProf.around(`${engine}-ingest`, async () => {
      client.send('go');
      return (await Promise.race([new Promise((r) => client.once('message', r)), failed])) as number;
    });
    // The tiers of what was ingested are built by the rollup, after ingest (rollup.ts): its time
    // and CPU count as ingest's. Every bench minute's bucket is closed by `now`.
    const r0 = process.hrtime.bigint();
    const rolled = await (srv.store as SqlStore).rollup(now);
    const rollupSeconds = ms(r0, process.hrtime.bigint()) / 1000;
    if (rolled.buckets[300] < 8) throw new Error(`the rollup after ingest rebuilt ${rolled.buckets[300]} 300 s buckets`);
    const ingestSeconds = postSeconds + rollupSeconds;
    const records = BATCHES * INSTANCES_PER_BATCH;
    const ingestCpuUs = cpuSince(c0) / records;

    // Where the time of one batch goes, stage by stage, on fresh copies (new BatchIDs, two hours
    // earlier): the first host's batches, its 5 minutes of one bucket, then their rollup.
    const prof = { gunzip: 0, json_parse: 0, validate: 0, rows: 0, store: 0, rollup: 0 };
    const profBodies = bodies.filter((_, b) => b % 8 === 0);
    const profN = profBodies.length;
    const validator = payloadValidator();
    for (let i = 0; i < profN; i++) {
      const p = batch('prof', payloadOf(profBodies[i]!).Instances.map((x) => ({ ...x, Stats: x.Stats.map((w) => ({ ...w, Minute: w.Minute - 7200 })) })));
      const gz = gzipSync(JSON.stringify(p));
      // The route's own parser (parse, validate, number and duplicate checks) gives the batch stored below.
      const parsed = parsePayload(gunzipSync(gz));
      const a = process.hrtime.bigint();
      const raw = gunzipSync(gz);
      const b = process.hrtime.bigint();
      const data = JSON.parse(raw.toString('utf8'));
      const c = process.hrtime.bigint();
      if (!validator(data)) throw new Error('the bench batch does not validate');
      const d = process.hrtime.bigint();
      for (const inst of parsed.Instances) {
        const k = keptWindows(inst.Stats, { receivedAt: now }, combineInstanceMinute);
        instanceValues(parsed.AgentID, inst, parsed.CreatedAt, k.kept);
        for (const w of k.kept) instanceMinuteValues(parsed.AgentID, inst.InstanceID, w);
      }
      const e = process.hrtime.bigint();
      await srv.store.ingest(parsed, { receivedAt: now });
      const f = process.hrtime.bigint();
      prof.gunzip += ms(a, b);
      prof.json_parse += ms(b, c);
      prof.validate += ms(c, d);
      prof.rows += ms(d, e);
      prof.store += ms(e, f);
    }
    const g = process.hrtime.bigint();
    await (srv.store as SqlStore).rollup(now);
    prof.rollup = ms(g, process.hrtime.bigint());
    for (const k of Object.keys(prof) as (keyof typeof prof)[]) prof[k] = Number((prof[k] / profN).toFixed(3));

    // The raw engine: the same minute rows, the same schema, a database of their own.
    const raw = await rawInsert(engine, rawDb, bodies.map(payloadOf));

    // One VM with HISTORY_DAYS days of minutes, written day by day, then retention as the server runs it.
    const store = srv.store as SqlStore;
    const histEnd = Math.floor(now / DAY) * DAY;
    for (let d = HISTORY_DAYS; d > 0; d--) {
      const start = histEnd - d * DAY;
      const stats = Array.from({ length: 1440 }, (_, m) => window(start + m * 60, m));
      await store.ingest(batch('hist-host', [instance('hist-vm', stats)]), { receivedAt: now });
    }
    await srv.runRetention(now);
    // The tiers of the last days, as the periodic rollup has them built by now.
    await srv.runRollup(now);

    const statistics = 'Minimum,Maximum,Sum,Average,SampleCount';
    const reader = new BenchClient(srv.url, admin.secret, 1);
    // One call returns at most 1,440 datapoints: 63 days at 3600 is two calls (60 d + 3 d), as a client must ask.
    const p50 = async (period: number, days: number) => {
      const maxSpan = 1440 * period;
      const calls: [number, number][] = [];
      for (let end = histEnd; end > histEnd - days * DAY; end -= maxSpan) calls.push([Math.max(histEnd - days * DAY, end - maxSpan), end]);
      const times: number[] = [];
      let datapoints = 0;
      for (let i = 0; i < QUERIES + 10; i++) {
        // Timed: the calls, each until the last byte of its answer; the client's own JSON.parse
        // of the answers (half a millisecond for 63 days at 3600) comes after.
        const a = process.hrtime.bigint();
        const answers: { status: number; text: string }[] = [];
        for (const [from, to] of calls) {
          const qs = new URLSearchParams({ metricName: 'CPUUtilization', period: String(period), startTime: String(from), endTime: String(to), unit: 'Percent', statistics });
          answers.push(await reader.get(`/v1/instances/hist-vm/metric-data?${qs}`));
        }
        const b = process.hrtime.bigint();
        if (i >= 10) times.push(ms(a, b));
        datapoints = 0;
        for (const res of answers) {
          if (res.status !== 200) throw new Error(`metric-data answered ${res.status}: ${res.text}`);
          datapoints += (JSON.parse(res.text) as { metricData: unknown[] }).metricData.length;
        }
      }
      const expected = Math.min(days, HISTORY_DAYS) * (DAY / period);
      if (datapoints !== expected) throw new Error(`${days} d at ${period}: ${datapoints} datapoints, expected ${expected}`);
      return Number(pct([...times].sort((x, y) => x - y), 50).toFixed(3));
    };
    const p50_ms_1d_300 = await cpuProf.around(`${engine}-1d-300`, () => p50(300, 1));
    const p50_ms_63d_3600 = await cpuProf.around(`${engine}-63d-3600`, () => p50(3600, 63));
    const p50_ms_455d_86400 = await cpuProf.around(`${engine}-455d-86400`, () => p50(86400, 455));
    await cpuProf.close();
    reader.close();
    const ingestRate = records / ingestSeconds;
    return {
      engine,
      ingest_vm_minutes_per_s: Math.round(ingestRate),
      raw_vm_minutes_per_s: Math.round(raw.rate),
      ratio: Number((raw.rate / ingestRate).toFixed(2)),
      ingest_cpu_us_per_vm_minute: Number(ingestCpuUs.toFixed(1)),
      raw_cpu_us_per_vm_minute: Number(raw.cpuUs.toFixed(1)),
      p50_ms_1d_300,
      p50_ms_63d_3600,
      p50_ms_455d_86400,
      bytes_per_vm_day: await bytesPerVmDay(engine, store, db),
      profile_ms_per_batch: prof,
      rollup_ms: Number((rollupSeconds * 1000).toFixed(1)),
      batches: BATCHES,
      vms_per_batch: INSTANCES_PER_BATCH,
    };
  } finally {
    await srv.close();
  }
}

/** A migrated, empty database for the raw inserts (the same schema as the server's). */
async function emptySchema(db: string, keyFile: string): Promise<void> {
  const { openBackend } = await import('../server/app.js');
  const { store } = await openBackend({ db, keyFile, pgPoolMax: 2 });
  await store.close();
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-bench-'));
  try {
    await emptySchema(join(dir, 'raw.db'), join(dir, 'raw.key'));
    results.push(await benchEngine('sqlite', join(dir, 'bench.db'), join(dir, 'raw.db'), join(dir, 'server.key')));
    const name = `vmpulse_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    let pgReady = false;
    try {
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.query(`CREATE DATABASE ${name}_raw`);
      pgReady = true;
    } catch (e) {
      process.stderr.write(`PostgreSQL skipped: ${(e as Error).message}\n`);
    }
    if (pgReady) {
      try {
        const url = (n: string) => {
          const u = new URL(PG_URL);
          u.pathname = `/${n}`;
          return u.toString();
        };
        await emptySchema(url(`${name}_raw`), join(dir, 'raw-pg.key'));
        // The raw database needs the minute partitions the batches fall in.
        const { openStore } = await import('../server/store/store.js');
        const rawStore = (await openStore(url(`${name}_raw`))) as SqlStore;
        await rawStore.ensurePartitions([Math.floor(Date.now() / 60000) * 60 - 3600 - 3600, Math.floor(Date.now() / 60000) * 60]);
        await rawStore.close();
        results.push(await benchEngine('postgres', url(name), url(`${name}_raw`), join(dir, 'server-pg.key')));
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.query(`DROP DATABASE IF EXISTS ${name}_raw WITH (FORCE)`);
      }
    }
    await admin.end().catch(() => {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (JSON_OUT) {
    for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  process.stdout.write(
    `\nvmpulse server bench: ingest ${BATCHES} batches × ${INSTANCES_PER_BATCH} VMs × 1 minute over HTTP (gzip, ${CONCURRENCY} concurrent) vs the same minute rows\n` +
      `inserted raw; GetInstanceMetricData over REST (CPUUtilization, all five statistics, ${QUERIES} calls) for one VM with ${HISTORY_DAYS} days of history\n\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${r.engine}\n` +
        `  ingest ${r.ingest_vm_minutes_per_s} VM-minutes/s, raw ${r.raw_vm_minutes_per_s} VM-minutes/s, raw/ingest cost ratio ${r.ratio}\n` +
        `  CPU of this process per VM-minute (µs): ingest ${r.ingest_cpu_us_per_vm_minute}, raw ${r.raw_cpu_us_per_vm_minute}\n` +
        `  per batch (ms): gunzip ${r.profile_ms_per_batch.gunzip}, JSON parse ${r.profile_ms_per_batch.json_parse}, validation ${r.profile_ms_per_batch.validate}, rows ${r.profile_ms_per_batch.rows}, store ${r.profile_ms_per_batch.store}, rollup ${r.profile_ms_per_batch.rollup}\n` +
        `  of ingest's time, the rollup after the last batch: ${r.rollup_ms} ms\n` +
        `  p50 ms: 1 d @300 ${r.p50_ms_1d_300}, 63 d @3600 ${r.p50_ms_63d_3600}, 455 d @86400 ${r.p50_ms_455d_86400}\n` +
        `  bytes per VM-day: 60 s ${r.bytes_per_vm_day['60']}, 300 s ${r.bytes_per_vm_day['300']}, 3600 s ${r.bytes_per_vm_day['3600']}, 86400 s ${r.bytes_per_vm_day['86400']}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`server bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
