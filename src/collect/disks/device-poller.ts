// The agent's device rounds: every VMPULSE_DEVICE_INTERVAL_MS one DeviceCollector round over the
// running VMs, the latest reading kept per VM, and the per-disk counter deltas since the previous
// reading handed to the agent, which adds them to the window open at that moment. Counters are
// cumulative, so a coarse interval loses nothing: each byte lands in exactly one window. The first
// reading of a VM (and of a disk) only sets the baseline; a counter that went down (device
// re-created, Firecracker metrics file rotated) restarts from its new value.
import type { DiscoveredVm } from '../../discover/vm.js';
import type { DeviceReading, DiskCounters } from './device-stats.js';
import { DeviceCollector, type DeviceCollectorOptions } from './device-collector.js';

/** One disk's counter deltas between two readings. */
export interface DiskDelta {
  readonly device: string;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly readOps: number;
  readonly writeOps: number;
}

/** Per-disk rates over the last two readings (per second). */
export interface DiskRate {
  readonly device: string;
  readonly readBytesPerSec: number;
  readonly writeBytesPerSec: number;
  readonly readOpsPerSec: number;
  readonly writeOpsPerSec: number;
}

export interface DeviceView {
  readonly reading: DeviceReading;
  /** Empty before the second reading with disks. */
  readonly rates: readonly DiskRate[];
}

const delta = (prev: number, cur: number): number => (cur >= prev ? cur - prev : cur);

/** Pure: per-disk deltas of `cur` against `prev` (disks new in `cur` set their baseline only). */
export function diskDeltas(prev: readonly DiskCounters[] | null, cur: readonly DiskCounters[] | null): DiskDelta[] {
  if (!prev || !cur) return [];
  const before = new Map(prev.map((d) => [d.device, d]));
  const out: DiskDelta[] = [];
  for (const d of cur) {
    const p = before.get(d.device);
    if (!p) continue;
    out.push({
      device: d.device,
      readBytes: delta(p.readBytes, d.readBytes),
      writeBytes: delta(p.writeBytes, d.writeBytes),
      readOps: delta(p.readOps, d.readOps),
      writeOps: delta(p.writeOps, d.writeOps),
    });
  }
  return out;
}

export interface DevicePollerOptions extends DeviceCollectorOptions {
  readonly intervalMs: number;
  /** The VMs to read this round (running ones). */
  readonly vms: () => readonly DiscoveredVm[];
  /** Deltas of one VM since its previous reading, at wall-clock `tMs`. */
  readonly onDeltas: (key: string, deltas: readonly DiskDelta[], tMs: number) => void;
  readonly onError?: (err: unknown) => void;
}

export class DevicePoller {
  private readonly collector: DeviceCollector;
  private readonly latest = new Map<string, DeviceView>();
  /** The last reading that had disks: a round in which the source failed keeps the baseline. */
  private readonly baseline = new Map<string, { disks: readonly DiskCounters[]; tMs: number }>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  rounds = 0;

  constructor(private readonly opts: DevicePollerOptions) {
    this.collector = new DeviceCollector(opts);
  }

  get enabled(): boolean {
    return this.opts.intervalMs > 0;
  }

  start(): void {
    if (!this.enabled || this.stopped) return;
    void this.round();
    this.timer = setInterval(() => void this.round(), this.opts.intervalMs);
  }

  /** One round now (a round already running is awaited instead). */
  round(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const vms = this.opts.vms();
        const readings = await this.collector.collect(vms);
        if (this.stopped) return;
        for (const [key, r] of readings) {
          const prev = this.baseline.get(key);
          const deltas = diskDeltas(prev?.disks ?? null, r.disks);
          const secs = prev ? (r.tMs - prev.tMs) / 1000 : 0;
          if (r.disks) this.baseline.set(key, { disks: r.disks, tMs: r.tMs });
          const rates: DiskRate[] =
            secs > 0
              ? deltas.map((d) => ({
                  device: d.device,
                  readBytesPerSec: d.readBytes / secs,
                  writeBytesPerSec: d.writeBytes / secs,
                  readOpsPerSec: d.readOps / secs,
                  writeOpsPerSec: d.writeOps / secs,
                }))
              : [];
          this.latest.set(key, { reading: r, rates: r.disks ? rates : [] });
          if (deltas.length > 0) this.opts.onDeltas(key, deltas, r.tMs);
        }
        for (const k of this.latest.keys()) if (!readings.has(k)) this.latest.delete(k);
        for (const k of this.baseline.keys()) if (!readings.has(k)) this.baseline.delete(k);
        this.rounds++;
      } catch (err) {
        this.opts.onError?.(err);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  get(key: string): DeviceView | null {
    return this.latest.get(key) ?? null;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
