// Many stand-in VMs for the agent bench: the test suite's C stand-in (test/helpers/standin.c),
// hard-linked once as `crosvm` so that discovery classifies it by its exe, each instance with two
// threads named like crosvm's vCPU threads and one real TAP it creates itself through TUNSETIFF
// (IPv6 off, then up; the device disappears with the process). Lighter than the test helper on
// purpose: no status file and no temp dir per instance, and the READY pipe is closed once read,
// so 1,000 stand-ins do not cost the bench 2,000 fds.
// They run in pulse mode (VPT_PULSE_MS): once a second, at a phase of their own, vCPU 0 really
// burns PULSE_BURN_US of CPU and one frame goes into the TAP, so the agent reads counters that
// move; between pulses every thread is blocked (futex, poll, sigtimedwait), so 1,000 stand-ins
// cost about a thousand wake-ups a second, not the 100,000 of a 10 ms poll each.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';

/** `cc -O2 <source>` into a cache dir keyed by the source's hash; returns the binary. */
export function compileC(source: string, extraFlags: string[] = []): string {
  const flags = ['-O2', '-pthread', '-Wall', ...extraFlags];
  const hash = createHash('sha256').update(readFileSync(source)).update(flags.join(' ')).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `vmpulse-bench-cc-${hash}`);
  const out = join(dir, 'a.out');
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync('cc', [...flags, '-o', tmp, source], { stdio: ['ignore', 'inherit', 'inherit'] });
    renameSync(tmp, out);
  }
  return out;
}

/** The stand-ins' duty cycle: a pulse every PULSE_MS, PULSE_BURN_US of vCPU 0, PULSE_TX_BYTES into the TAP. */
export const PULSE_MS = 1000;
export const PULSE_BURN_US = 100;
export const PULSE_TX_BYTES = 1000;

export interface BenchStandin {
  readonly pid: number;
  readonly tap: string;
  readonly child: ChildProcess;
}

export class StandinFleet {
  readonly members: BenchStandin[] = [];
  private readonly dir = mkdtempSync(join(tmpdir(), 'vpt-bench-'));
  /** The stand-ins' exe, also their argv[0]. */
  readonly exe = join(this.dir, 'crosvm');
  private tapSeq = 0;

  constructor() {
    linkSync(compileC(join(repoRoot, 'test', 'helpers', 'standin.c')), this.exe);
  }

  /** Unique per bench process: `vpt` + pid + `b` + counter, at most 15 characters. */
  private tapName(): string {
    const name = `vpt${process.pid.toString(36)}b${(this.tapSeq++).toString(36)}`;
    if (name.length > 15) throw new Error(`TAP name ${name} too long`);
    return name;
  }

  /** Regex of the command-line part that names one stand-in VM (`vm<i>`, in group `vm`). */
  static readonly VM_PATTERN = String.raw`--socket\s+\S*/(?P<vm>vm\d+)\.sock`;

  private startOne(i: number): Promise<BenchStandin> {
    const tap = this.tapName();
    const child = spawn(this.exe, ['run', '--cpus', '2', '--mem', '64', '--socket', join(this.dir, `vm${i}.sock`), '--net', `tap-name=${tap}`, '/kernel'], {
      argv0: this.exe,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        VPT_THREADS: '2',
        VPT_THREAD_NAME_FMT: 'crosvm_vcpu%d',
        VPT_TAPS: tap,
        VPT_BURN: '0',
        VPT_PULSE_MS: String(PULSE_MS),
        VPT_PULSE_BURN_US: String(PULSE_BURN_US),
        VPT_PULSE_TX_BYTES: String(PULSE_TX_BYTES),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Registered before READY so that cleanup finds it whatever happens next.
    const member = { pid: child.pid!, tap, child };
    if (child.pid !== undefined) this.members.push(member);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`stand-in ${child.pid} not READY after 30 s`)), 30_000);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`stand-in exited (${code ?? sig}) before READY`));
      });
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          child.stdout!.destroy();
          if (out.startsWith('READY ')) resolve(member);
          else reject(new Error(`stand-in said: ${out}`));
        }
      });
    });
  }

  /** Starts n stand-ins, `batch` at a time. */
  async start(n: number, batch = 50): Promise<void> {
    for (let i = 0; i < n; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => this.startOne(i + j)));
    }
  }

  /** SIGKILL every stand-in by its PID, then delete any TAP of ours still present. Idempotent. */
  stopAll(): void {
    for (const m of this.members) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A TAP created by TUNSETIFF goes with its last fd; wait a little for the exits, then
    // remove by name whatever is left (for instance a TAP some other process still held).
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && this.members.some((m) => existsSync(`/proc/${m.pid}`) && !isZombie(m.pid))) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    for (const m of this.members) {
      if (!existsSync(`/sys/class/net/${m.tap}`)) continue;
      try {
        execFileSync('ip', ['link', 'del', m.tap], { stdio: 'ignore' });
      } catch {
        // gone meanwhile
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isZombie(pid: number): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}
