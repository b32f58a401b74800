// Turns closed windows into reports. A window longer than a minute closes minute by minute; its
// records are held until the window ends (or the agent stops), so that a report never leaves a
// folded delta behind in memory. The report is built at once (a copy of the agent's state at the
// close) and handed to the report queue; the consumer runs later.
import type { HostSampler } from './host-sampler.js';
import type { InstanceRegistry } from './instance-registry.js';
import type { NicDeltas } from './nic-deltas.js';
import type { WindowReport } from './report.js';
import type { ClosedWindow } from './windows.js';

export class WindowEmitter {
  private held: ClosedWindow[] = [];

  constructor(
    private readonly windowSeconds: number,
    private readonly registry: InstanceRegistry,
    private readonly host: HostSampler,
    private readonly nics: NicDeltas,
    private readonly physical: () => ReadonlySet<string>,
  ) {}

  /**
   * The report of what has closed through `nominal` (null: stopping, everything goes), or null
   * while the records of a longer window are still being held.
   */
  report(closed: readonly ClosedWindow[], nominal: number | null): WindowReport | null {
    this.held.push(...closed);
    if (this.held.length === 0) return null;
    const W = this.windowSeconds * 1000;
    if (nominal !== null && this.held.some((w) => Math.floor(w.startMs / W) * W + W > nominal)) return null;
    const windows = this.held.sort((a, b) => a.startMs - b.startMs);
    this.held = [];
    const keys = new Set<string>();
    for (const w of windows) for (const k of w.instances.keys()) keys.add(k);
    const vms = this.registry.vmsOf(keys);
    this.registry.forgetGone(keys);
    return {
      windows,
      window: windows.at(-1)!,
      vms,
      interfaces: this.nics.next(this.host.counters, this.physical()),
      readings: this.registry.readings(),
      facts: this.host.refreshFacts(),
    };
  }
}
