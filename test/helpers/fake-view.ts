// An AgentView with realistic, fixed numbers for the agent API tests: two running VMs (one with
// no allocated memory, no cgroup throttling and no swap/peak/disk readings), one exited VM, TAPs,
// per-thread CPU that advances with the wall clock, closed windows for history. Every number a
// test asserts is a field here, so the same assertions can later be pointed at the real agent.
import type { DiscoveredVm } from '../../src/discover/vm.js';
import type { VmSample } from '../../src/collect/vm-sample.js';
import { fail, ok, type Outcome } from '../../src/readers/outcome.js';
import type { HostWindow, InstanceWindow } from '../../src/ship/payload.js';
import type { VmRates } from '../../src/agent/rates.js';
import type { AgentHealth, AgentView, HostView, InstanceView, TapRate, ThreadUsage } from '../../src/agent/view.js';

export const T0 = Date.UTC(2026, 2, 3, 12, 0, 0);

export const WEB: DiscoveredVm = {
  key: '4242:1000',
  pid: 4242,
  starttime: 1000,
  hypervisor: 'qemu',
  instanceId: 'qilviffnqzck2jrim1x6s2b1',
  instanceName: 'my-web-server',
  idSource: 'qemu-uuid',
  allocatedVcpus: 2,
  allocatedMemoryBytes: 4294967296,
  taps: ['vpt-web0', 'vpt-web1'],
  vcpuTids: [4250, 4251],
  apiSocket: null,
  cpuCgroupDir: '/sys/fs/cgroup/machine.slice/web',
  cgroupVersion: 2,
  argv: ['qemu-system-x86_64', '-uuid', 'qilviffnqzck2jrim1x6s2b1'],
  discoveredAt: T0,
};

export const BATCH: DiscoveredVm = {
  key: '5151:2000',
  pid: 5151,
  starttime: 2000,
  hypervisor: 'cloud-hypervisor',
  instanceId: 'qilvzq0m3kx8ab5c7d9e1f2g',
  instanceName: 'batch-runner',
  idSource: 'api-socket',
  allocatedVcpus: 1,
  allocatedMemoryBytes: 0,
  taps: ['vpt-bat0'],
  vcpuTids: [5160],
  apiSocket: '/run/ch/batch-runner/api.sock',
  cpuCgroupDir: null,
  cgroupVersion: null,
  argv: ['cloud-hypervisor', '--api-socket', '/run/ch/batch-runner/api.sock'],
  discoveredAt: T0 + 5000,
};

export const OLD: DiscoveredVm = {
  ...BATCH,
  key: '3030:500',
  pid: 3030,
  starttime: 500,
  hypervisor: 'firecracker',
  instanceId: 'deadvm0000000000000000aa',
  instanceName: 'old-vm',
  idSource: 'firecracker-id',
  taps: [],
  vcpuTids: [],
  discoveredAt: T0 - 60_000,
};

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function webSample(tMs: number, bump: number): VmSample {
  return {
    key: WEB.key,
    tMs,
    utimeTicks: 2500 + bump,
    stimeTicks: 494 + bump,
    numThreads: 6,
    rssBytes: 443338752 + bump * 4096,
    vmsBytes: 4330745856,
    swapBytes: 8192,
    peakRssBytes: 500006912,
    diskReadBytes: 1048576 + bump * 512,
    diskWriteBytes: 2097152 + bump * 1024,
    vcpuRunNs: 20_000_000_000 + bump * 1_000_000,
    vcpuWaitNs: 1_500_000_000 + bump * 100_000,
    taps: [
      { name: 'vpt-web0', rxBytes: 87000000 + bump * 100, txBytes: 12000000 + bump * 10, rxPackets: 60000 + bump, txPackets: 9000 + bump, rxErrors: 2, txErrors: 0, rxDropped: 7 + bump, txDropped: 31 },
      { name: 'vpt-web1', rxBytes: 654321, txBytes: 345678, rxPackets: 700, txPackets: 400, rxErrors: 0, txErrors: 1, rxDropped: 0, txDropped: 3 },
    ],
    throttle: { periods: 1000 + bump, throttledPeriods: 12, throttledNs: 345_000_000 },
    pressure: { cpu: { someUs: 1_500_000, fullUs: 250_000 }, memory: { someUs: 40, fullUs: 10 }, io: { someUs: 3_000_000, fullUs: 2_000_000 } },
    errors: [],
  };
}

