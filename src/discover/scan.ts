// Discovery: which processes on this host are hypervisors, and what their VMs are.
//
// One scan: list the proc root; let the process table drop what exited and pick out what is new
// (process-table.ts, PID reuse by the allocator's counters in pid-reuse.ts); classify each new
// process once by its exe and argv[0] (classify.ts, against the hypervisor modules of
// hypervisors/registry.ts); describe each new hypervisor's VM (describe-vm.ts: its module's
// command line, config file and API question, then threads, TAPs and cgroup); and re-read the
// threads and TAPs of VMs still coming up.
// Nothing here throws: failures are counted in stats.errors by kind, deliberate skips in
// stats.skipped.
import { performance } from 'node:perf_hooks';
import { parseCmdline } from '../readers/parse-cmdline.js';
import type { ProcStat } from '../readers/parse-proc-stat.js';
import { systemConstants } from '../readers/system.js';
import { DEFAULT_API_TIMEOUT_MS } from './api-client.js';
import { ApiQuestions } from './api-questions.js';
import { basename, classify } from './classify.js';
import { describeVm, refreshVm, type Candidate } from './describe-vm.js';
import { readHostCounters } from './host-counters.js';
import { reuseWindow, type PidCounters } from './pid-reuse.js';
import { readBytes, readLink, listDir } from './proc-io.js';
import { ProcessTable } from './process-table.js';
import { count, newScanStats, type ScanStats } from './scan-stats.js';
import type { DiscoveredVm } from './vm.js';

export type { ScanStats };

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

export interface ScanResult {
  readonly all: DiscoveredVm[];
  readonly added: DiscoveredVm[];
  readonly removed: DiscoveredVm[];
  /** Known VMs whose vCPU threads, TAPs or thread-derived vCPU count changed. */
  readonly updated: DiscoveredVm[];
  readonly stats: ScanStats;
}

export class Discovery {
  readonly procRoot: string;
  readonly sysRoot: string;
  private readonly execGraceMs: number;
  private readonly refreshWindowMs: number;
  private readonly now: () => number;
  private readonly api: ApiQuestions;
  private readonly table: ProcessTable;
  private counters: PidCounters | null = null;
  private ticksPerSecond: number | null = null;

  constructor(options: DiscoveryOptions = {}) {
    this.procRoot = (options.procRoot ?? '/proc').replace(/\/+$/, '') || '/';
    this.sysRoot = (options.sysRoot ?? '/sys').replace(/\/+$/, '') || '/';
    this.api = new ApiQuestions(options.apiTimeoutMs ?? DEFAULT_API_TIMEOUT_MS);
    this.execGraceMs = options.execGraceMs ?? 10_000;
    this.refreshWindowMs = options.refreshWindowMs ?? 5 * 60_000;
    this.now = options.now ?? Date.now;
    this.table = new ProcessTable(this.procRoot, (vm) => this.api.forget(vm.key));
  }

  /** The VMs known after the last scan. */
  known(): DiscoveredVm[] {
    return this.table.known();
  }

  async scan(): Promise<ScanResult> {
    const t0 = performance.now();
    const stats = newScanStats();
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
    const host = readHostCounters(this.procRoot);
    const window = reuseWindow(this.counters, host.counters);
    this.counters = host.counters;
    stats.reuseCheck = window === 'all' ? 'all' : 'window';
    const nowMs = this.now();

    const candidates: Candidate[] = [];
    for (const p of this.table.walk(listing.value, window, nowMs, stats, removed)) {
      const c = this.examine(p.pid, p.stat, stats, host.bootMs);
      if (c) candidates.push(c);
    }

    // crosvm forks its device processes without exec: same exe, same argv, parent a VM.
    const candidateByPid = new Map(candidates.map((c) => [c.pid, c]));
    const real = candidates.filter((c) => {
      const parentArgv = this.table.vmArgv(c.stat.ppid) ?? candidateByPid.get(c.stat.ppid)?.argv ?? null;
      if (parentArgv && sameArgv(parentArgv, c.argv)) {
        count(stats.skipped, 'hypervisor-child');
        this.table.remember(c.pid, c.stat.starttime, c.exe, null);
        return false;
      }
      return true;
    });

    const ask = (key: string, socket: string, path: string) =>
      this.api.ask(key, socket, path, () => stats.apiCalls++);
    const ctx = { procRoot: this.procRoot, sysRoot: this.sysRoot, stats, nowMs, ask };
    const described = await Promise.all(real.map((c) => describeVm(c, ctx)));
    described.forEach((d, i) => {
      const c = real[i]!;
      if (d.kind === 'unparsable') this.table.remember(c.pid, c.stat.starttime, c.exe, null);
      if (d.kind !== 'vm') return;
      this.table.addVm(d.vm, d.threadsNamed);
      added.push(d.vm);
    });

    for (const e of this.table.vmEntries()) {
      if (added.includes(e.vm)) continue;
      const next = refreshVm(this.procRoot, e.vm, e.threadsNamed, this.refreshWindowMs, nowMs, stats);
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
      if (raw.kind !== 'gone') this.table.remember(pid, stat.starttime, null, null);
      return null;
    }
    stats.parsed++;
    const argv = parseCmdline(raw.value);
    if (!argv.ok || argv.value.length === 0) {
      count(stats.skipped, 'kernel-thread');
      this.table.remember(pid, stat.starttime, null, null);
      return null;
    }
    const link = readLink(`${this.procRoot}/${pid}/exe`);
    const exe = link.ok ? basename(link.value) : null;
    const hypervisor = classify(exe, argv.value);
    if (!hypervisor) {
      const watch = bootMs === null ? null : bootMs + (stat.starttime * 1000) / this.hz() + this.execGraceMs;
      this.table.remember(pid, stat.starttime, exe, watch);
      return null;
    }
    return { pid, stat, hypervisor, argv: argv.value, exe };
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
}

function sameArgv(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** One scan with a fresh Discovery. */
export async function scanOnce(options: DiscoveryOptions = {}): Promise<ScanResult> {
  return new Discovery(options).scan();
}
