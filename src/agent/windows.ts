// Per-window statistics aligned to wall-clock boundaries. A tick at nominal time T closes the
// interval (T - interval, T]; the interval and the gauges read at T belong to the window that
// holds the interval's midpoint, so an interval never straddles two windows when the sampling
// interval divides the window. A window [S, S+W) is complete once a tick at S+W has been folded in.
// This is the aggregation model: plain records in the agent's own terms. The wire format
// (ship/payload.ts) is made from them in wire-window.ts, and nothing here knows it.
import type { DiskDelta } from '../collect/disks/device-poller.js';
import { compareDeviceNames } from '../collect/disks/device-order.js';
import type { VmRates } from './rates.js';

/** A gauge over a window: the average is sum / count. */
export interface Summary {
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  readonly count: number;
}

export class GaugeAgg {
  sum = 0;
  min = Infinity;
  max = -Infinity;
  count = 0;

  add(v: number | null | undefined): void {
    if (v == null || !Number.isFinite(v)) return;
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.count++;
  }

  summary(): Summary | null {
    if (this.count === 0) return null;
    return { sum: this.sum, min: this.min, max: this.max, count: this.count };
  }
}

export function windowStart(tMs: number, windowSeconds: number): number {
  const w = windowSeconds * 1000;
  return Math.floor(tMs / w) * w;
}

/** The window a tick's interval belongs to (see the header comment). */
export function windowOfTick(nominalMs: number, intervalMs: number, windowSeconds: number): number {
  return windowStart(nominalMs - intervalMs / 2, windowSeconds);
}

export const VM_GAUGES = ['cpuPct', 'cpuCorePct', 'cpuUserPct', 'cpuSystemPct', 'vcpuBusyPct', 'stealPct', 'rssBytes', 'swapBytes', 'memUtilPct'] as const;
export type VmGauge = (typeof VM_GAUGES)[number];

/** The counters a VM's window adds up (VM view: In = what the VM received). */
export const VM_WINDOW_COUNTERS = [
  'netInBytes',
  'netOutBytes',
  'netInPackets',
  'netOutPackets',
  'netInErrors',
  'netOutErrors',
  'netInDropped',
  'netOutDropped',
  'diskReadBytes',
  'diskWriteBytes',
  'throttledPeriods',
  'throttledNs',
  'cpuSeconds',
] as const;
export type VmWindowCounter = (typeof VM_WINDOW_COUNTERS)[number];

/** One VM's record of one window. */
export interface VmRecord {
  readonly startMs: number;
  readonly seconds: number;
  /** Ticks in which the VM was read, and in which it was expected but not read. */
  readonly samples: number;
  readonly missed: number;
  readonly gauges: Readonly<Record<VmGauge, Summary | null>>;
  /** Totals over the window; cpuSeconds covers unsampled time too (carried deltas). */
  readonly counters: Readonly<Record<VmWindowCounter, number>>;
  /** False once an interval had a TAP that could not be read: network totals are then unknown. */
  readonly netKnown: boolean;
  /** Seconds no reading covered whose counter deltas this record carries (whole, ≤ seconds). */
  readonly unsampledSeconds: number;
  /** Per-disk totals from the device rounds, by device name; null: no device round in this window. */
  readonly disks: readonly DiskTotals[] | null;
}

/** One virtual disk's counters over a window (the hypervisor's own, from the device rounds). */
export interface DiskTotals {
  device: string;
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
}

export class InstanceAccumulator {
  readonly startMs: number;
  samples = 0;
  missed = 0;
  private readonly g = Object.fromEntries(VM_GAUGES.map((k) => [k, new GaugeAgg()])) as Record<VmGauge, GaugeAgg>;
  private readonly c = Object.fromEntries(VM_WINDOW_COUNTERS.map((k) => [k, 0])) as Record<VmWindowCounter, number>;
  /** False once an interval in the window had a TAP that could not be read: totals are then null. */
  netKnown = true;
  /** Seconds no reading covered whose counter deltas this window carries (see CarriedDeltas). */
  unsampled = 0;
  /** Per-disk deltas from the device rounds (collect/disks); null: none in this window. */
  disks: Map<string, DiskTotals> | null = null;

  constructor(startMs: number) {
    this.startMs = startMs;
  }

  /**
   * Counter deltas over time no reading covered (the agent was stopped): counters only, no
   * gauges, since nothing was sampled then; `unsampled` seconds say how much time that was.
   */
  addCarried(d: CarriedDeltas, unsampledSeconds: number): void {
    for (const k of VM_WINDOW_COUNTERS) this.c[k] += d[k];
    if (!d.netKnown) this.netKnown = false;
    this.unsampled += unsampledSeconds;
  }