function batchSample(tMs: number, bump: number): VmSample {
  return {
    key: BATCH.key,
    tMs,
    utimeTicks: 700 + bump,
    stimeTicks: 55,
    numThreads: 4,
    rssBytes: 268435456,
    vmsBytes: 1610612736,
    swapBytes: null,
    peakRssBytes: null,
    diskReadBytes: null,
    diskWriteBytes: null,
    vcpuRunNs: null,
    vcpuWaitNs: null,
    taps: [{ name: 'vpt-bat0', rxBytes: 5000, txBytes: 9000 + bump, rxPackets: 50, txPackets: 90 + bump, rxErrors: 0, txErrors: 0, rxDropped: 0, txDropped: 0 }],
    throttle: null,
    pressure: null,
    errors: [
      { field: 'swapBytes', kind: 'denied', detail: 'status: EACCES' },
      { field: 'throttle', kind: 'missing', detail: 'no cgroup' },
    ],
  };
}

export const WEB_RATES: VmRates = {
  cpuCorePct: 35.5,
  cpuUserPct: 30.25,
  cpuSystemPct: 5.25,
  cpuPct: 17.75,
  vcpuBusyPct: 15,
  stealPct: 1.5,
  rssBytes: 443338752,
  swapBytes: 8192,
  memUtilPct: 10.32,
  netInBytes: 50000,
  netOutBytes: 250000,
  netInPackets: 50,
  netOutPackets: 250,
  netInErrors: 1,
  netOutErrors: 0,
  netInDropped: 4,
  netOutDropped: 2,
  diskReadBytes: 10240,
  diskWriteBytes: 40960,
  throttledPeriods: 2,
  throttledNs: 1_000_000,
  cpuSeconds: 1.775,
  netKnown: true,
  perTap: [],
  seconds: 5,
};

export const WEB_TAP_RATES: TapRate[] = [
  { name: 'vpt-web0', inBytesPerSec: 9000, outBytesPerSec: 48000, inPacketsPerSec: 9, outPacketsPerSec: 48, inErrorsPerSec: 0.2, outErrorsPerSec: 0, inDroppedPerSec: 0.8, outDroppedPerSec: 0.4 },
  { name: 'vpt-web1', inBytesPerSec: 1000, outBytesPerSec: 2000, inPacketsPerSec: 1, outPacketsPerSec: 2, inErrorsPerSec: 0, outErrorsPerSec: 0, inDroppedPerSec: 0, outDroppedPerSec: 0 },
];

const agg = (avg: number, n = 12) => ({ Avg: avg, Min: avg / 2, Max: avg * 2, Sum: avg * n, Count: n });

export function instanceWindow(minute: number, cpu: number | null, mem: number | null, netIn: number): InstanceWindow {
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    Missed: 0,
    CPU: cpu === null ? null : agg(cpu),
    CPUCore: cpu === null ? null : agg(cpu * 2),
    CPUUser: cpu === null ? null : agg(cpu * 1.5),
    CPUSystem: cpu === null ? null : agg(cpu * 0.5),
    VcpuBusy: null,
    Steal: agg(0.125),
    MemoryRSS: agg(443338752),
    MemorySwap: null,
    MemoryUtilization: mem === null ? null : agg(mem),
    NetIn: netIn,
    NetOut: netIn * 3,
    NetInPackets: 10,
    NetOutPackets: 30,
    DiskRead: 4096,
    DiskWrite: 8192,
    ThrottledPeriods: 0,
    ThrottledTimeNs: 0,
  };
}

export function hostWindow(minute: number, cpu: number): HostWindow {
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    CPU: agg(cpu),
    IOWait: agg(0.05),
    Steal: agg(0),
    RAM: agg(53.514),
    Swap: agg(0),
    Load1: agg(0.5),
    Load5: agg(0.75),
    Load15: agg(1),
    Disk: agg(59.62),
    NetIn: 534495,
    NetOut: 71894,
  };
}

const M0 = Math.floor(T0 / 1000) - 180;

interface ThreadSpec {
  tid: number;
  name: string;
  vcpu: boolean;
  /** CPU seconds per wall second: user and system. */
  user: number;
  system: number;
}

export const WEB_THREADS: ThreadSpec[] = [
  { tid: 4242, name: 'qemu-system-x86', vcpu: false, user: 0.02, system: 0.03 },
  { tid: 4250, name: 'CPU 0/KVM', vcpu: true, user: 0.4, system: 0.1 },
  { tid: 4251, name: 'CPU 1/KVM', vcpu: true, user: 0.2, system: 0 },
];

export class FakeView implements AgentView {
  readonly clockTicksPerSecond = 100;
  readonly windowSeconds = 60;
  readonly startedMs = Date.now();
  ready = true;
  /** When set, WEB's utime grows at this many CPU-seconds per wall second (Prometheus rate test). */
  webCpuSlope: number | null = null;
  /** Keys whose fresh read answers 'gone' (the process exited after the last tick). */
  readonly goneOnRead = new Set<string>();
  readonly extra: InstanceView[] = [];
  /** Counted so a test can tell the API read fresh counters. */
  freshReads = 0;

