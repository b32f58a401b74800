// Process utilities for tests: the kernel's own CPU accounting, bounded waits, fd counts, and a
// few odd processes (a comm with spaces and ')', a process that exits when told to).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let ticks: number | undefined;
/** Clock ticks per second (USER_HZ), from `getconf CLK_TCK`. */
export function clockTicks(): number {
  if (ticks === undefined) {
    ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (!Number.isInteger(ticks) || ticks <= 0) throw new Error(`getconf CLK_TCK gave ${ticks}`);
  }
  return ticks;
}

/** Fields of a /proc stat line after the comm: index 0 is field 3 (state). */
function statFields(text: string): string[] {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`no ')' in stat line: ${text}`);
  return text.slice(close + 2).trim().split(' ');
}

/** The comm of a stat line, between the first '(' and the last ')'. */
export function statComm(text: string): string {
  return text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
}

/** utime+stime of a process (all its threads) in clock ticks, from /proc/<pid>/stat. */
export function cpuTicks(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const f = statFields(readFileSync(path, 'utf8'));
  return Number(f[11]) + Number(f[12]); // fields 14 (utime) and 15 (stime)
}

/** utime+stime in seconds; with a tid, that thread's alone. */
export function cpuSeconds(pid: number, tid?: number): number {
  return cpuTicks(pid, tid) / clockTicks();
}

/** Run time and run-queue wait of a thread in seconds, from /proc/<pid>/task/<tid>/schedstat. */
export function schedstat(pid: number, tid: number): { runS: number; waitS: number } {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  return { runS: run / 1e9, waitS: wait / 1e9 };
}

/**
 * CPU time the hypervisor under this machine took from it (steal), summed over all CPUs, in
 * seconds since boot: the aggregate `cpu` line of /proc/stat, field 8. A busy thread loses it on
 * top of its run-queue wait, so CPU ground truth on a VM host allows for it.
 */
export function hostStealSeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no cpu line in /proc/stat');
  return Number(line.trim().split(/\s+/)[8]) / clockTicks();
}

/** Resident set size in bytes, from /proc/<pid>/statm and the page size. */
export function rssBytes(pid: number): number {
  const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
  return pages * pageSize();
}

let page: number | undefined;
export function pageSize(): number {
  page ??= Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim());
  return page;
}

/** Thread id → comm of every thread of a process (empty when it is gone). */
export function threadNames(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      out.set(Number(t), readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').replace(/\n$/, ''));
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/** argv of a process, from /proc/<pid>/cmdline. */
export function cmdline(pid: number): string[] {
  const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  return raw.split('\0').slice(0, -1);
}

/** Target of /proc/<pid>/exe. */
export function exeOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/exe`);
}

/** fd number → the `iff:` TAP name in its fdinfo, for every tun fd the process holds. */
export function tunFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== '/dev/net/tun') continue;
      const m = /^iff:\t(.+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) out.set(Number(fd), m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Whether a process (or zombie) with this PID exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Number of open fds of this process (to check that code under test closes what it opens). */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `predicate` until it returns a truthy value and returns that value; throws after
 * `timeoutMs` (uvu has no per-test timeout, so every wait must be bounded). Exceptions from the
 * predicate count as "not yet" and the last one is reported on timeout.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  what = 'condition',
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/**
 * `promise`'s value, or an error naming `what` if it has not settled within `timeoutMs`: a bound
 * on a call that must end by itself (a timeout inside the code under test), not a measure of it.
 */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the exit code (or signal name) once the child has exited; bounded. */
export function waitExit(child: ChildProcess, timeoutMs = 5000): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      resolve(code ?? sig ?? -1);
    });
  });
}

/** SIGTERM the child by its PID, SIGKILL after `graceMs`, and wait until it is reaped. */
export async function killChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitExit(child, graceMs + 5000);
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  const t = setTimeout(() => {
    try {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(t);
  }
}

function which(cmd: string): string {
  return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
}

export interface TestProcess {
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A long-lived process whose comm is `name` (default `a) b (c`: spaces and parentheses, the case
 * that breaks naive /proc/<pid>/stat parsing): a copy of `sleep` under that file name.
 */
export async function startOddComm(name = 'a) b (c'): Promise<TestProcess & { comm: string; exePath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-comm-'));
  const exePath = join(dir, name);
  copyFileSync(which('sleep'), exePath);
  execFileSync('chmod', ['755', exePath]);
  const child = spawn(exePath, ['1000'], { stdio: 'ignore' });
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error('could not start the odd-comm process');
  }
  const comm = name.slice(0, 15);
  await waitFor(() => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd() === comm;
    } catch {
      return false;
    }
  }, 5000, `comm of ${pid}`);
  return {
    pid,
    child,
    comm,
    exePath,
    async stop() {
      try {
        await killChild(child);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A process that waits until told to exit, then exits with the given code. */
export function startExitOnDemand(): TestProcess & { exit(code?: number): Promise<number | string> } {
  const child = spawn('sh', ['-c', 'read code; exit "$code"'], { stdio: ['pipe', 'ignore', 'ignore'] });
  if (child.pid === undefined) throw new Error('could not start sh');
  return {
    pid: child.pid,
    child,
    async exit(code = 0) {
      const done = waitExit(child);
      child.stdin?.end(`${code}\n`);
      return done;
    },
    stop: () => killChild(child),
  };
}