  /** A tick in which the VM was read. `rates` is null on its first read (no interval yet). */
  addSample(rates: VmRates | null, gauges: { rssBytes: number; swapBytes: number | null; memUtilPct: number | null }): void {
    this.samples++;
    this.g.rssBytes.add(gauges.rssBytes);
    this.g.swapBytes.add(gauges.swapBytes);
    this.g.memUtilPct.add(gauges.memUtilPct);
    if (!rates) return;
    this.g.cpuPct.add(rates.cpuPct);
    this.g.cpuCorePct.add(rates.cpuCorePct);
    this.g.cpuUserPct.add(rates.cpuUserPct);
    this.g.cpuSystemPct.add(rates.cpuSystemPct);
    this.g.vcpuBusyPct.add(rates.vcpuBusyPct);
    this.g.stealPct.add(rates.stealPct);
    for (const k of VM_WINDOW_COUNTERS) this.c[k] += rates[k];
    if (!rates.netKnown) this.netKnown = false;
  }

  /** Per-disk counter deltas of one device round (the hypervisor's counters, not /proc). */
  addDisks(deltas: readonly DiskDelta[]): void {
    this.disks ??= new Map();
    for (const d of deltas) {
      const w = this.disks.get(d.device) ?? { device: d.device, readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0 };
      w.readBytes += d.readBytes;
      w.writeBytes += d.writeBytes;
      w.readOps += d.readOps;
      w.writeOps += d.writeOps;
      this.disks.set(d.device, w);
    }
  }

  /** A tick in which the VM was expected but not read (worker lost, read failed): not a zero. */
  addMissed(): void {
    this.missed++;
  }

  toRecord(windowSeconds: number): VmRecord {
    return {
      startMs: this.startMs,
      seconds: windowSeconds,
      samples: this.samples,
      missed: this.missed,
      gauges: Object.fromEntries(VM_GAUGES.map((k) => [k, this.g[k].summary()])) as Record<VmGauge, Summary | null>,
      counters: { ...this.c },
      netKnown: this.netKnown,
      unsampledSeconds: Math.min(Math.round(this.unsampled), windowSeconds),
      disks: this.disks ? [...this.disks.values()].sort((a, b) => compareDeviceNames(a.device, b.device)).map((d) => ({ ...d })) : null,
    };
  }
}

/** Counter deltas between two readings of one process (carried across an agent restart). */
export type CarriedDeltas = Record<VmWindowCounter, number> & { netKnown: boolean };

/** One tick's host values: gauges (percent, load) and byte deltas of the physical interfaces. */
export interface HostTick {
  cpuPct: number | null;
  iowaitPct: number | null;
  stealPct: number | null;
  ramPct: number | null;
  swapPct: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  diskPct: number | null;
  netInBytes: number;
  netOutBytes: number;
}

export const HOST_GAUGES = ['cpuPct', 'iowaitPct', 'stealPct', 'ramPct', 'swapPct', 'load1', 'load5', 'load15', 'diskPct'] as const;
export type HostGauge = (typeof HOST_GAUGES)[number];

/** The host's record of one window. */
export interface HostRecord {
  readonly startMs: number;
  readonly seconds: number;
  readonly samples: number;
  readonly gauges: Readonly<Record<HostGauge, Summary | null>>;
  /** Bytes received / sent by the physical interfaces over the window. */
  readonly netInBytes: number;
  readonly netOutBytes: number;
}

export class HostAccumulator {
  readonly startMs: number;
  samples = 0;
  private readonly g = Object.fromEntries(HOST_GAUGES.map((k) => [k, new GaugeAgg()])) as Record<HostGauge, GaugeAgg>;
  netIn = 0;
  netOut = 0;

  constructor(startMs: number) {
    this.startMs = startMs;
  }

  add(t: HostTick): void {
    this.samples++;
    for (const k of HOST_GAUGES) this.g[k].add(t[k]);
    this.netIn += t.netInBytes;
    this.netOut += t.netOutBytes;
  }

  toRecord(windowSeconds: number): HostRecord {
    return {
      startMs: this.startMs,
      seconds: windowSeconds,
      samples: this.samples,
      gauges: Object.fromEntries(HOST_GAUGES.map((k) => [k, this.g[k].summary()])) as Record<HostGauge, Summary | null>,
      netInBytes: this.netIn,
      netOutBytes: this.netOut,
    };
  }
}

