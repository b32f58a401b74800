// Discovery: which processes on this host are hypervisors, and what their VMs are.
//
// A process is known by `${pid}:${starttime}`. Every PID is classified once: non-hypervisors are
// remembered and never parsed again, hypervisors become DiscoveredVm. Re-scans avoid reading
// every stat by using the PID allocator's cursor (pid-reuse.ts); a known PID that may have been
// reused has its stat re-read, and a different starttime makes it a new process (old one
// removed, new one added). Two things change a process without changing its key and are
// watched: exec (libvirt's forked child becoming qemu, the jailer becoming firecracker), checked
// on the exe link while a process is young; and vCPU threads / TAPs that appear after start,
// re-read while a VM has fewer vCPU threads than vCPUs, for a while after discovery.
// Nothing here throws: failures are counted in stats.errors by kind, deliberate skips in
// stats.skipped.
import { performance } from 'node:perf_hooks';
import type { Outcome } from '../readers/outcome.js';
import { parseProcStat, type ProcStat } from '../readers/parse-proc-stat.js';
import { systemConstants } from '../readers/system.js';
import { DEFAULT_API_TIMEOUT_MS, getJson } from './api-client.js';
import { findCpuCgroup } from './cgroup.js';
import { classify } from './classify.js';
import { parseCloudHypervisorArgv, parseVmInfo } from './cloud-hypervisor.js';
import { basename, splitCmdline } from './cmdline.js';
import type { ApiConfig, HypervisorConfig } from './config.js';
import { parseCrosvmArgv } from './crosvm.js';
import { parseFirecrackerArgv, parseFirecrackerConfig, type FirecrackerConfig } from './firecracker.js';
import { resolveIdentity } from './identity.js';
import { parseCounters, reuseWindow, type PidCounters } from './pid-reuse.js';
import { listDir, readBytes, readLink, readText } from './proc-io.js';
import { parseQemuArgv, type QemuConfig } from './qemu.js';
import { mergeTaps, readTunTaps } from './taps.js';
import { readVcpuTids } from './threads.js';
import type { DiscoveredVm, Hypervisor } from './vm.js';

export interface DiscoveryOptions {
  readonly procRoot?: string;
  readonly sysRoot?: string;
  /** Deadline of one API question (CH vm.info, Firecracker /vm/config); default 500 ms. */
  readonly apiTimeoutMs?: number;
  /** How long after a process started its exe is re-checked for an exec; default 10 s. */
  readonly execGraceMs?: number;
  /** How long after discovery incomplete vCPU threads / TAPs are re-read; default 5 min. */
  readonly refreshWindowMs?: number;
  /** Wall clock, ms; tests may replace it. */
  readonly now?: () => number;
}

export interface ScanStats {
  /** PID entries listed in the proc root. */
  scanned: number;
  /** New processes classified (cmdline and exe read). */
  parsed: number;
  /** stat files read (new PIDs and known PIDs that may have been reused). */
  statReads: number;
  /** Young processes whose exe was re-checked for an exec. */
  rechecked: number;
  /** Known VMs whose threads / TAPs were re-read. */
  refreshed: number;
  /** API questions asked this scan. */
  apiCalls: number;
  /** 'window': only PIDs the allocator may have reused were re-checked; 'all': every known PID. */
  reuseCheck: 'window' | 'all';
  durationMs: number;
  /** Failures by kind (`gone`, `denied`, `cmdline-gone`, `api-io`, ...). */
  errors: Record<string, number>;
  /** Deliberate skips by reason (`kernel-thread`, `hypervisor-child`, ...). */
  skipped: Record<string, number>;
}

export interface ScanResult {
  readonly all: DiscoveredVm[];
  readonly added: DiscoveredVm[];
  readonly removed: DiscoveredVm[];
  /** Known VMs whose vCPU threads, TAPs or thread-derived vCPU count changed. */
  readonly updated: DiscoveredVm[];
  readonly stats: ScanStats;
}

interface OtherEntry {
  readonly kind: 'other';
  readonly starttime: number;
  readonly exe: string | null;
  /** Wall ms until which an exec is watched for; null = never (kernel threads, unknown age). */
  readonly execWatchUntil: number | null;
}

interface VmEntry {
  readonly kind: 'vm';
  readonly starttime: number;
  vm: DiscoveredVm;
  /** False for QEMU without debug-threads=on: its vCPU threads never get recognisable names. */
  readonly threadsNamed: boolean;
}

type Entry = OtherEntry | VmEntry;

