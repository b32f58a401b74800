// Real processes for the fault tests: `vmpulse server` as a child process (kill -9, restart on the
// same port), a PostgreSQL instance of the test's own (initdb + pg_ctl in a temp dir on a free
// port, so it can be stopped and killed without touching the shared cluster), simulated agents
// (src/bench/sim-agents.ts) as their own process, and the batch audit.
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distRoot } from '../../src/paths.js';
import { auditBatches, readSent, type Audit } from '../../src/bench/batch-audit.js';
import { freePort } from './api-check.js';
import { sleep, waitExit, waitFor } from './procs.js';

export const CLI = join(distRoot, 'src', 'cli.js');
const SIM = join(distRoot, 'src', 'bench', 'sim-agents.js');

export interface ServerProcess {
  readonly url: string;
  readonly port: number;
  pid(): number;
  logs(): string;
  /** Starts it again on the same port and environment (after kill9 or stop). */
  restart(): Promise<void>;
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  db: string;
  keyFile: string;
  env?: Record<string, string>;
  port?: number;
  https?: boolean;
}

/** `vmpulse server` on 127.0.0.1:<free port>, ready once /healthz answers. */
export async function startServerProcess(o: ServerProcessOptions): Promise<ServerProcess> {
  const port = o.port ?? (await freePort());
  const url = `${o.https ? 'https' : 'http'}://127.0.0.1:${port}`;
  let logs = '';
  let child: ChildProcess;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    VMPULSE_DB: o.db,
    VMPULSE_SERVER_KEY_FILE: o.keyFile,
    VMPULSE_SERVER_LISTEN: `127.0.0.1:${port}`,
    VMPULSE_SERVER_LOG_LEVEL: 'info',
    VMPULSE_LOG_FORMAT: 'json',
    VMPULSE_ALARM_BUILTINS: '0',
    ...(o.env ?? {}),
  };
  const launch = async () => {
    const from = logs.length;
    child = spawn(process.execPath, [CLI, 'server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => (logs += d.toString());
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', (code, signal) => (logs += `\n[vmpulse server pid ${child.pid} exited: ${code ?? signal}]\n`));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${logs.slice(-2000)}`);
        return logs.includes('vmpulse server listening', from);
      },
      30_000,
      `server on ${url}`,
      50,
    );
  };
  await launch();
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    port,
    pid: () => child.pid!,
    logs: () => logs,
    restart: launch,
    async kill9() {
      if (!running()) return;
      process.kill(child.pid!, 'SIGKILL');
      await waitExit(child, 10_000);
    },
    async stop() {
      if (!running()) return;
      process.kill(child.pid!, 'SIGTERM');
      try {
        await waitExit(child, 15_000);
      } catch {
        process.kill(child.pid!, 'SIGKILL');
        await waitExit(child, 10_000);
      }
    },
  };
}

/** `vmpulse token create` against the database: returns the secret and access key id. */
export function createToken(db: string, keyFile: string, role: 'agent' | 'reader' | 'admin', name: string): { secret: string; accessKeyId: string } {
  const out = execFileSync(process.execPath, [CLI, 'token', 'create', '--role', role, name, '--json'], {
    env: { PATH: process.env.PATH ?? '', VMPULSE_DB: db, VMPULSE_SERVER_KEY_FILE: keyFile },
    encoding: 'utf8',
  });
  const c = JSON.parse(out) as { secret: string; accessKeyId?: string; access_key_id?: string };
  return { secret: c.secret, accessKeyId: c.accessKeyId ?? c.access_key_id ?? '' };
}

/** A PostgreSQL cluster of the test's own, run as the postgres user from a temp dir. */
export interface PgInstance {
  readonly port: number;
  /** postgres:// URL of database `name` (created by createDb). */
  url(name?: string): string;
  createDb(name: string): void;
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  /** Stops it and removes its directory. */
  remove(): void;
}

export function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