/** A closed window: the host's record and every VM's that had at least one tick in it. */
export interface ClosedWindow {
  startMs: number;
  host: HostRecord;
  instances: Map<string, VmRecord>;
  /** A window from before this run (the agent was not running): counters carried, host unsampled. */
  backfill: boolean;
}

/**
 * Holds the open windows (normally one, briefly two around a boundary) and a ring of the last
 * `keep` closed ones. Keys are DiscoveredVm keys (pid:starttime). Records are `recordSeconds` long:
 * the window itself when it divides a minute, else one minute (a longer window is shipped as one
 * batch of minute records, the server's model).
 *
 * A window that has been closed is never opened again: a late arrival (a VM found gone by a
 * discovery pass just after a boundary) lands in the earliest window still open. Only `backfill`
 * opens a window in the past, and only one before this run's first window, which no tick of this
 * run ever touched.
 */
export class Windows {
  private readonly open = new Map<number, { host: HostAccumulator; vms: Map<string, InstanceAccumulator>; backfill: boolean }>();
  private readonly closed: ClosedWindow[] = [];
  /** End (ms) of the newest window closed so far; nothing before it opens again. */
  private closedEnd = -Infinity;
  private firstStart: number | null = null;
  readonly recordSeconds: number;

  constructor(
    readonly windowSeconds: number,
    readonly intervalMs: number,
    readonly keep = 60,
  ) {
    this.recordSeconds = Math.min(windowSeconds, 60);
  }

  private slotAt(start: number, backfill = false) {
    let s = this.open.get(start);
    if (!s) {
      s = { host: new HostAccumulator(start), vms: new Map(), backfill };
      this.open.set(start, s);
    }
    return s;
  }

  private slot(nominalMs: number) {
    const start = Math.max(windowOfTick(nominalMs, this.intervalMs, this.recordSeconds), this.closedEnd);
    this.firstStart ??= start;
    return this.slotAt(start);
  }

  /** Start (ms) of the record a tick at `nominalMs` folds into. */
  recordStartOf(nominalMs: number): number {
    return Math.max(windowOfTick(nominalMs, this.intervalMs, this.recordSeconds), this.closedEnd);
  }

  vm(key: string, nominalMs: number): InstanceAccumulator {
    const s = this.slot(nominalMs);
    let a = s.vms.get(key);
    if (!a) {
      a = new InstanceAccumulator(s.host.startMs);
      s.vms.set(key, a);
    }
    return a;
  }

  /**
   * The accumulator of a record that starts at `startMs`, before this run's first record (time the
   * agent was not running); null when that record may already have been handed on.
   */
  backfill(key: string, startMs: number): InstanceAccumulator | null {
    if (startMs % (this.recordSeconds * 1000) !== 0) throw new Error(`backfill: ${startMs} is not a record boundary`);
    if (this.firstStart === null || startMs >= this.firstStart) return null;
    const s = this.slotAt(startMs, true);
    let a = s.vms.get(key);
    if (!a) {
      a = new InstanceAccumulator(startMs);
      s.vms.set(key, a);
    }
    return a;
  }

  host(nominalMs: number): HostAccumulator {
    return this.slot(nominalMs).host;
  }

  /** Close every window that ends at or before `nominalMs`; oldest first. */
  closeThrough(nominalMs: number): ClosedWindow[] {
    const out: ClosedWindow[] = [];
    const w = this.recordSeconds * 1000;
    for (const start of [...this.open.keys()].sort((a, b) => a - b)) {
      if (start + w > nominalMs) continue;
      out.push(this.finish(start));
    }
    return out;
  }

  /** Close everything still open (shutdown): partial windows keep their true sample counts. */
  closeAll(): ClosedWindow[] {
    return [...this.open.keys()].sort((a, b) => a - b).map((s) => this.finish(s));
  }

  private finish(start: number): ClosedWindow {
    const s = this.open.get(start)!;
    this.open.delete(start);
    const end = start + this.recordSeconds * 1000;
    if (end > this.closedEnd) this.closedEnd = end;
    const instances = new Map<string, VmRecord>();
    for (const [k, a] of s.vms) instances.set(k, a.toRecord(this.recordSeconds));
    const c: ClosedWindow = { startMs: start, host: s.host.toRecord(this.recordSeconds), instances, backfill: s.backfill };
    this.closed.push(c);
    this.closed.sort((a, b) => a.startMs - b.startMs);
    if (this.closed.length > this.keep) this.closed.shift();
    return c;
  }

  /** The last closed windows, oldest first. */
  history(): readonly ClosedWindow[] {
    return this.closed;
  }
}
