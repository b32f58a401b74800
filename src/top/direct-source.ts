// `vmpulse top` without an agent: the agent's own discovery and readers in this process, as
// `vmpulse snapshot` does, but kept open between refreshes (a reader's kept fds make the next
// read cheap) and with the previous read kept for rates.
import { hostFacts, HostReader, type HostCounters } from '../collect/host.js';
import { VmReader } from '../collect/vm-reader.js';
import { NetnsTaps } from '../collect/netns-taps.js';
import { toInstanceStats } from '../agent/instance-stats.js';
import type { VmSample } from '../collect/vm-sample.js';
import { hostTick } from '../agent/host-rates.js';
import { Discovery } from '../discover/scan.js';
import type { DiscoveredVm } from '../discover/vm.js';
import type { Roots } from '../readers/roots.js';
import { systemConstants, type SystemConstants } from '../readers/system.js';
import { matchesFilter, type TopVm } from './model.js';
import type { TopData, TopSource } from './source.js';

/** One VM's read as top's counters. Pure. */
export function topVmFromSample(vm: DiscoveredVm, s: VmSample, constants: SystemConstants): TopVm {
  // The same mapping as snapshot and the agent's InstanceStats: one meaning of cpu_seconds and
  // of the VM-view network totals.
  const st = toInstanceStats(s, vm, constants.clockTicksPerSecond);
  return {
    key: vm.key,
    name: vm.instanceName,
    id: vm.instanceId,
    hypervisor: vm.hypervisor,
    pid: vm.pid,
    vcpus: vm.allocatedVcpus,
    vcpuThreads: vm.vcpuTids.length,
    allocatedMemoryBytes: vm.allocatedMemoryBytes,
    tMs: s.tMs,
    cpuSeconds: st.cpu_seconds,
    rssBytes: s.rssBytes,
    netInBytes: st.network_rx_bytes,
    netOutBytes: st.network_tx_bytes,
    diskReadBytes: s.diskReadBytes,
    diskWriteBytes: s.diskWriteBytes,
    stealSeconds: s.vcpuWaitNs === null ? null : s.vcpuWaitNs / 1e9,
  };
}

const NO_INTERFACES: ReadonlySet<string> = new Set();

export class DirectSource implements TopSource {
  readonly label: string;
  private readonly discovery: Discovery;
  private readonly readers = new Map<string, VmReader>();
  private readonly hostReader: HostReader;
  /** The readers' TAP counters: one /proc/<pid>/net/dev read per namespace per refresh. */
  private readonly netns: NetnsTaps;
  private readonly constants = systemConstants();
  private readonly facts;
  private prevHost: HostCounters | null = null;
  private prev: Map<string, TopVm> | null = null;
  /** Only VMs whose name or id contains it are read (the others would be read for nothing). */
  private readonly filter: string | null;

  constructor(
    private readonly roots: Roots,
    opts: { apiTimeoutMs: number; label?: string; filter?: string | null },
  ) {
    this.filter = opts.filter ?? null;
    this.label = opts.label ?? 'direct';
    this.discovery = new Discovery({ ...roots, apiTimeoutMs: opts.apiTimeoutMs });
    this.hostReader = new HostReader({ procRoot: roots.procRoot, sysRoot: roots.sysRoot });
    this.netns = new NetnsTaps(roots.procRoot);
    this.facts = hostFacts({ procRoot: roots.procRoot });
  }

  async poll(): Promise<TopData> {
    const scan = await this.discovery.scan();
    // A VM whose threads or TAPs changed gets a reader for its new shape.
    for (const vm of [...scan.removed, ...scan.updated]) this.drop(vm.key);
    const cur = new Map<string, TopVm>();
    const failed = new Map<string, number>();
    const wanted = scan.all.filter((vm) => matchesFilter(vm.instanceName, vm.instanceId, this.filter));
    // Readers join their namespace before the pass: one net/dev read per namespace serves them all.
    for (const vm of wanted) {
      if (!this.readers.has(vm.key)) this.readers.set(vm.key, new VmReader(vm, { ...this.roots, constants: this.constants, netns: this.netns }));
    }
    this.netns.beginTick();
    for (const vm of wanted) {
      const reader = this.readers.get(vm.key)!;
      const r = reader.read();
      if (r.ok) cur.set(vm.key, topVmFromSample(vm, r.value, this.constants));
      else {
        // Exited since the scan: no row. Anything else is said, never shown as zeros.
        this.drop(vm.key);
        if (r.kind !== 'gone') failed.set(r.kind, (failed.get(r.kind) ?? 0) + 1);
      }
    }
    // Host traffic is not shown: no interface counts as physical, and none is read.
    const h = this.hostReader.read(NO_INTERFACES);
    const tick = h.ok ? hostTick(this.prevHost, h.value, NO_INTERFACES, null) : null;
    if (h.ok) this.prevHost = h.value;
    const previous = this.prev;
    this.prev = cur;
    const unread = [...failed].map(([kind, n]) => `${n} ${kind}`).join(', ');
    return {
      host: {
        hostname: this.facts.Hostname,
        cpus: this.facts.CPUCores,
        ramBytes: this.facts.RAM,
        uptimeSeconds: h.ok ? Math.floor(h.value.uptime.uptimeSeconds) : this.facts.SystemUptime,
        load: tick && tick.load1 !== null && tick.load5 !== null && tick.load15 !== null ? [tick.load1, tick.load5, tick.load15] : null,
        cpuPct: tick?.cpuPct ?? null,
        memPct: tick?.ramPct ?? null,
      },
      current: [...cur.values()],
      previous,
      omitted: 0,
      notice: unread ? `VMs that could not be read: ${unread}${process.getuid?.() === 0 ? '' : ' (run as root)'}` : null,
    };
  }

  private drop(key: string): void {
    this.readers.get(key)?.close();
    this.readers.delete(key);
  }

  close(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
    this.netns.close();
    this.hostReader.close();
  }
}
