// Reads one VM's counters from kept-open fds: the hypervisor process's stat/statm/status/io, the
// vCPU threads' schedstat, the TAPs' counters (from its namespace's /proc/<pid>/net/dev, shared by
// the readers of a shard through NetnsTaps; sysfs for a TAP that file does not list) and the
// cgroup's cpu.stat. A VmReader belongs
// to one (pid, starttime): it proves the PID was not reused when it opens, and its kept stat fd
// fails with ESRCH once that process exits, so it can never read a successor.
import { join } from 'node:path';
import type { DiscoveredVm } from '../discover/vm.js';
import { fail, type Failure, type FailureKind, type Outcome, ok } from '../readers/outcome.js';
import { parseProcStat, type ProcStat } from '../readers/parse-proc-stat.js';
import { parseStatm } from '../readers/parse-statm.js';
import { parseStatus } from '../readers/parse-status.js';
import { parseIo } from '../readers/parse-io.js';
import { parseSchedstat } from '../readers/parse-schedstat.js';
import { parseCounter } from '../readers/parse-counter.js';
import { parseCgroupCpuStat } from '../readers/parse-cpu-stat.js';
import { DEFAULT_ROOTS, netStatPath, procPidPath } from '../readers/roots.js';
import type { SystemConstants } from '../readers/system.js';
import { KeptSlot } from './kept-slot.js';
import { NetnsTaps, type NetnsMember } from './netns-taps.js';
import { findPressureDir, PRESSURE_RESOURCES } from './pressure.js';
import { parsePressure, type PressureTotals } from '../readers/parse-pressure.js';
import type { FieldError, TapCounters, ThrottleCounters, VmPressure, VmSample } from './vm-sample.js';

export interface VmReaderOptions {
  readonly procRoot?: string;
  readonly sysRoot?: string;
  readonly constants: SystemConstants;
  /**
   * The namespace tables shared by the readers of one shard; the owner calls beginTick() before
   * each pass. Without it the reader keeps a table of its own, read at each read().
   */
  readonly netns?: NetnsTaps;
}

/** The sysfs statistics a TAP's counters fall back to, in TapCounters order. */
export const TAP_SYSFS_COUNTERS = ['rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped'] as const;
/** One TAP's counters while they are read (reused: read() is synchronous). */
const tapValues = new Float64Array(TAP_SYSFS_COUNTERS.length);

interface TapSlots {
  readonly name: string;
  /** Opened only while the namespace's /proc/<pid>/net/dev does not list the TAP. */
  slots: readonly KeptSlot[] | null;
}

export class VmReader {
  private readonly stat: KeptSlot;
  private readonly statm: KeptSlot;
  private readonly status: KeptSlot;
  private readonly io: KeptSlot;
  private readonly schedstats: readonly KeptSlot[];
  private readonly taps: readonly TapSlots[];
  private readonly netns: NetnsTaps;
  private readonly ownsNetns: boolean;
  private readonly member: NetnsMember | null;
  private readonly sysRoot: string;
  private readonly cpuStat: KeptSlot | null;
  /** cpu/memory/io.pressure of the VM's own cgroup v2, or why it has none (found once). */
  private readonly pressure: readonly KeptSlot[] | Failure;
  /** Set once for good: the process is gone, was never this VM's, or the reader was closed. */
  private dead: Failure | null = null;

  constructor(
    readonly vm: DiscoveredVm,
    private readonly opts: VmReaderOptions,
  ) {
    const procRoot = opts.procRoot ?? DEFAULT_ROOTS.procRoot;
    const sysRoot = opts.sysRoot ?? DEFAULT_ROOTS.sysRoot;
    const p = (...rest: string[]) => procPidPath(procRoot, vm.pid, ...rest);
    this.stat = new KeptSlot(p('stat'), true);
    this.statm = new KeptSlot(p('statm'), true);
    this.status = new KeptSlot(p('status'), true);
    this.io = new KeptSlot(p('io'), true);
    this.schedstats = vm.vcpuTids.map((tid) => new KeptSlot(p('task', String(tid), 'schedstat'), true));
    this.sysRoot = sysRoot;
    this.taps = vm.taps.map((name) => ({ name, slots: null }));
    this.ownsNetns = opts.netns === undefined;
    this.netns = opts.netns ?? new NetnsTaps(procRoot);
    this.cpuStat = vm.cpuCgroupDir === null ? null : new KeptSlot(join(vm.cpuCgroupDir, 'cpu.stat'), false);

    // PID reuse check: the process behind the fd we keep must be the one discovery saw.
    const first = this.readStat();
    if (first.ok && first.value.starttime !== vm.starttime) {
      this.dead = fail('gone', `pid ${vm.pid} reused: starttime ${first.value.starttime}, expected ${vm.starttime}`);
      this.stat.close();
    } else if (!first.ok && first.kind === 'gone') {
      this.dead = first;
    }
    const psi = this.dead === null ? findPressureDir(procRoot, sysRoot, vm.pid) : fail('missing', 'not read');
    this.pressure = psi.ok ? PRESSURE_RESOURCES.map((r) => new KeptSlot(join(psi.value, `${r}.pressure`), false)) : psi;
    // Joined only once the pid is known to be this VM's: the namespace is read through it.
    this.member = this.dead === null && vm.taps.length > 0 ? this.netns.join(vm.pid, vm.taps) : null;
  }

