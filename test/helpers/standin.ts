// Stand-ins for Cloud Hypervisor, Firecracker and crosvm: the C program standin.c, hard-linked as
// <tmp>/<unique dir>/<real binary name> so that /proc/<pid>/exe ends in the real name, started with
// the argv the caller gives (a real one's argv), and configured only through environment:
//
//   VPT_THREADS=N               N threads named by VPT_THREAD_NAME_FMT (default by kind:
//                               `vcpu%d` cloud-hypervisor, `fc_vcpu %d` firecracker,
//                               `crosvm_vcpu%d` crosvm); names are cut to 15 characters
//   VPT_EXTRA_THREADS=a,b       more sleeping threads with these names (e.g. `vmm,http-server`)
//   VPT_BURN=0,2 | all          which named threads busy-loop (really burn CPU); others sleep
//   VPT_BURN_DUTY=0..100        busy share of every 10 ms period (default 100)
//   VPT_TAPS=tap1,tap2          open /dev/net/tun + TUNSETIFF(IFF_TAP|IFF_NO_PI) per name and hold
//                               the fd; an existing device is attached, a missing one is created
//                               by the ioctl (then IPv6 off and up by the stand-in; it vanishes
//                               when the stand-in exits)
//   VPT_TX_BYTES_PER_SEC=K      write frames into every TAP at K bytes/s (the TAP's rx_bytes)
//   VPT_TX_TOTAL=N              stop after exactly N bytes per TAP (as fast as possible if no rate)
//   VPT_TX_FRAME_SIZE=S         frame size, default 1000: broadcast dst, src 02:56:50:54:00:01,
//                               ethertype 0x88b5; the last frame is shortened to hit N exactly
//   VPT_READ_PAUSED=1           start without reading frames the host sends into the TAPs
//                               (SIGUSR2 starts reading, SIGWINCH stops it again)
//   VPT_TOUCH_MB=M              allocate and touch M MiB before READY
//   VPT_PULSE_MS=P              pulse mode, for many stand-ins at a low duty cycle: once every P ms
//                               (at a phase taken from the pid) the main thread wakes, every
//                               VPT_BURN thread burns VPT_PULSE_BURN_US µs (woken through one
//                               futex, blocked on it otherwise) and VPT_PULSE_TX_BYTES are written
//                               into every TAP; nothing else wakes between pulses
//   VPT_API_SOCKET=path         serve HTTP/1.1 there: every GET → 200 + VPT_API_BODY_FILE's
//                               content (re-read per request), other methods → 204
//                               (or VPT_API_BODY_FILE.<path, '/' → '_'> when that file exists)
//   VPT_API_HANG=1              accept connections on the API socket and never answer
//   VPT_PDEATHSIG=0             do not die with the parent (default: SIGTERM when it dies)
//   VPT_STATUS_FILE=path        JSON counters, rewritten (atomically) on SIGUSR1, SIGUSR2,
//                               SIGWINCH and at exit
// It prints `READY <status json>` on stdout once threads are named, TAPs open and memory touched,
// and exits 0 on SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { standinBinary } from './cc.js';
import { killChild, sleep, waitFor } from './procs.js';

export type StandinKind = 'cloud-hypervisor' | 'firecracker' | 'crosvm';

/** Thread names of the real hypervisors' vCPU threads (measured; see DESIGN.md section 4). */
export const VCPU_NAME_FMT: Record<StandinKind, string> = {
  'cloud-hypervisor': 'vcpu%d',
  firecracker: 'fc_vcpu %d',
  crosvm: 'crosvm_vcpu%d',
};

export function vcpuName(kind: StandinKind, i: number): string {
  return VCPU_NAME_FMT[kind].replace('%d', String(i));
}

