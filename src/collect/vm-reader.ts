// Reads one VM's counters from kept-open fds: the hypervisor process's stat/statm/status/io, the
// vCPU threads' schedstat, the TAPs' sysfs counters and the cgroup's cpu.stat. A VmReader belongs
// to one (pid, starttime): it proves the PID was not reused when it opens, and its kept stat fd
// fails with ESRCH once that process exits, so it can never read a successor.
import { join } from 'node:path';
import type { DiscoveredVm, Hypervisor } from '../discover/vm.js';
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
import type { FieldError, TapCounters, ThrottleCounters, VmSample } from './vm-sample.js';

export interface VmReaderOptions {
  readonly procRoot?: string;
  readonly sysRoot?: string;
  readonly constants: SystemConstants;
}

const TAP_COUNTERS = ['rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets'] as const;
/** One TAP's four counters while they are read (reused: read() is synchronous). */
const tapValues = new Float64Array(TAP_COUNTERS.length);

interface TapSlots {
  readonly name: string;
  readonly slots: readonly KeptSlot[];
}

export class VmReader {
  private readonly stat: KeptSlot;
  private readonly statm: KeptSlot;
  private readonly status: KeptSlot;
  private readonly io: KeptSlot;
  private readonly schedstats: readonly KeptSlot[];
  private readonly taps: readonly TapSlots[];
  private readonly cpuStat: KeptSlot | null;
  /** Set once for good: the process is gone, was never this VM's, or the reader was closed. */
  private dead: Failure | null = null;