  private readStat(): Outcome<ProcStat> {
    const r = this.stat.read();
    return r.ok ? parseProcStat(r.value) : r;
  }

  read(): Outcome<VmSample> {
    if (this.dead) return this.dead;
    // Lazily (re)open the per-process files before the stat read: if stat still reads after
    // these opens, the process was alive when they happened, so they name the same process.
    this.statm.ensureOpen();
    this.status.ensureOpen();
    this.io.ensureOpen();
    for (const s of this.schedstats) s.ensureOpen();

    const st = this.readStat();
    if (!st.ok) {
      if (st.kind === 'gone') this.dead = st;
      return st;
    }
    const stat = st.value;
    const errors: FieldError[] = [];
    const miss = (field: string, f: { kind: FailureKind; detail: string }): void => {
      errors.push({ field, kind: f.kind, detail: f.detail });
    };
    const { pageSize } = this.opts.constants;

    // statm sums the kernel's per-CPU RSS counters; stat's rss reads them without the sum (a few
    // pages low on 6.x kernels: 20 of 81 processes here), so it only stands in if statm alone
    // fails, and RSS/VMS are never absent while the process is readable.
    let rssBytes = stat.rssPages * pageSize;
    let vmsBytes = stat.vsize;
    const sm = this.statm.read();
    const statm = sm.ok ? parseStatm(sm.value) : sm;
    if (statm.ok) {
      rssBytes = statm.value.residentPages * pageSize;
      vmsBytes = statm.value.sizePages * pageSize;
    } else {
      miss('statm', { kind: statm.kind, detail: `${statm.detail} (rss/vms taken from stat)` });
    }

    let swapBytes: number | null = null;
    let peakRssBytes: number | null = null;
    const sr = this.status.read();
    const status = sr.ok ? parseStatus(sr.value) : sr;
    if (status.ok) {
      swapBytes = status.value.vmSwapBytes;
      peakRssBytes = status.value.vmHwmBytes;
      if (swapBytes === null) miss('swapBytes', { kind: 'missing', detail: 'status has no VmSwap line' });
      if (peakRssBytes === null) miss('peakRssBytes', { kind: 'missing', detail: 'status has no VmHWM line' });
    } else {
      miss('swapBytes', status);
      miss('peakRssBytes', status);
    }

    let diskReadBytes: number | null = null;
    let diskWriteBytes: number | null = null;
    const ir = this.io.read();
    const io = ir.ok ? parseIo(ir.value) : ir;
    if (io.ok) {
      diskReadBytes = io.value.readBytes;
      diskWriteBytes = io.value.writeBytes;
    } else {
      miss('diskReadBytes', io);
      miss('diskWriteBytes', io);
    }

    let vcpuRunNs: number | null = null;
    let vcpuWaitNs: number | null = null;
    if (this.schedstats.length === 0) {
      const f = { kind: 'missing' as const, detail: 'no vCPU threads known' };
      miss('vcpuRunNs', f);
      miss('vcpuWaitNs', f);
    } else {
      let run = 0;
      let wait = 0;
      let failed: Failure | null = null;
      for (const slot of this.schedstats) {
        const r = slot.read();
        const s = r.ok ? parseSchedstat(r.value) : r;
        if (!s.ok) {
          failed = s;
          break;
        }
        run += s.value.runNs;
        wait += s.value.waitNs;
      }
      // A partial sum would look like a sudden drop in CPU use: all threads or nothing.
      if (failed) {
        miss('vcpuRunNs', failed);
        miss('vcpuWaitNs', failed);
      } else {
        vcpuRunNs = run;
        vcpuWaitNs = wait;
      }
    }

    const taps = this.readTaps(miss);

    let throttle: ThrottleCounters | null = null;
    if (this.cpuStat === null || this.vm.cgroupVersion === null) {
      miss('throttle', { kind: 'missing', detail: 'no cpu cgroup known for this process' });
    } else {
      const r = this.cpuStat.read();
      const c = r.ok ? parseCgroupCpuStat(r.value, this.vm.cgroupVersion) : r;
      if (c.ok) throttle = c.value;
      else miss('throttle', c);
    }

    let pressure: VmPressure | null = null;
    if (!Array.isArray(this.pressure)) miss('pressure', this.pressure as Failure);
    else {
      const got: PressureTotals[] = [];
      for (const slot of this.pressure as readonly KeptSlot[]) {
        const r = slot.read();
        const p = r.ok ? parsePressure(r.value) : r;
        if (!p.ok) {
          miss('pressure', p);
          break;
        }
        got.push(p.value);
      }
      if (got.length === 3) pressure = { cpu: got[0]!, memory: got[1]!, io: got[2]! };
    }

    return ok({
      key: this.vm.key,
      tMs: Date.now(),
      utimeTicks: stat.utime,
      stimeTicks: stat.stime,
      numThreads: stat.numThreads,
      rssBytes,
      vmsBytes,
      swapBytes,
      peakRssBytes,
      diskReadBytes,
      diskWriteBytes,
      vcpuRunNs,
      vcpuWaitNs,
      taps,
      throttle,
      pressure,
      errors,
    });
  }