export interface StandinOptions {
  kind: StandinKind;
  /** argv after argv[0], as the real binary would get it. */
  argv: string[];
  /** argv[0]; default the stand-in's absolute path. */
  argv0?: string;
  threads?: number;
  threadNameFmt?: string;
  extraThreads?: string[];
  burn?: number[] | 'all';
  burnDuty?: number;
  taps?: string[];
  txBytesPerSec?: number;
  txTotal?: number;
  frameSize?: number;
  readPaused?: boolean;
  touchMiB?: number;
  pulseMs?: number;
  pulseBurnUs?: number;
  pulseTxBytes?: number;
  apiSocket?: string;
  /** Body of every GET on the API socket (an object is JSON-encoded). */
  apiBody?: string | object;
  /** Bodies of particular GET paths (e.g. `/api/v1/vm.counters`); other paths get apiBody. */
  apiBodies?: Record<string, string | object>;
  apiHang?: boolean;
  /** Extra raw environment (merged last). */
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface StandinTapStatus {
  name: string;
  fd: number;
  created: boolean;
  /** Bytes/frames the stand-in wrote into the TAP: the TAP's rx side. */
  written_bytes: number;
  written_frames: number;
  write_errors: number;
  writer_done: boolean;
  /** Bytes/frames the stand-in read from the TAP (sent by the host): the TAP's tx side. */
  read_bytes: number;
  read_frames: number;
}

export interface StandinStatus {
  seq: number;
  pid: number;
  final: boolean;
  tids: number[];
  threads: { tid: number; name: string; burn: boolean }[];
  taps: StandinTapStatus[];
  reading: boolean;
  api_requests: number;
  touched_mb: number;
  /** Pulses done so far (VPT_PULSE_MS). */
  pulses: number;
}

export interface Standin {
  kind: StandinKind;
  pid: number;
  /** tids of the named (vCPU-like) threads, in index order, then the extra threads. */
  tids: number[];
  exePath: string;
  dir: string;
  child: ChildProcess;
  ready: StandinStatus;
  /** Fresh counters (SIGUSR1, then waits for the rewritten status file). */
  status(): Promise<StandinStatus>;
  /** Start (or stop) reading frames the host sends into the TAPs. */
  setReading(on: boolean): Promise<StandinStatus>;
  /** SIGTERM by PID (SIGKILL after a grace period), wait, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Replace the body the API socket serves from the next request on (of `path` when given). */
  setApiBody(body: string | object, path?: string): void;
  /** Output on stderr so far (for failure messages). */
  stderr(): string;
}

/** The stand-in's body file for one GET path (see VPT_API_BODY_FILE above). */
function apiPathFile(bodyFile: string, path: string): string {
  return `${bodyFile}.${path.replace(/[/?]/g, '_')}`;
}

export async function startStandin(opts: StandinOptions): Promise<Standin> {
  const bin = standinBinary();
  const dir = mkdtempSync(join(tmpdir(), 'vpt-standin-'));
  const exePath = join(dir, opts.kind);
  try {
    linkSync(bin, exePath);
  } catch {
    copyFileSync(bin, exePath);
  }
  const statusFile = join(dir, 'status.json');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    VPT_STATUS_FILE: statusFile,
    VPT_THREADS: String(opts.threads ?? 0),
    VPT_THREAD_NAME_FMT: opts.threadNameFmt ?? VCPU_NAME_FMT[opts.kind],
  };
  if (opts.extraThreads?.length) env.VPT_EXTRA_THREADS = opts.extraThreads.join(',');
  if (opts.burn !== undefined) env.VPT_BURN = opts.burn === 'all' ? 'all' : opts.burn.join(',');
  if (opts.burnDuty !== undefined) env.VPT_BURN_DUTY = String(opts.burnDuty);
  if (opts.taps?.length) env.VPT_TAPS = opts.taps.join(',');
  if (opts.txBytesPerSec !== undefined) env.VPT_TX_BYTES_PER_SEC = String(opts.txBytesPerSec);
  if (opts.txTotal !== undefined) env.VPT_TX_TOTAL = String(opts.txTotal);
  if (opts.frameSize !== undefined) env.VPT_TX_FRAME_SIZE = String(opts.frameSize);
  if (opts.readPaused) env.VPT_READ_PAUSED = '1';
  if (opts.touchMiB !== undefined) env.VPT_TOUCH_MB = String(opts.touchMiB);
  if (opts.pulseMs !== undefined) env.VPT_PULSE_MS = String(opts.pulseMs);
  if (opts.pulseBurnUs !== undefined) env.VPT_PULSE_BURN_US = String(opts.pulseBurnUs);
  if (opts.pulseTxBytes !== undefined) env.VPT_PULSE_TX_BYTES = String(opts.pulseTxBytes);
  if (opts.apiSocket) {
    env.VPT_API_SOCKET = opts.apiSocket;
    const bodyFile = join(dir, 'api-body.json');
    const body = opts.apiBody ?? {};
    writeFileSync(bodyFile, typeof body === 'string' ? body : JSON.stringify(body));
    for (const [path, b] of Object.entries(opts.apiBodies ?? {})) writeFileSync(apiPathFile(bodyFile, path), typeof b === 'string' ? b : JSON.stringify(b));
    env.VPT_API_BODY_FILE = bodyFile;
    if (opts.apiHang) env.VPT_API_HANG = '1';
  }
  Object.assign(env, opts.env);

  const child = spawn(exePath, opts.argv, {
    argv0: opts.argv0 ?? exePath,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await killChild(child);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  let ready: StandinStatus;
  try {
    const line = await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`stand-in exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
        }
        return /^READY (.*)$/m.exec(stdout)?.[1];
      },
      opts.readyTimeoutMs ?? 10_000,
      `READY from the ${opts.kind} stand-in`,
      10,
    );
    ready = JSON.parse(line) as StandinStatus;
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}${stderr ? `\nstderr: ${stderr.trim()}` : ''}`);
  }
  const pid = child.pid!;

  const readStatus = (): StandinStatus | undefined => {
    try {
      return JSON.parse(readFileSync(statusFile, 'utf8')) as StandinStatus;
    } catch {
      return undefined;
    }
  };
  // Signals are served one at a time by the stand-in's main thread, each bumping seq by one.
  const signalled = async (sig: NodeJS.Signals): Promise<StandinStatus> => {
    const before = readStatus()?.seq ?? 0;
    process.kill(pid, sig);
    return waitFor(
      () => {
        const s = readStatus();
        return s && s.seq > before ? s : undefined;
      },
      5000,
      `status from stand-in ${pid}`,
      5,
    );
  };

  return {
    kind: opts.kind,
    pid,
    tids: ready.tids,
    exePath,
    dir,
    child,
    ready,
    status: () => signalled('SIGUSR1'),
    setReading: (on) => signalled(on ? 'SIGUSR2' : 'SIGWINCH'),
    stop,
    setApiBody(body, path) {
      if (!opts.apiSocket) throw new Error('this stand-in has no API socket');
      const tmp = join(dir, 'api-body.json.tmp');
      writeFileSync(tmp, typeof body === 'string' ? body : JSON.stringify(body));
      const bodyFile = join(dir, 'api-body.json');
      renameSync(tmp, path === undefined ? bodyFile : apiPathFile(bodyFile, path));
    },
    stderr: () => stderr,
  };
}

/** Waits until every TAP writer of the stand-in has written its VPT_TX_TOTAL. */
export async function waitWritersDone(s: Standin, timeoutMs = 10_000): Promise<StandinStatus> {
  return waitFor(
    async () => {
      const st = await s.status();
      return st.taps.every((t) => t.writer_done) ? st : undefined;
    },
    timeoutMs,
    'stand-in TAP writers to finish',
    50,
  );
}

export { sleep };
