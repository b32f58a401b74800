// The host side of a tick: its counters read through kept fds, turned into a HostTick against the
// previous read, and the host facts (hostname, CPU, RAM, ...) read once at start, their uptime
// refreshed from the latest read.
import type { FailureKind } from '../readers/outcome.js';
import { HostReader, hostFacts, mountUsage, realMounts, type HostCounters } from '../collect/host.js';
import type { Mount } from '../readers/parse-mounts.js';
import { diskUsedPercent, hostTick } from './host-rates.js';
import type { HostView } from './view.js';
import type { HostTick } from './windows.js';

export class HostSampler {
  private readonly reader: HostReader;
  private prev: HostCounters | null = null;
  private latestTick: HostTick | null = null;
  private currentFacts: HostView['facts'];
  /** The real mounts, read at start and at each discovery (refreshMounts), statfs'ed each tick. */
  private mounts: Mount[];

  constructor(
    private readonly procRoot: string,
    sysRoot: string,
  ) {
    this.reader = new HostReader({ procRoot, sysRoot });
    this.currentFacts = readFacts(procRoot);
    this.mounts = realMounts({ procRoot });
  }

  /**
   * Read the mount table again. A host with containers has hundreds of mounts: their list changes
   * rarely and is re-read with discovery, while their usage is asked of statfs every tick.
   */
  refreshMounts(): void {
    this.mounts = realMounts({ procRoot: this.procRoot });
  }

  /** One read; null (and `failed` told) when the host counters could not be read. */
  sample(physical: ReadonlySet<string>, failed: (kind: FailureKind, detail: string) => void): HostTick | null {
    const r = this.reader.read(physical);
    if (!r.ok) {
      failed(r.kind, r.detail);
      return null;
    }
    const t = hostTick(this.prev, r.value, physical, diskUsedPercent(mountUsage(this.mounts)));
    this.prev = r.value;
    this.latestTick = t;
    return t;
  }

  /** The raw counters of the last read (interface byte counters among them). */
  get counters(): HostCounters | null {
    return this.prev;
  }

  /** The facts, with SystemUptime as of the last read. */
  refreshFacts(): HostView['facts'] {
    if (this.prev) this.currentFacts = { ...this.currentFacts, SystemUptime: Math.floor(this.prev.uptime.uptimeSeconds) };
    return this.currentFacts;
  }

  view(): HostView {
    return { facts: this.currentFacts, latest: this.latestTick };
  }

  close(): void {
    this.reader.close();
  }
}

function readFacts(procRoot: string): HostView['facts'] {
  const f = hostFacts({ procRoot });
  return {
    Hostname: f.Hostname,
    OperatingSystem: f.OperatingSystem ?? 'unknown',
    Kernel: f.Kernel,
    CPUModel: f.CPUModel ?? 'unknown',
    CPUSpeed: f.CPUSpeed ?? 0,
    CPUCores: f.CPUCores ?? 0,
    RAM: f.RAM ?? 0,
    Swap: f.Swap ?? 0,
    SystemUptime: f.SystemUptime ?? 0,
  };
}
