// `npm run bench:load`: a fleet against the real server, on loopback. `vmpulse server` runs as
// its own process; the simulated agents (sim-agents.ts: the real outbox, spool and shipper per
// agent) run in another, each with many VMs, closing windows in accelerated time (one simulated
// minute per VMPULSE_LOAD_WINDOW_MS) for a bounded number of windows, then draining.
//
// Reported per engine: sustained VM-minutes/s (VM records stored / time from the first window to
// the last batch stored), p50/p99 ingest latency of accepted batches as the agents saw it, the
// server's RSS (peak and at the end), refusals (429/503), and batches sent / stored / duplicated
// / lost from the database. The reference, measured in the same run on the same server, is one
// agent shipping the same windows back to back with nothing else running; the fleet's rate is
// given as a ratio of it.
//
//   VMPULSE_LOAD_AGENTS      simulated agents                 default 1000
//   VMPULSE_LOAD_VMS         VMs per agent                    default 100
//   VMPULSE_LOAD_WINDOWS     windows per agent                default 10
//   VMPULSE_LOAD_WINDOW_MS   real ms per simulated minute     default 6000 (10× real time; the agents'
//                            own work — JSON, gzip, fsync of 1,000 spools — shares this machine)
//   VMPULSE_LOAD_ENGINES     sqlite,postgres                  default both (postgres when reachable)
//   VMPULSE_LOAD_DRAIN_S     bound on the drain after the last window  default 600
//   VMPULSE_BENCH_PG_URL     PostgreSQL for a throwaway database  default postgres://postgres@127.0.0.1:5432/postgres
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { distRoot } from '../paths.js';
import { auditBatches, readSent, type Audit } from './batch-audit.js';
import { freePort } from './proc-usage.js';

const CLI = join(distRoot, 'src', 'cli.js');
const SIM = join(distRoot, 'src', 'bench', 'sim-agents.js');
const AGENTS = Number(process.env.VMPULSE_LOAD_AGENTS ?? 1000);
const VMS = Number(process.env.VMPULSE_LOAD_VMS ?? 100);
const WINDOWS = Number(process.env.VMPULSE_LOAD_WINDOWS ?? 10);
const WINDOW_MS = Number(process.env.VMPULSE_LOAD_WINDOW_MS ?? 6000);
const DRAIN_S = Number(process.env.VMPULSE_LOAD_DRAIN_S ?? 600);
const PG_URL = process.env.VMPULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';


function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

interface Server {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startServerProcess(db: string, keyFile: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'server'], {
    env: { PATH: process.env.PATH ?? '', VMPULSE_DB: db, VMPULSE_SERVER_KEY_FILE: keyFile, VMPULSE_SERVER_LISTEN: `127.0.0.1:${port}`, VMPULSE_SERVER_LOG_LEVEL: 'warn', VMPULSE_ALARM_BUILTINS: '0', VMPULSE_PG_POOL_MAX: '10' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface SimDone {
  sent: number;
  remaining: number;
  producedMs: number;
  drainedMs: number;
  accepted: number;
  latency: { p50: number | null; p99: number | null; max: number | null };
  statuses: Record<string, number>;
  failedAttempts: number;
}

function runSim(env: Record<string, string>): Promise<SimDone> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SIM], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const l of lines) {
        const e = JSON.parse(l) as { event: string; sent?: number; shipped?: number; statuses?: Record<string, number> };
        if (e.event === 'progress' && process.env.VMPULSE_LOAD_PROGRESS) process.stderr.write(`  … sent ${e.sent}, shipped ${e.shipped}, answers ${JSON.stringify(e.statuses)}\n`);
        if (e.event === 'done') resolve(e as unknown as SimDone);
      }
    });
    child.once('exit', (code) => (code === 0 || code === 3 ? undefined : reject(new Error(`sim-agents exited with ${code}`))));
  });
}

interface EngineResult {
  engine: string;
  fleet: { audit: Audit; vmMinutesPerS: number; sim: SimDone; rssPeak: number; rssEnd: number };
  reference: { vmMinutesPerS: number; p50: number | null; p99: number | null };
}