function asPostgres(cmd: string, args: string[]): string {
  const r = spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

export async function startPgInstance(): Promise<PgInstance> {
  const bin = pgBinDir();
  if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-pg-'));
  execFileSync('chown', ['postgres:postgres', dir]);
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200 -c shared_buffers=64MB`;
  const start = () => {
    asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', '-t', '60', 'start']);
  };
  start();
  return {
    port,
    url: (name = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${name}`,
    createDb(name) {
      asPostgres(join(bin, 'psql'), ['-h', dir, '-p', String(port), '-U', 'postgres', '-c', `CREATE DATABASE ${name}`]);
    },
    stop(mode = 'fast') {
      asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    },
    start,
    remove() {
      try {
        asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface SimResult {
  code: number | string;
  done: Record<string, unknown> | null;
  progress: Record<string, unknown>[];
  stderr: string;
}

export interface SimRun {
  readonly child: ChildProcess;
  /** Progress lines so far. */
  lines(): Record<string, unknown>[];
  /** Sent so far (from the last progress line). */
  sent(): number;
  wait(timeoutMs: number): Promise<SimResult>;
  kill(): void;
}

export interface SimOptions {
  endpoints: string[];
  token: string;
  dir: string;
  agents: number;
  vms: number;
  windows: number;
  windowMs: number;
  prefix: string;
  drainMs?: number;
  backoffMaxMs?: number;
  env?: Record<string, string>;
}

export const idsFileOf = (dir: string) => join(dir, 'sent.jsonl');

/** Runs simulated agents (src/bench/sim-agents.ts) as their own process. */
export function startSim(o: SimOptions): SimRun {
  const child = spawn(process.execPath, [SIM], {
    env: {
      PATH: process.env.PATH ?? '',
      SIM_ENDPOINTS: o.endpoints.join(','),
      SIM_TOKEN: o.token,
      SIM_DIR: join(o.dir, 'spools'),
      SIM_IDS_FILE: idsFileOf(o.dir),
      SIM_AGENTS: String(o.agents),
      SIM_VMS: String(o.vms),
      SIM_WINDOWS: String(o.windows),
      SIM_WINDOW_MS: String(o.windowMs),
      SIM_AGENT_PREFIX: o.prefix,
      SIM_DRAIN_MS: String(o.drainMs ?? 60_000),
      SIM_BACKOFF_MAX_MS: String(o.backoffMaxMs ?? 2000),
      ...(o.env ?? {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(l));
      } catch {
        stderr += `unparsable: ${l}\n`;
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    child,
    lines: () => lines,
    sent: () => Number([...lines].reverse().find((l) => l.event === 'progress')?.sent ?? 0),
    async wait(timeoutMs) {
      const code = await waitExit(child, timeoutMs);
      return { code, done: lines.find((l) => l.event === 'done') ?? null, progress: lines.filter((l) => l.event === 'progress'), stderr };
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    },
  };
}

/** Waits until the simulated agents have spooled at least n batches. */
export async function waitSent(sim: SimRun, n: number, timeoutMs: number): Promise<void> {
  await waitFor(() => sim.sent() >= n || sim.child.exitCode !== null, timeoutMs, `${n} batches spooled`, 100);
}

export async function audit(db: string, dir: string, prefix: string, vms: number): Promise<Audit> {
  return auditBatches(db, readSent(idsFileOf(dir)), prefix, vms);
}

/** One line for the test log: sent / stored / duplicated / lost (and partial). */
export function report(what: string, a: Audit): string {
  const line = `  ${what}: batches sent ${a.sent} / stored ${a.stored} / duplicated ${a.duplicated} / lost ${a.lost} (partial ${a.partial})`;
  process.stdout.write(`\n${line}\n`);
  return line;
}

/** Every secret that must never appear in a log, checked against the logs given. */
export function secretsIn(logs: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => s.length >= 8 && logs.includes(s));
}

export { sleep };
