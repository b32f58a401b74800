// One round of device readings for every VM of the host: one libvirt call for all QEMU domains,
// one API GET per Cloud Hypervisor / Firecracker VM (in parallel, each bounded by its timeout),
// and Firecracker's metrics files followed from where the previous round stopped. Nothing here
// runs per tick: the agent calls a round every VMPULSE_DEVICE_INTERVAL_MS, `snapshot` once.
import type { DiscoveredVm } from '../../discover/vm.js';
import { getJson } from '../../discover/api-client.js';
import { processPaths } from '../../discover/process-paths.js';
import { collectOptions, lastValue } from '../../discover/hypervisors/long-opts.js';
import { DEFAULT_ROOTS } from '../../readers/roots.js';
import type { Outcome } from '../../readers/outcome.js';
import { balloonHasValues, type BalloonStats, type DeviceReading, type DeviceSource, type DiskCounters } from './device-stats.js';
import { libvirtPidFileOk, readAllDomains, type LibvirtOptions } from './libvirt.js';
import type { DomainStats } from './parse-domstats.js';
import { parseChCounters } from './parse-ch-counters.js';
import { parseFcBalloonStats } from './parse-fc.js';
import { FcMetricsFile } from './fc-metrics-file.js';

export interface DeviceCollectorOptions {
  readonly procRoot?: string;
  readonly libvirt: LibvirtOptions;
  /** Per API request (VMPULSE_API_TIMEOUT_MS). */
  readonly apiTimeoutMs: number;
}

interface Found {
  disks: DiskCounters[] | null;
  balloon: BalloonStats | null;
  sources: DeviceSource[];
  measured: string[];
}

export class DeviceCollector {
  private readonly fcFiles = new Map<string, FcMetricsFile>();

  constructor(private readonly opts: DeviceCollectorOptions) {}

  async collect(vms: readonly DiscoveredVm[]): Promise<Map<string, DeviceReading>> {
    const out = new Map<string, DeviceReading>();
    const qemu = vms.filter((v) => v.hypervisor === 'qemu');
    const domains: Outcome<DomainStats[]> | null = qemu.length > 0 ? await readAllDomains(this.opts.libvirt) : null;
    const byName = new Map<string, DomainStats>();
    if (domains?.ok) for (const d of domains.value) byName.set(d.name, d);

    await Promise.all(
      vms.map(async (vm) => {
        let p: Found;
        switch (vm.hypervisor) {
          case 'qemu':
            p = this.fromLibvirt(vm, domains!, byName);
            break;
          case 'cloud-hypervisor':
            p = await this.fromCloudHypervisor(vm);
            break;
          case 'firecracker':
            p = await this.fromFirecracker(vm);
            break;
          default:
            p = { disks: null, balloon: null, sources: [], measured: [`${vm.hypervisor}: no per-disk or balloon source is read for this hypervisor`] };
        }
        out.set(vm.key, { tMs: Date.now(), ...p });
      }),
    );
    const alive = new Set(vms.map((v) => v.key));
    for (const k of this.fcFiles.keys()) if (!alive.has(k)) this.fcFiles.delete(k);
    return out;
  }

  private fromLibvirt(vm: DiscoveredVm, domains: Outcome<DomainStats[]>, byName: Map<string, DomainStats>): Found {
    if (!domains.ok) return { disks: null, balloon: null, sources: [], measured: [`libvirt: ${domains.detail}`] };
    const d = byName.get(vm.instanceName);
    if (!d) return { disks: null, balloon: null, sources: [], measured: [`libvirt: no running domain named ${vm.instanceName} on ${this.opts.libvirt.uri}`] };
    const same = libvirtPidFileOk(d.name, vm.pid, this.opts.libvirt.runDir);
    if (!same.ok) return { disks: null, balloon: null, sources: [], measured: [`libvirt: ${same.detail}`] };
    const measured: string[] = [];
    const guest = d.balloon.availableBytes !== null || d.balloon.usableBytes !== null || d.balloon.unusedBytes !== null;
    if (!guest) measured.push('libvirt: the guest reports no balloon statistics (no virtio balloon driver, or no stats period set)');
    return { disks: d.disks, balloon: balloonHasValues(d.balloon) ? d.balloon : null, sources: ['libvirt'], measured };
  }

  private async fromCloudHypervisor(vm: DiscoveredVm): Promise<Found> {
    const measured = ['cloud-hypervisor: its API serves no balloon statistics'];
    if (!vm.apiSocket) return { disks: null, balloon: null, sources: [], measured: ['cloud-hypervisor: no API socket (--api-socket) to ask vm.counters', ...measured] };
    const r = await getJson(vm.apiSocket, '/api/v1/vm.counters', { timeoutMs: this.opts.apiTimeoutMs, maxBytes: 1024 * 1024 });
    const c = r.ok ? parseChCounters(r.value) : r;
    if (!c.ok) return { disks: null, balloon: null, sources: [], measured: [`cloud-hypervisor: vm.counters: ${c.detail}`, ...measured] };
    return { disks: c.value, balloon: null, sources: ['cloud-hypervisor'], measured };
  }

  private async fromFirecracker(vm: DiscoveredVm): Promise<Found> {
    const p: Found = { disks: null, balloon: null, sources: [], measured: [] };
    const metricsPath = lastValue(collectOptions(vm.argv), 'metrics-path');
    if (metricsPath === null) {
      p.measured.push('firecracker: no --metrics-path on its command line (a metrics file set over the API cannot be located)');
    } else {
      const access = processPaths(this.opts.procRoot ?? DEFAULT_ROOTS.procRoot, vm.pid).access(metricsPath);
      let f = this.fcFiles.get(vm.key);
      if (!f || f.path !== access) this.fcFiles.set(vm.key, (f = new FcMetricsFile(access)));
      const r = f.read();
      if (r.ok) {
        p.disks = r.value;
        p.sources.push('firecracker');
      } else p.measured.push(`firecracker: metrics ${metricsPath}: ${r.detail}`);
    }
    if (!vm.apiSocket) {
      p.measured.push('firecracker: no API socket to ask /balloon/statistics');
    } else {
      const r = await getJson(vm.apiSocket, '/balloon/statistics', { timeoutMs: this.opts.apiTimeoutMs });
      const b = r.ok ? parseFcBalloonStats(r.value, vm.allocatedMemoryBytes) : r;
      if (b.ok) {
        p.balloon = b.value;
        if (!p.sources.includes('firecracker')) p.sources.push('firecracker');
      } else p.measured.push(`firecracker: /balloon/statistics: ${b.detail}`);
    }
    return p;
  }
}
