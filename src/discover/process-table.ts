// Every process discovery has seen, by PID, so that each is classified once: non-hypervisors are
// remembered and never parsed again, hypervisors carry their DiscoveredVm. A process is known by
// (pid, starttime); the walk re-reads the stat of a known PID only when the PID allocator may
// have handed it out again (pid-reuse.ts), and a different starttime makes it a new process (the
// old one removed). An exec keeps (pid, starttime) but changes what the process is (libvirt's
// forked child becoming qemu, the jailer becoming firecracker): a young non-hypervisor's exe link
// is watched for that.
import type { Outcome } from '../readers/outcome.js';
import { parseProcStat, type ProcStat } from '../readers/parse-proc-stat.js';
import { basename } from './classify.js';
import { readBytes, readLink } from './proc-io.js';
import { count, type ScanStats } from './scan-stats.js';
import type { DiscoveredVm } from './vm.js';

interface OtherEntry {
  readonly kind: 'other';
  readonly starttime: number;
  readonly exe: string | null;
  /** Wall ms until which an exec is watched for; null = never (kernel threads, unknown age). */
  readonly execWatchUntil: number | null;
}

export interface VmEntry {
  readonly kind: 'vm';
  readonly starttime: number;
  vm: DiscoveredVm;
  /** False when its vCPU threads never get recognisable names (QEMU without debug-threads=on). */
  readonly threadsNamed: boolean;
}

type Entry = OtherEntry | VmEntry;

/** A process to classify: new, reused PID, or exec'd. */
export interface Unclassified {
  readonly pid: number;
  readonly stat: ProcStat;
}

export class ProcessTable {
  private readonly byPid = new Map<number, Entry>();

  /** `forget` is told of every VM that goes. */
  constructor(
    private readonly procRoot: string,
    private readonly forget: (vm: DiscoveredVm) => void,
  ) {}

  /** The VMs known, by PID. */
  known(): DiscoveredVm[] {
    const out: DiscoveredVm[] = [];
    for (const e of this.byPid.values()) if (e.kind === 'vm') out.push(e.vm);
    return out.sort((a, b) => a.pid - b.pid);
  }

  vmEntries(): VmEntry[] {
    return [...this.byPid.values()].filter((e): e is VmEntry => e.kind === 'vm');
  }

  /** argv of a known VM (crosvm's device processes are forks of it). */
  vmArgv(pid: number): readonly string[] | null {
    const e = this.byPid.get(pid);
    return e?.kind === 'vm' ? e.vm.argv : null;
  }

  remember(pid: number, starttime: number, exe: string | null, execWatchUntil: number | null): void {
    this.byPid.set(pid, { kind: 'other', starttime, exe, execWatchUntil });
  }

  addVm(vm: DiscoveredVm, threadsNamed: boolean): void {
    this.byPid.set(vm.pid, { kind: 'vm', starttime: vm.starttime, vm, threadsNamed });
  }

  /**
   * Walks one listing of the proc root: drops what exited (into `removed`), re-checks what may
   * have been reused or exec'd, and returns the processes to classify.
   */
  walk(
    names: readonly string[],
    mayBeReused: 'all' | ((pid: number) => boolean),
    nowMs: number,
    stats: ScanStats,
    removed: DiscoveredVm[],
  ): Unclassified[] {
    const drop = (pid: number): void => {
      const e = this.byPid.get(pid);
      this.byPid.delete(pid);
      if (e?.kind === 'vm') {
        removed.push(e.vm);
        this.forget(e.vm);
      }
    };
    const readStat = (pid: number): Outcome<ProcStat> => {
      stats.statReads++;
      const b = readBytes(`${this.procRoot}/${pid}/stat`);
      return b.ok ? parseProcStat(b.value) : b;
    };

    const seen = new Set<number>();
    const out: Unclassified[] = [];
    for (const name of names) {
      if (!isPidName(name)) continue;
      const pid = Number(name);
      stats.scanned++;
      seen.add(pid);
      const known = this.byPid.get(pid);
      let stat: ProcStat | null = null;
      if (known && (mayBeReused === 'all' || mayBeReused(pid))) {
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
      out.push({ pid, stat });
    }
    for (const pid of [...this.byPid.keys()]) if (!seen.has(pid)) drop(pid);
    return out;
  }
}

function isPidName(name: string): boolean {
  const c = name.charCodeAt(0);
  return c >= 48 && c <= 57 && /^\d+$/.test(name);
}