async function benchEngine(engine: 'sqlite' | 'postgres'): Promise<EngineResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-load-'));
  // Spools on tmpfs when there is one: the agents' disks are not what is measured.
  const spoolRoot = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/vmpulse-load-spool-') : join(dir, 'spools');
  const keyFile = join(dir, 'server.key');
  let db = join(dir, 'vmpulse.db');
  const dbName = `vmpulse_load_${process.pid}`;
  if (engine === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${dbName}`;
    db = u.toString();
  }
  const token = JSON.parse(
    execFileSync(process.execPath, [CLI, 'token', 'create', '--role', 'admin', 'load-bench', '--json'], { env: { PATH: process.env.PATH ?? '', VMPULSE_DB: db, VMPULSE_SERVER_KEY_FILE: keyFile }, encoding: 'utf8' }),
  ).secret as string;
  const server = await startServerProcess(db, keyFile);
  let rssPeak = 0;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(server.child.pid!))), 250);
  try {
    const common = { SIM_ENDPOINTS: server.url, SIM_TOKEN: token, SIM_VMS: String(VMS), SIM_DRAIN_MS: String(DRAIN_S * 1000), SIM_BACKOFF_MAX_MS: '10000' };

    // Reference: one agent, the same windows back to back, nothing else running.
    const refWindows = 60;
    const refIds = join(dir, 'ref.jsonl');
    const ref = await runSim({ ...common, SIM_DIR: join(spoolRoot, 'ref'), SIM_IDS_FILE: refIds, SIM_AGENTS: '1', SIM_WINDOWS: String(refWindows), SIM_WINDOW_MS: '1', SIM_AGENT_PREFIX: 'ref' });
    const refRate = (ref.sent * VMS) / (ref.drainedMs / 1000);

    const ids = join(dir, 'fleet.jsonl');
    const rssBefore = rssOf(server.child.pid!);
    rssPeak = rssBefore;
    const sim = await runSim({ ...common, SIM_DIR: join(spoolRoot, 'fleet'), SIM_IDS_FILE: ids, SIM_AGENTS: String(AGENTS), SIM_WINDOWS: String(WINDOWS), SIM_WINDOW_MS: String(WINDOW_MS), SIM_AGENT_PREFIX: 'fleet' });
    const rssEnd = rssOf(server.child.pid!);
    const a = await auditBatches(db, readSent(ids), 'fleet', VMS);
    return {
      engine,
      fleet: { audit: a, vmMinutesPerS: (a.stored * VMS) / (sim.drainedMs / 1000), sim, rssPeak, rssEnd },
      reference: { vmMinutesPerS: refRate, p50: ref.latency.p50, p99: ref.latency.p99 },
    };
  } finally {
    clearInterval(sampler);
    await server.stop();
    if (engine === 'postgres') {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
    rmSync(spoolRoot, { recursive: true, force: true });
  }
}

async function pgReachable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const wanted = (process.env.VMPULSE_LOAD_ENGINES ?? 'sqlite,postgres').split(',').map((s) => s.trim());
  process.stdout.write(`load bench: ${AGENTS} agents × ${VMS} VMs, ${WINDOWS} windows each, one simulated minute per ${WINDOW_MS} ms (offered ${((AGENTS * VMS) / (WINDOW_MS / 1000)).toFixed(0)} VM-minutes/s)\n`);
  let failed = false;
  for (const engine of ['sqlite', 'postgres'] as const) {
    if (!wanted.includes(engine)) continue;
    if (engine === 'postgres' && !(await pgReachable())) {
      process.stdout.write(`postgres: skipped, ${PG_URL} is not reachable\n`);
      continue;
    }
    const r = await benchEngine(engine);
    const f = r.fleet;
    const s = f.sim;
    const fmt = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} ms`);
    process.stdout.write(
      [
        `${engine}:`,
        `  sustained      ${f.vmMinutesPerS.toFixed(0)} VM-minutes/s (${f.audit.stored} batches × ${VMS} VMs in ${(s.drainedMs / 1000).toFixed(1)} s; windows produced in ${(s.producedMs / 1000).toFixed(1)} s)`,
        `  reference      ${r.reference.vmMinutesPerS.toFixed(0)} VM-minutes/s (one agent, back to back; p50 ${fmt(r.reference.p50)}, p99 ${fmt(r.reference.p99)}) → fleet/reference ${(f.vmMinutesPerS / r.reference.vmMinutesPerS).toFixed(2)}`,
        `  ingest latency p50 ${fmt(s.latency.p50)}, p99 ${fmt(s.latency.p99)}, max ${fmt(s.latency.max)} (${s.accepted} accepted batches, as the agents saw it)`,
        `  answers        ${JSON.stringify(s.statuses)}; failed attempts ${s.failedAttempts}`,
        `  server RSS     peak ${mib(f.rssPeak)}, at the end ${mib(f.rssEnd)}`,
        // A batch still in an agent's spool when the drain bound ran out is late, not lost.
        `  batches        sent ${f.audit.sent} / stored ${f.audit.stored} / duplicated ${f.audit.duplicated} / lost ${f.audit.lost - s.remaining} (partial ${f.audit.partial}; still spooled at the drain bound ${s.remaining})`,
      ].join('\n') + '\n',
    );
    if (f.audit.lost - s.remaining || f.audit.duplicated || f.audit.partial) failed = true;
  }
  if (failed) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`load bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