  constructor(
    readonly vm: DiscoveredVm,
    private readonly opts: VmReaderOptions,
  ) {
    const procRoot = opts.procRoot ?? DEFAULT_ROOTS.procRoot;
    const sysRoot = opts.sysRoot ?? DEFAULT_ROOTS.sysRoot;
    const p = (...rest: string[]) => procPidPath(procRoot, vm.pid, ...rest);
    this.stat = new KeptSlot(p('stat'), true, 1024);
    this.statm = new KeptSlot(p('statm'), true, 128);
    this.status = new KeptSlot(p('status'), true, 2048);
    this.io = new KeptSlot(p('io'), true, 256);
    this.schedstats = vm.vcpuTids.map((tid) => new KeptSlot(p('task', String(tid), 'schedstat'), true, 128));
    this.taps = vm.taps.map((name) => ({
      name,
      slots: TAP_COUNTERS.map((c) => new KeptSlot(netStatPath(sysRoot, name, c), false, 64)),
    }));
    this.cpuStat = vm.cpuCgroupDir === null ? null : new KeptSlot(join(vm.cpuCgroupDir, 'cpu.stat'), false, 512);

    // PID reuse check: the process behind the fd we keep must be the one discovery saw.
    const first = this.readStat();
    if (first.ok && first.value.starttime !== vm.starttime) {
      this.dead = fail('gone', `pid ${vm.pid} reused: starttime ${first.value.starttime}, expected ${vm.starttime}`);
      this.stat.close();
    } else if (!first.ok && first.kind === 'gone') {
      this.dead = first;
    }
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
    const miss = (field: string, f: { kind: FailureKind; detail: string }) => {
      errors.push({ field, kind: f.kind, detail: f.detail });
    };
    const { pageSize } = this.opts.constants;

    // statm and stat's vsize/rss come from the same kernel counters; stat stands in if statm
    // alone fails, so RSS/VMS are never absent while the process is readable.
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

    const taps: (TapCounters | null)[] = [];
    for (const tap of this.taps) {
      let failed: Failure | null = null;
      for (let i = 0; i < tap.slots.length; i++) {
        const r = tap.slots[i]!.read();
        const c = r.ok ? parseCounter(r.value) : r;
        if (!c.ok) {
          failed = c;
          break;
        }
        tapValues[i] = c.value;
      }
      if (failed) {
        // Close the siblings too, so a recreated TAP is read as a whole from fresh fds.
        if (failed.kind === 'missing') for (const s of tap.slots) s.reset();
        taps.push(null);
        miss(`taps:${tap.name}`, failed);
      } else {
        taps.push({ name: tap.name, rxBytes: tapValues[0]!, txBytes: tapValues[1]!, rxPackets: tapValues[2]!, txPackets: tapValues[3]! });
      }
    }

    let throttle: ThrottleCounters | null = null;
    if (this.cpuStat === null || this.vm.cgroupVersion === null) {
      miss('throttle', { kind: 'missing', detail: 'no cpu cgroup known for this process' });
    } else {
      const r = this.cpuStat.read();
      const c = r.ok ? parseCgroupCpuStat(r.value, this.vm.cgroupVersion) : r;
      if (c.ok) throttle = c.value;
      else miss('throttle', c);
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
      errors,
    });
  }

  close(): void {
    this.dead ??= fail('io', `reader for pid ${this.vm.pid} closed`);
    this.stat.close();
    this.statm.close();
    this.status.close();
    this.io.close();
    for (const s of this.schedstats) s.close();
    for (const t of this.taps) for (const s of t.slots) s.close();
    this.cpuStat?.close();
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

/** Hypeman's InstanceStats (snake_case, same names and meanings) plus vmpulse's extra fields. */
export interface InstanceStats {
  instance_id: string;
  instance_name: string;
  /** (utime + stime) / clock ticks per second of the hypervisor process. */
  cpu_seconds: number;
  memory_rss_bytes: number;
  memory_vms_bytes: number;
  /** What the VM received: the sum of its TAPs' host-side tx_bytes. Null when not measured. */
  network_rx_bytes: number | null;
  /** What the VM sent: the sum of its TAPs' host-side rx_bytes. Null when not measured. */
  network_tx_bytes: number | null;
  allocated_vcpus: number;
  allocated_memory_bytes: number;
  /** rss / allocated memory; present only when allocated_memory_bytes > 0. */
  memory_utilization_ratio?: number;
  hypervisor: Hypervisor;
  pid: number;
  tap_devices: string[];
  vcpu_threads: number;
  memory_swap_bytes: number | null;
  memory_peak_rss_bytes: number | null;
  disk_read_bytes: number | null;
  disk_write_bytes: number | null;
}

export function toInstanceStats(sample: VmSample, vm: DiscoveredVm, constants: SystemConstants): InstanceStats {
  // A VM without TAPs has no TAP traffic (0, as Hypeman reports it); any unreadable TAP makes the
  // total unknown (null): a partial sum would understate it.
  const tapsKnown = sample.taps.every((t) => t !== null);
  const sum = (pick: (t: TapCounters) => number): number | null =>
    tapsKnown ? sample.taps.reduce((acc, t) => acc + pick(t!), 0) : null;
  const stats: InstanceStats = {
    instance_id: vm.instanceId,
    instance_name: vm.instanceName,
    cpu_seconds: (sample.utimeTicks + sample.stimeTicks) / constants.clockTicksPerSecond,
    memory_rss_bytes: sample.rssBytes,
    memory_vms_bytes: sample.vmsBytes,
    network_rx_bytes: sum((t) => t.txBytes),
    network_tx_bytes: sum((t) => t.rxBytes),
    allocated_vcpus: vm.allocatedVcpus,
    allocated_memory_bytes: vm.allocatedMemoryBytes,
    ...(vm.allocatedMemoryBytes > 0 ? { memory_utilization_ratio: sample.rssBytes / vm.allocatedMemoryBytes } : {}),
    hypervisor: vm.hypervisor,
    pid: vm.pid,
    tap_devices: [...vm.taps],
    vcpu_threads: vm.vcpuTids.length,
    memory_swap_bytes: sample.swapBytes,
    memory_peak_rss_bytes: sample.peakRssBytes,
    disk_read_bytes: sample.diskReadBytes,
    disk_write_bytes: sample.diskWriteBytes,
  };
  return stats;
}