interface Candidate {
  readonly pid: number;
  readonly stat: ProcStat;
  readonly hypervisor: Hypervisor;
  readonly argv: string[];
  readonly exe: string | null;
}

const UNIX_PATH_MAX = 107;

export class Discovery {
  readonly procRoot: string;
  readonly sysRoot: string;
  private readonly apiTimeoutMs: number;
  private readonly execGraceMs: number;
  private readonly refreshWindowMs: number;
  private readonly now: () => number;
  private readonly byPid = new Map<number, Entry>();
  private readonly apiCache = new Map<string, Promise<Outcome<unknown>>>();
  private counters: PidCounters | null = null;
  private ticksPerSecond: number | null = null;

  constructor(options: DiscoveryOptions = {}) {
    this.procRoot = (options.procRoot ?? '/proc').replace(/\/+$/, '') || '/';
    this.sysRoot = (options.sysRoot ?? '/sys').replace(/\/+$/, '') || '/';
    this.apiTimeoutMs = options.apiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.execGraceMs = options.execGraceMs ?? 10_000;
    this.refreshWindowMs = options.refreshWindowMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** The VMs known after the last scan. */
  known(): DiscoveredVm[] {
    const out: DiscoveredVm[] = [];
    for (const e of this.byPid.values()) if (e.kind === 'vm') out.push(e.vm);
    return out.sort((a, b) => a.pid - b.pid);
  }

  async scan(): Promise<ScanResult> {
    const t0 = performance.now();
    const stats: ScanStats = {
      scanned: 0,
      parsed: 0,
      statReads: 0,
      rechecked: 0,
      refreshed: 0,
      apiCalls: 0,
      reuseCheck: 'all',
      durationMs: 0,
      errors: {},
      skipped: {},
    };
    const added: DiscoveredVm[] = [];
    const removed: DiscoveredVm[] = [];
    const updated: DiscoveredVm[] = [];
    const finish = (): ScanResult => {
      stats.durationMs = Math.round((performance.now() - t0) * 1000) / 1000;
      return { all: this.known(), added, removed, updated, stats };
    };

    const listing = listDir(this.procRoot, false);
    if (!listing.ok) {
      // Keep what we know: an unreadable proc root says nothing about the VMs.
      count(stats.errors, `proc-root-${listing.kind}`);
      return finish();
    }
    // Counters after the listing: any reuse before the listing then falls inside the window.
    const sys = this.readSystem();
    const window = reuseWindow(this.counters, sys.counters);
    this.counters = sys.counters;
    stats.reuseCheck = window === 'all' ? 'all' : 'window';
    const nowMs = this.now();

    const drop = (pid: number): void => {
      const e = this.byPid.get(pid);
      this.byPid.delete(pid);
      if (e?.kind === 'vm') {
        removed.push(e.vm);
        for (const k of this.apiCache.keys()) if (k.startsWith(`${e.vm.key}|`)) this.apiCache.delete(k);
      }
    };
    const readStat = (pid: number): Outcome<ProcStat> => {
      stats.statReads++;
      const b = readBytes(`${this.procRoot}/${pid}/stat`);
      return b.ok ? parseProcStat(b.value) : b;
    };

    const seen = new Set<number>();
    const candidates: Candidate[] = [];
    for (const name of listing.value) {
      if (!isPidName(name)) continue;
      const pid = Number(name);
      stats.scanned++;
      seen.add(pid);
      const known = this.byPid.get(pid);
      let stat: ProcStat | null = null;
      if (known && (window === 'all' || window(pid))) {
        const st = readStat(pid);
        if (!st.ok) {
          count(stats.errors, st.kind);
          if (st.kind === 'gone') {
            drop(pid);
            seen.delete(pid);
          }
          continue;
        }
        if (st.value.starttime !== known.starttime) {
          drop(pid);
          stat = st.value;
        }
      }
      const current = this.byPid.get(pid);
      if (current) {
        if (current.kind === 'other' && current.execWatchUntil !== null && nowMs <= current.execWatchUntil) {
          stats.rechecked++;
          const exe = readLink(`${this.procRoot}/${pid}/exe`);
          if (exe.ok && basename(exe.value) !== current.exe) {
            // exec'd into something else: classify afresh under the same key.
            this.byPid.delete(pid);
            const st = readStat(pid);
            if (st.ok && st.value.starttime === current.starttime) stat = st.value;
            else continue;
          } else continue;
        } else continue;
      }
      if (!stat) {
        const st = readStat(pid);
        if (!st.ok) {
          count(stats.errors, st.kind);
          if (st.kind === 'gone') seen.delete(pid);
          continue;
        }
        stat = st.value;
      }
      const c = this.examine(pid, stat, stats, sys.bootMs);
      if (c) candidates.push(c);
    }
    for (const pid of [...this.byPid.keys()]) if (!seen.has(pid)) drop(pid);

    // crosvm forks its device processes without exec: same exe, same argv, parent a VM.
    const candidateByPid = new Map(candidates.map((c) => [c.pid, c]));
    const real = candidates.filter((c) => {
      const parent = this.byPid.get(c.stat.ppid);
      const parentArgv =
        parent?.kind === 'vm' ? parent.vm.argv : (candidateByPid.get(c.stat.ppid)?.argv ?? null);
      if (parentArgv && sameArgv(parentArgv, c.argv)) {
        count(stats.skipped, 'hypervisor-child');
        this.byPid.set(c.pid, { kind: 'other', starttime: c.stat.starttime, exe: c.exe, execWatchUntil: null });
        return false;
      }
      return true;
    });

    const built = await Promise.all(real.map((c) => this.build(c, stats, nowMs)));
    for (const b of built) {
      if (!b) continue;
      this.byPid.set(b.vm.pid, { kind: 'vm', starttime: b.vm.starttime, vm: b.vm, threadsNamed: b.threadsNamed });
      added.push(b.vm);
    }

    for (const [pid, e] of this.byPid) {
      if (e.kind !== 'vm' || added.includes(e.vm)) continue;
      const next = this.refresh(pid, e, stats, nowMs);
      if (next) {
        e.vm = next;
        updated.push(next);
      }
    }
    return finish();
  }

  /** Reads cmdline and exe of a new process; remembers non-hypervisors. */
  private examine(pid: number, stat: ProcStat, stats: ScanStats, bootMs: number | null): Candidate | null {
    const raw = readBytes(`${this.procRoot}/${pid}/cmdline`);
    if (!raw.ok) {
      count(stats.errors, `cmdline-${raw.kind}`);
      // Gone: not listed next time. Denied: will stay denied; do not ask again.
      if (raw.kind !== 'gone') this.remember(pid, stat, null, null);
      return null;
    }
    stats.parsed++;
    const argv = splitCmdline(raw.value);
    if (argv.length === 0) {
      count(stats.skipped, 'kernel-thread');
      this.remember(pid, stat, null, null);
      return null;
    }
    const link = readLink(`${this.procRoot}/${pid}/exe`);
    const exe = link.ok ? basename(link.value) : null;
    const hypervisor = classify(exe, argv);
    if (!hypervisor) {
      const watch = bootMs === null ? null : bootMs + (stat.starttime * 1000) / this.hz() + this.execGraceMs;
      this.remember(pid, stat, exe, watch);
      return null;
    }
    return { pid, stat, hypervisor, argv, exe };
  }

  private remember(pid: number, stat: ProcStat, exe: string | null, execWatchUntil: number | null): void {
    this.byPid.set(pid, { kind: 'other', starttime: stat.starttime, exe, execWatchUntil });
  }

  private hz(): number {
    if (this.ticksPerSecond === null) {
      try {
        this.ticksPerSecond = systemConstants().clockTicksPerSecond;
      } catch {
        this.ticksPerSecond = 100;
      }
    }
    return this.ticksPerSecond;
  }

  private async build(
    c: Candidate,
    stats: ScanStats,
    nowMs: number,
  ): Promise<{ vm: DiscoveredVm; threadsNamed: boolean } | null> {
    const { pid } = c;
    const key = `${pid}:${c.stat.starttime}`;
    const parsed = parseConfig(c.hypervisor, c.argv);
    if (!parsed.ok) {
      count(stats.errors, `argv-${parsed.kind}`);
      this.remember(pid, c.stat, c.exe, null);
      return null;
    }
    const config = parsed.value;
    if (config.warnings.length > 0) count(stats.errors, 'argv-warning');

    const base = `${this.procRoot}/${pid}`;
    const root = readLink(`${base}/root`);
    const cwd = readLink(`${base}/cwd`);
    // Paths in argv are the process's own: resolve them through its root (a jail) and cwd.
    const hostPath = (p: string): string =>
      p.startsWith('/') ? joinPath(root.ok ? root.value : '/', p) : joinPath(cwd.ok ? cwd.value : '/', p);
    const accessPath = (p: string): string => (p.startsWith('/') ? `${base}/root${p}` : `${base}/cwd/${p}`);
    const socketPath = (p: string): string => {
      const via = accessPath(p);
      return via.length <= UNIX_PATH_MAX ? via : hostPath(p);
    };
    const socketHost = config.apiSocket ? hostPath(config.apiSocket) : null;

    let fromFile: ApiConfig | null = null;
    const configFile = (config as FirecrackerConfig).configFile;
    if (c.hypervisor === 'firecracker' && configFile) {
      const text = readText(accessPath(configFile), false);
      if (!text.ok) count(stats.errors, `config-file-${text.kind}`);
      else {
        try {
          fromFile = parseFirecrackerConfig(JSON.parse(text.value));
        } catch {
          /* counted below */
        }
        if (!fromFile) count(stats.errors, 'config-file-malformed');
      }
    }

    let fromApi: ApiConfig | null = null;
    const needApi =
      config.apiSocket !== null &&
      ((c.hypervisor === 'cloud-hypervisor' && (config.vcpus === null || config.memoryBytes === null)) ||
        (c.hypervisor === 'firecracker' && fromFile === null));
    if (needApi) {
      const path = c.hypervisor === 'cloud-hypervisor' ? '/api/v1/vm.info' : '/vm/config';
      const answer = await this.askOnce(key, socketPath(config.apiSocket!), path, stats);
      if (!answer.ok) count(stats.errors, `api-${answer.kind}`);
      else {
        fromApi = c.hypervisor === 'cloud-hypervisor' ? parseVmInfo(answer.value) : parseFirecrackerConfig(answer.value);
        if (!fromApi) count(stats.errors, 'api-malformed');
      }
    }

    const tids = readVcpuTids(this.procRoot, pid, c.hypervisor);
    if (!tids.ok) {
      count(stats.errors, tids.kind);
      if (tids.kind === 'gone') return null;
    }
    const vcpuTids = tids.ok ? tids.value : [];
    const tun = readTunTaps(this.procRoot, pid);
    if (!tun.ok) count(stats.errors, `taps-${tun.kind}`);
    const cg = findCpuCgroup(this.procRoot, this.sysRoot, pid);
    if (!cg.ok) count(stats.errors, `cgroup-${cg.kind}`);

    // The process may have exited (or its PID been reused) while we asked its API.
    const still = readBytes(`${base}/stat`);
    const again = still.ok ? parseProcStat(still.value) : still;
    if (!again.ok || again.value.starttime !== c.stat.starttime) {
      count(stats.errors, 'gone');
      return null;
    }

    const cmdSource = config.defaulted ? 'default' : 'cmdline';
    let vcpus: number;
    let vcpuSource: NonNullable<DiscoveredVm['allocationSource']>['vcpus'];
    if (config.vcpus !== null) [vcpus, vcpuSource] = [config.vcpus, cmdSource];
    else if (fromFile?.vcpus) [vcpus, vcpuSource] = [fromFile.vcpus, 'config-file'];
    else if (fromApi?.vcpus) [vcpus, vcpuSource] = [fromApi.vcpus, 'api'];
    else if (vcpuTids.length > 0) [vcpus, vcpuSource] = [vcpuTids.length, 'threads'];
    else [vcpus, vcpuSource] = [0, 'unknown'];
    let memory: number;
    let memorySource: NonNullable<DiscoveredVm['allocationSource']>['memory'];
    if (config.memoryBytes !== null) [memory, memorySource] = [config.memoryBytes, cmdSource];
    else if (fromFile?.memoryBytes) [memory, memorySource] = [fromFile.memoryBytes, 'config-file'];
    else if (fromApi?.memoryBytes) [memory, memorySource] = [fromApi.memoryBytes, 'api'];
    else [memory, memorySource] = [0, 'unknown'];

    const identity = resolveIdentity({
      hypervisor: c.hypervisor,
      pid,
      starttime: c.stat.starttime,
      uuid: config.uuid,
      name: config.name,
      socketHostPath: socketHost,
      apiUuid: fromApi?.uuid ?? null,
    });
    const vm: DiscoveredVm = {
      key,
      pid,
      starttime: c.stat.starttime,
      hypervisor: c.hypervisor,
      ...identity,
      allocatedVcpus: vcpus,
      allocatedMemoryBytes: memory,
      taps: mergeTaps(tun.ok ? tun.value : [], config.taps, fromFile?.taps ?? [], fromApi?.taps ?? []),
      vcpuTids,
      apiSocket: socketHost,
      cpuCgroupDir: cg.ok && cg.value ? cg.value.dir : null,
      cgroupVersion: cg.ok && cg.value ? cg.value.version : null,
      argv: c.argv,
      discoveredAt: nowMs,
      allocationSource: { vcpus: vcpuSource, memory: memorySource },
      exe: c.exe ?? basename(c.argv[0] ?? ''),
    };
    const threadsNamed = c.hypervisor !== 'qemu' || (config as QemuConfig).debugThreads;
    return { vm, threadsNamed };
  }

  /** One question per process and path, ever: the outcome is cached by process key. */
  private askOnce(key: string, socket: string, path: string, stats: ScanStats): Promise<Outcome<unknown>> {
    const cacheKey = `${key}|${path}`;
    let p = this.apiCache.get(cacheKey);
    if (!p) {
      stats.apiCalls++;
      p = getJson(socket, path, { timeoutMs: this.apiTimeoutMs });
      this.apiCache.set(cacheKey, p);
    }
    return p;
  }

  /** Re-reads vCPU threads and TAPs of a VM that is still coming up; the new VM when changed. */
  private refresh(pid: number, e: VmEntry, stats: ScanStats, nowMs: number): DiscoveredVm | null {
    const vm = e.vm;
    // With the count taken from the threads themselves, more may still come.
    const fromThreads = vm.allocationSource?.vcpus === 'threads' || vm.allocationSource?.vcpus === 'unknown';
    const incomplete = fromThreads || vm.vcpuTids.length < vm.allocatedVcpus;
    if (!incomplete || !e.threadsNamed || nowMs - vm.discoveredAt > this.refreshWindowMs) return null;
    stats.refreshed++;
    const tids = readVcpuTids(this.procRoot, pid, vm.hypervisor);
    if (!tids.ok || sameNumbers(tids.value, vm.vcpuTids)) return null;
    // TAPs are opened as the VM boots, with its vCPUs; fdinfo takes the rtnl lock, so only then.
    const tun = readTunTaps(this.procRoot, pid);
    const taps = tun.ok ? mergeTaps(tun.value, vm.taps) : [...vm.taps];
    const vcpus = fromThreads ? tids.value.length : vm.allocatedVcpus;
    return {
      ...vm,
      vcpuTids: tids.value,
      taps,
      allocatedVcpus: vcpus,
      allocationSource: {
        vcpus: fromThreads ? (vcpus > 0 ? 'threads' : 'unknown') : (vm.allocationSource?.vcpus ?? 'unknown'),
        memory: vm.allocationSource?.memory ?? 'unknown',
      },
    };
  }

  /** PID-allocator counters (own proc root only) and the boot time. */
  private readSystem(): { counters: PidCounters | null; bootMs: number | null } {
    const stat = readText(`${this.procRoot}/stat`, false);
    const btime = stat.ok ? /^btime (\d+)$/m.exec(stat.value) : null;
    const bootMs = btime ? Number(btime[1]) * 1000 : null;
    const self = readLink(`${this.procRoot}/self`, false);
    if (!stat.ok || !self.ok || self.value !== String(process.pid)) return { counters: null, bootMs };
    const loadavg = readText(`${this.procRoot}/loadavg`, false);
    const pidMax = readText(`${this.procRoot}/sys/kernel/pid_max`, false);
    if (!loadavg.ok || !pidMax.ok) return { counters: null, bootMs };
    return { counters: parseCounters(loadavg.value, stat.value, pidMax.value), bootMs };
  }
}

function parseConfig(hypervisor: Hypervisor, argv: readonly string[]): Outcome<HypervisorConfig> {
  switch (hypervisor) {
    case 'qemu':
      return parseQemuArgv(argv);
    case 'cloud-hypervisor':
      return parseCloudHypervisorArgv(argv);
    case 'firecracker':
      return parseFirecrackerArgv(argv);
    case 'crosvm':
      return parseCrosvmArgv(argv);
  }
}

function count(rec: Record<string, number>, k: string): void {
  rec[k] = (rec[k] ?? 0) + 1;
}

function isPidName(name: string): boolean {
  const c = name.charCodeAt(0);
  return c >= 48 && c <= 57 && /^\d+$/.test(name);
}

function joinPath(root: string, p: string): string {
  const joined = `${root}/${p}`.replace(/\/+/g, '/');
  const parts: string[] = [];
  for (const seg of joined.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One scan with a fresh Discovery. */
export async function scanOnce(options: DiscoveryOptions = {}): Promise<ScanResult> {
  return new Discovery(options).scan();
}