  private readTaps(miss: (field: string, f: Failure) => void): (TapCounters | null)[] {
    const taps: (TapCounters | null)[] = [];
    if (!this.member) return taps;
    if (this.ownsNetns) this.netns.beginTick();
    const table = this.netns.table(this.member);
    for (const tap of this.taps) {
      const c = table.ok ? table.value.get(tap.name) : undefined;
      if (c) {
        if (tap.slots) this.closeSysfs(tap);
        taps.push({
          name: tap.name,
          rxBytes: c.rxBytes,
          txBytes: c.txBytes,
          rxPackets: c.rxPackets,
          txPackets: c.txPackets,
          rxErrors: c.rxErrs,
          txErrors: c.txErrs,
          rxDropped: c.rxDrop,
          txDropped: c.txDrop,
        });
        continue;
      }
      const r = this.readSysfs(tap);
      if (r.ok) taps.push(r.value);
      else {
        taps.push(null);
        miss(`taps:${tap.name}`, r);
      }
    }
    return taps;
  }

  /** A TAP its namespace's file does not list: its sysfs statistics, as the kernel shows them here. */
  private readSysfs(tap: TapSlots): Outcome<TapCounters> {
    tap.slots ??= TAP_SYSFS_COUNTERS.map((c) => new KeptSlot(netStatPath(this.sysRoot, tap.name, c), false));
    for (let i = 0; i < tap.slots.length; i++) {
      const r = tap.slots[i]!.read();
      const c = r.ok ? parseCounter(r.value) : r;
      if (!c.ok) {
        // Close the siblings too, so a recreated TAP is read as a whole from fresh fds.
        if (c.kind === 'missing') this.closeSysfs(tap);
        return c;
      }
      tapValues[i] = c.value;
    }
    return ok({
      name: tap.name,
      rxBytes: tapValues[0]!,
      txBytes: tapValues[1]!,
      rxPackets: tapValues[2]!,
      txPackets: tapValues[3]!,
      rxErrors: tapValues[4]!,
      txErrors: tapValues[5]!,
      rxDropped: tapValues[6]!,
      txDropped: tapValues[7]!,
    });
  }

  private closeSysfs(tap: TapSlots): void {
    for (const s of tap.slots ?? []) s.close();
    tap.slots = null;
  }

  close(): void {
    this.dead ??= fail('io', `reader for pid ${this.vm.pid} closed`);
    this.stat.close();
    this.statm.close();
    this.status.close();
    this.io.close();
    for (const s of this.schedstats) s.close();
    for (const t of this.taps) this.closeSysfs(t);
    if (this.member) this.netns.leave(this.member);
    if (this.ownsNetns) this.netns.close();
    this.cpuStat?.close();
    if (Array.isArray(this.pressure)) for (const s of this.pressure as readonly KeptSlot[]) s.close();
  }
}

/** Open, read once, close: for one-off reads such as `vmpulse snapshot`. */
export function readVmOnce(vm: DiscoveredVm, opts: VmReaderOptions): Outcome<VmSample> {
  const reader = new VmReader(vm, opts);
  try {
    return reader.read();
  } finally {
    reader.close();
  }
}