  private bump(): number {
    if (this.webCpuSlope === null) return 0;
    return Math.floor(((Date.now() - this.startedMs) / 1000) * this.webCpuSlope * this.clockTicksPerSecond);
  }

  /** What the last tick read: fixed numbers (or slope-driven in rate mode). */
  latestWeb(): VmSample {
    const b = this.bump();
    // Half the slope goes to utime, half to stime: bump counts both.
    const s = webSample(T0, 0) as Mutable<VmSample>;
    if (this.webCpuSlope !== null) {
      s.utimeTicks = 2500 + Math.ceil(b / 2);
      s.stimeTicks = 494 + Math.floor(b / 2);
      s.tMs = Date.now();
    }
    return s;
  }

  /** What a fresh read answers: ahead of the tick by 7 ticks each (proof the read was fresh). */
  freshWeb(): VmSample {
    return this.webCpuSlope === null ? webSample(T0 + 2500, 7) : this.latestWeb();
  }

  instances(): readonly InstanceView[] {
    return [
      { vm: WEB, state: 'running', latest: this.latestWeb(), rates: WEB_RATES, tapRates: WEB_TAP_RATES, lastSampledMs: T0 },
      { vm: BATCH, state: 'running', latest: batchSample(T0, 0), rates: null, tapRates: [], lastSampledMs: T0 },
      { vm: OLD, state: 'gone', latest: null, rates: null, tapRates: [], lastSampledMs: T0 - 30_000 },
      ...this.extra,
    ];
  }

  async readFresh(key: string): Promise<Outcome<VmSample>> {
    this.freshReads++;
    if (this.goneOnRead.has(key)) return fail('gone', `/proc/${key.split(':')[0]}/stat: ESRCH`);
    if (key === WEB.key) return ok(this.freshWeb());
    if (key === BATCH.key) return ok(batchSample(T0 + 2500, 3));
    return fail('gone', `/proc/${key.split(':')[0]}/stat: ENOENT`);
  }

  async threads(key: string): Promise<Outcome<readonly ThreadUsage[]>> {
    const el = (Date.now() - this.startedMs) / 1000;
    if (key === WEB.key)
      return ok(
        WEB_THREADS.map((t) => ({
          tid: t.tid,
          name: t.name,
          vcpu: t.vcpu,
          userSeconds: 10 + t.user * el,
          systemSeconds: 2 + t.system * el,
          runNs: t.vcpu ? Math.round((t.user + t.system) * el * 1e9) : null,
          waitNs: t.vcpu ? 1000 : null,
        })),
      );
    if (key === BATCH.key) return fail('denied', `/proc/5151/task: EACCES`);
    return fail('gone', 'ENOENT');
  }

  instanceHistory(key: string): readonly InstanceWindow[] {
    if (key === WEB.key) return [instanceWindow(M0, 10.5, 10.125, 1000), instanceWindow(M0 + 60, 20.25, 10.5, 2000), instanceWindow(M0 + 120, 30.123, 11.0049, 3000)];
    if (key === BATCH.key) return [instanceWindow(M0 + 60, 5, null, 10), instanceWindow(M0 + 120, 6, null, 20)];
    return [];
  }

  hostHistory(): readonly HostWindow[] {
    return [hostWindow(M0, 9.26), hostWindow(M0 + 60, 8.4), hostWindow(M0 + 120, 7.6)];
  }

  host(): HostView {
    return {
      facts: {
        Hostname: 'hv-test-01',
        OperatingSystem: 'Debian 12',
        Kernel: '6.1.0-18-amd64',
        CPUModel: 'Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz',
        CPUSpeed: 2600,
        CPUCores: 8,
        RAM: 65876852 * 1024,
        Swap: 0,
        SystemUptime: 14420141,
      },
      latest: { cpuPct: 12.5, iowaitPct: 0.25, stealPct: 0, ramPct: 53.5, swapPct: 1.5, load1: 0.5, load5: 0.75, load15: 1.25, diskPct: 59.62, netInBytes: 534495, netOutBytes: 71894 },
    };
  }

  health(): AgentHealth {
    return {
      ready: this.ready,
      startedAtMs: this.startedMs,
      ticks: this.ready ? 42 : 0,
      discoveries: this.ready ? 3 : 0,
      lastTickMs: this.ready ? T0 : null,
      lastDiscoveryMs: this.ready ? T0 : null,
      overrunTicks: this.ready ? 1 : 0,
      reportQueue: { queued: 0, capacity: 8, fullWaits: 0 },
    };
  }
}
