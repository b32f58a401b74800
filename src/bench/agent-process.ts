// The whole agent for `npm run bench`: the real `vmpulse agent` process (discovery, the sampler
// pool, rates, windows, the host, its API), run over the bench's stand-ins. Its CPU comes from
// its own /proc/<pid>/stat (utime + stime cover the main thread and every worker thread), over a
// span of its own ticks counted by its /readyz; its RSS from /proc/<pid>/status at the end. It
// ships nothing (no endpoint) and nothing scrapes it while it is measured. It runs with the node
// flags of config/vmpulse-agent.service.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { distRoot, repoRoot } from '../paths.js';
import { cpuTicks, freePort, vmRssBytes } from './proc-usage.js';

export interface AgentProcessRun {
  /** Process CPU per VM per tick, µs. */
  usPerVm: number;
  /** The main thread's share of usPerVm (/proc/<pid>/task/<pid>/stat): what is not the sampler workers'. */
  mainUsPerVm: number;
  rssBytes: number;
  ticks: number;
  vmsObserved: number;
  intervalMs: number;
}

export interface AgentProcessOptions {
  vms: number;
  workers: number;
  intervalMs: number;
  warmupTicks: number;
  ticks: number;
  clockTicksPerSecond: number;
  /** Called with the child once spawned, so that the bench's cleanup can kill it by PID. */
  started(child: ChildProcess): void;
  /** A directory for a heap snapshot of the agent's main isolate, taken after the measured ticks (and the RSS reading). */
  heapDir?: string;
  /** A directory for V8 CPU profiles of the agent (main thread and each worker thread), over its whole run. */
  profileDir?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The node flags the shipped systemd unit starts the agent with (its ExecStart), so the bench measures the agent as deployed. */
export function unitNodeFlags(): string[] {
  const unit = readFileSync(join(repoRoot, 'config', 'vmpulse-agent.service'), 'utf8');
  const words = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.trim().split(/\s+/) ?? [];
  const node = words.findIndex((w) => w === 'node' || w.endsWith('/node'));
  return node < 0 ? [] : words.slice(node + 1).filter((w) => w.startsWith('--'));
}

function tail(file: string, size: number): string {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(Math.min(16, size));
    readSync(fd, b, 0, b.length, size - b.length);
    return b.toString();
  } finally {
    closeSync(fd);
  }
}

/** Signals the agent to write its main isolate's heap snapshot into `dir` and waits until the file is complete. */
async function heapSnapshot(child: ChildProcess, dir: string): Promise<void> {
  const before = new Set(readdirSync(dir));
  child.kill('SIGUSR2');
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    const size = file ? statSync(join(dir, file)).size : -1;
    // The snapshot ends with the strings table's closing brackets once written.
    if (file && size === last && size > 0 && tail(join(dir, file), size).includes(']}')) return;
    last = size;
    if (Date.now() > deadline) throw new Error(`no complete heap snapshot in ${dir}`);
  }
}

export async function runAgentProcess(o: AgentProcessOptions): Promise<AgentProcessRun> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  if (o.heapDir) mkdirSync(o.heapDir, { recursive: true });
  const heapFlags = o.heapDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${o.heapDir}`] : [];
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  const profFlags = o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${o.profileDir}`] : [];
  const child = spawn(process.execPath, [...unitNodeFlags(), ...heapFlags, ...profFlags, join(distRoot, 'src', 'cli.js'), 'agent'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      VMPULSE_LISTEN: `127.0.0.1:${port}`,
      VMPULSE_SAMPLE_INTERVAL_MS: String(o.intervalMs),
      VMPULSE_WINDOW_SECONDS: '60',
      VMPULSE_WORKERS: String(o.workers),
      VMPULSE_LOG_LEVEL: 'warn',
      VMPULSE_LOG_FORMAT: 'json',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  o.started(child);
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => (logs = (logs + d.toString()).slice(-20_000)));
  const health = async (): Promise<{ ticks: number; ready: boolean } | null> => {
    try {
      const r = await fetch(`${url}/readyz`);
      const b = (await r.json()) as { ticks: number; ready: boolean };
      return b;
    } catch {
      return null;
    }
  };
  const observed = async (): Promise<number> => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^vmpulse_agent_vms_observed (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  };
  // Start-up and discovery, then the warm-up and measured ticks at their interval, with room for overruns.
  const deadline = Date.now() + 120_000 + 2 * (o.warmupTicks + o.ticks) * o.intervalMs;
  const waitTicks = async (atLeast: number) => {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`vmpulse agent exited with ${child.exitCode}: ${logs}`);
      const h = await health();
      if (h && h.ready && h.ticks >= atLeast) return h.ticks;
      if (Date.now() > deadline) throw new Error(`vmpulse agent: no tick ${atLeast} in time: ${logs}`);
      // Asked again about when the tick is due: each request is the agent's CPU too (its API),
      // and polling 5 times a tick through the measured span added ~1 µs per VM per tick.
      const behind = h ? atLeast - h.ticks : 1;
      await sleep(Math.max(Math.min(200, o.intervalMs / 4), (behind - 1) * o.intervalMs));
    }
  };
  try {
    await waitTicks(1);
    // Every stand-in discovered and read before the warm-up starts (others' VMs may add a few).
    let vms = await observed();
    while (vms < o.vms) {
      if (Date.now() > deadline) throw new Error(`vmpulse agent sees ${vms} of ${o.vms} VMs`);
      await sleep(500);
      vms = await observed();
    }
    const start = await waitTicks(((await health())?.ticks ?? 0) + o.warmupTicks);
    const c0 = cpuTicks(child.pid!);
    const m0 = cpuTicks(child.pid!, child.pid!);
    const end = await waitTicks(start + o.ticks);
    const c1 = cpuTicks(child.pid!);
    const m1 = cpuTicks(child.pid!, child.pid!);
    const rss = vmRssBytes(child.pid!);
    const ticks = end - start;
    const cpuUs = ((c1 - c0) / o.clockTicksPerSecond) * 1e6;
    if (o.heapDir) await heapSnapshot(child, o.heapDir);
    const mainUs = ((m1 - m0) / o.clockTicksPerSecond) * 1e6;
    return { usPerVm: cpuUs / ticks / vms, mainUsPerVm: mainUs / ticks / vms, rssBytes: rss, ticks, vmsObserved: vms, intervalMs: o.intervalMs };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    }
  }
}
