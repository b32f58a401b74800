// The agent loop: discovery on its own cadence (and at once when a read says a process is gone),
// a sampling tick aligned to the wall clock (scheduler.ts), rates from consecutive reads, and
// windows that close on wall-clock boundaries and are handed on as plain data through a bounded
// queue (report-queue.ts), so that sampling never waits for the outbox's fsyncs.
import type { Logger } from 'pino';
import { Discovery } from '../discover/scan.js';
import { physicalInterfaces } from '../collect/host.js';
import { readVmOnce } from '../collect/vm-reader.js';
import type { VmSample } from '../collect/vm-sample.js';
import { readThreadUsage } from '../collect/thread-usage.js';
import { fail, type FailureKind, type Outcome } from '../readers/outcome.js';
import type { SystemConstants } from '../readers/system.js';
import type { HostWindow, InstanceWindow } from '../ship/payload.js';
import type { AgentConfig } from './config.js';
import { SamplerPool } from './pool.js';
import { counterDeltas, deriveRates } from './rates.js';
import { gapGoesWhole, spreadGap } from './carry.js';
import { Windows } from './windows.js';
import { hostWindow, instanceWindow } from './wire-window.js';
import { TickScheduler } from './scheduler.js';
import { InstanceRegistry, type InstanceState } from './instance-registry.js';
import { HostSampler } from './host-sampler.js';
import { NicDeltas } from './nic-deltas.js';
import { WindowEmitter } from './window-emitter.js';
import { ReportQueue } from './report-queue.js';
import { HealthState } from './health.js';
import type { CarriedReading, WindowListener } from './report.js';
import type { AgentHealth, AgentView, HostView, InstanceView, ThreadUsage } from './view.js';
import { DevicePoller } from '../collect/disks/device-poller.js';

export type { CarriedReading, WindowReport } from './report.js';

/** What the agent reports about itself; the metrics module implements it. */
export interface AgentObserver {
  observeTick(seconds: number): void;
  observeDiscovery(seconds: number): void;
  readError(kind: FailureKind): void;
}

export interface AgentOptions {
  /** Reports the window consumer may fall behind by before a tick waits for it (default 8). */
  readonly reportQueueCapacity?: number;
}

export const REPORT_QUEUE_CAPACITY = 8;

export class Agent implements AgentView {
  private readonly discovery: Discovery;
  private readonly pool: SamplerPool;
  private readonly windows: Windows;
  private readonly registry = new InstanceRegistry();
  private readonly hostSampler: HostSampler;
  private readonly emitter: WindowEmitter;
  private readonly queue: ReportQueue;
  private readonly scheduler: TickScheduler;
  private readonly healthState = new HealthState();
  /** Per-disk I/O and balloon readings on their own cadence (collect/disks/device-poller.ts). */
  readonly devices: DevicePoller;
  private physical = new Set<string>();
  private discoveryTimer: NodeJS.Timeout | null = null;
  private discovering: Promise<void> | null = null;
  private rescanSoon: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Boundaries skipped by overrun, not yet counted as Missed (settled by the next tick). */
  private overrunPending: number[] = [];

  readonly clockTicksPerSecond: number;
  readonly windowSeconds: number;

  constructor(
    private readonly config: AgentConfig,
    private readonly constants: SystemConstants,
    private readonly log: Logger,
    private readonly observer?: AgentObserver,
    opts: AgentOptions = {},
  ) {
    this.clockTicksPerSecond = constants.clockTicksPerSecond;
    this.windowSeconds = config.windowSeconds;
    this.discovery = new Discovery({ procRoot: config.procRoot, sysRoot: config.sysRoot, apiTimeoutMs: config.apiTimeoutMs });
    this.pool = new SamplerPool({ size: config.workers, vmsPerWorker: config.vmsPerWorker, procRoot: config.procRoot, sysRoot: config.sysRoot, constants });
    this.windows = new Windows(config.windowSeconds, config.intervalMs);
    this.hostSampler = new HostSampler(config.procRoot, config.sysRoot);
    this.emitter = new WindowEmitter(config.windowSeconds, this.registry, this.hostSampler, new NicDeltas(), () => this.physical);
    const dc = config.devices;
    this.devices = new DevicePoller({
      procRoot: config.procRoot,
      intervalMs: dc?.intervalMs ?? 0,
      libvirt: dc?.libvirt ?? { uri: 'qemu:///system', virsh: 'virsh', timeoutMs: 5000 },
      apiTimeoutMs: dc?.apiTimeoutMs ?? config.apiTimeoutMs,
      vms: () => [...this.registry.all()].filter((s) => s.state === 'running').map((s) => s.vm),
      // Into the window open now: the deltas happened up to this reading.
      onDeltas: (key, deltas, tMs) => {
        if (!this.stopped && this.registry.get(key)?.state === 'running') this.windows.vm(key, tMs + this.config.intervalMs / 2).addDisks(deltas);
      },
      onError: (err) => this.log.warn({ err }, 'device round failed'),
    });
    this.registry.devicesOf = (key) => this.devices.get(key);
    this.queue = new ReportQueue(opts.reportQueueCapacity ?? REPORT_QUEUE_CAPACITY, (err, r) => this.log.error({ err, minute: r.window.startMs / 1000 }, 'window listener failed'));
    this.scheduler = new TickScheduler({
      intervalMs: config.intervalMs,
      tick: (nominal) => this.tickAt(nominal),
      overrun: (nominal) => this.tickOverrun(nominal),
      failed: (err) => this.log.error({ err }, 'tick failed'),
      took: (s) => this.observer?.observeTick(s),
    });
  }

  /**
   * Readings kept by a previous run (same pid and starttime = same process). Each is used once, by
   * the VM's first read, so the counters between the two runs are not lost.
   */
  carryFrom(readings: Iterable<CarriedReading>): void {
    this.registry.carryFrom(readings);
  }

  /** The latest reading of every running VM: what every report made so far adds up to. */
  readings(): CarriedReading[] {
    return this.registry.readings();
  }

  /**
   * Called with every report, oldest first, from the report queue: a listener runs while sampling
   * goes on, and the next report waits for it. A report carries its own copy of the readings.
   */
  onWindow(listener: WindowListener): void {
    this.queue.onReport(listener);
  }

  async start(): Promise<void> {
    await this.discover();
    this.discoveryTimer = setInterval(() => void this.discover(), this.config.discoveryIntervalMs);
    this.devices.start();
    this.scheduler.start();
  }

  /** One discovery pass at a time; a request during a pass waits for it. */
  discover(): Promise<void> {
    if (this.discovering) return this.discovering;
    this.discovering = (async () => {
      const t0 = performance.now();
      try {
        const r = await this.discovery.scan();
        for (const vm of r.added) {
          this.registry.add(vm);
          this.log.info({ instance_id: vm.instanceId, instance_name: vm.instanceName, hypervisor: vm.hypervisor, pid: vm.pid, taps: vm.taps }, 'VM discovered');
        }
        for (const vm of r.all) this.registry.update(vm);
        for (const vm of r.removed) this.markGone(vm.key, 'process exited');
        this.registry.dropCarriedExcept(new Set(r.all.map((vm) => vm.key)));
        if (!this.stopped) this.pool.sync(r.all);
        this.physical = new Set(physicalInterfaces(this.config.sysRoot));
        this.hostSampler.refreshMounts();
        this.healthState.discoveryDone();
      } catch (err) {
        this.log.error({ err }, 'discovery failed');
      } finally {
        this.observer?.observeDiscovery((performance.now() - t0) / 1000);
        this.discovering = null;
      }
    })();
    return this.discovering;
  }

  /**
   * The window in which a VM is found gone holds a record for it with no samples and Running
   * false, so the server learns that the process ended rather than guessing from silence.
   */
  private markGone(key: string, why: string, nominal = Date.now()): void {
    const s = this.registry.markGone(key);
    if (!s) return;
    if (!this.stopped) this.windows.vm(key, nominal);
    this.log.info({ instance_id: s.vm.instanceId, pid: s.vm.pid, why }, 'VM gone');
  }

  private requestRescan(): void {
    if (this.rescanSoon || this.stopped) return;
    this.rescanSoon = setTimeout(() => {
      this.rescanSoon = null;
      void this.discover();
    }, 50);
  }

  /**
   * A tick not run because the previous one still ran. It counts as Missed for the VMs the next
   * tick finds still running (one found gone then may have ended before the skipped boundary, and
   * a gone VM's last window holds only what it lived for).
   */
  private tickOverrun(nominal: number): void {
    if (this.stopped) return;
    this.overrunPending.push(nominal);
    this.log.warn({ nominal: new Date(nominal).toISOString(), overrunTicks: this.scheduler.overruns }, 'the previous tick was still running: this tick is skipped and counted as Missed');
  }

  private settleOverruns(): void {
    if (this.overrunPending.length === 0) return;
    for (const s of this.registry.all()) {
      if (s.state !== 'running') continue;
      for (const n of this.overrunPending) if (s.vm.discoveredAt <= n) this.windows.vm(s.vm.key, n).addMissed();
    }
    this.overrunPending = [];
  }

  /** One sampling pass, attributed to the nominal (wall-clock aligned) time `nominal`. */
  async tickAt(nominal: number): Promise<void> {
    const result = await this.pool.tick((key) => this.registry.takeSpare(key));
    for (const [key, outcome] of result.samples) {
      const s = this.registry.get(key);
      if (!s) continue;
      if (!outcome.ok) {
        if (outcome.kind === 'gone') {
          this.markGone(key, outcome.detail, nominal);
          this.requestRescan();
        } else {
          this.observer?.readError(outcome.kind);
          if (s.state === 'running') this.windows.vm(key, nominal).addMissed();
        }
        continue;
      }
      this.addRead(s, outcome.value, nominal);
    }
    for (const key of result.notSampled) {
      if (this.registry.get(key)?.state === 'running') this.windows.vm(key, nominal).addMissed();
    }
    this.settleOverruns();
    if (result.failedShards > 0) this.log.warn({ failedShards: result.failedShards, notSampled: result.notSampled.size }, 'sampler worker failed; its VMs are marked not sampled for this tick');

    const host = this.hostSampler.sample(this.physical, (kind, detail) => {
      this.observer?.readError(kind);
      this.log.warn({ kind, detail }, 'host counters could not be read');
    });
    if (host) this.windows.host(nominal).add(host);
    this.healthState.tickDone();
    const report = this.emitter.report(this.windows.closeThrough(nominal), nominal);
    // Waits only while the queue is full (counted): sampling is held back, nothing is dropped.
    if (report) await this.queue.push(report);
  }

  private addRead(s: InstanceState, cur: VmSample, nominal: number): void {
    const key = s.vm.key;
    for (const e of cur.errors) this.observer?.readError(e.kind);
    const carried = this.registry.takeCarried(key);
    if (carried && !s.latest && carried.instanceId === s.vm.instanceId) this.addCarried(key, carried.sample, cur, nominal);
    const prev = s.latest;
    const rates = prev
      ? deriveRates(
          prev,
          cur,
          {
            clockTicksPerSecond: this.clockTicksPerSecond,
            allocatedVcpus: s.vm.allocatedVcpus,
            allocatedMemoryBytes: s.vm.allocatedMemoryBytes,
            vcpuThreads: s.vm.vcpuTids.length,
          },
          s.rates,
        )
      : null;
    s.rates = rates;
    s.latest = cur;
    s.spare = prev;
    s.lastSampledMs = cur.tMs;
    this.windows.vm(key, nominal).addSample(rates, {
      rssBytes: cur.rssBytes,
      swapBytes: cur.swapBytes,
      memUtilPct: s.vm.allocatedMemoryBytes > 0 ? (cur.rssBytes / s.vm.allocatedMemoryBytes) * 100 : null,
    });
  }

  /**
   * The deltas between a reading of the previous run and this run's first: whole into the current
   * window when the gap is short, else spread over the records it covers. No gauge is added: nothing
   * was sampled in between.
   */
  private addCarried(key: string, before: VmSample, cur: VmSample, nominal: number): void {
    if (!(cur.tMs > before.tMs)) return;
    const d = counterDeltas(before, cur, this.clockTicksPerSecond);
    const current = this.windows.vm(key, nominal);
    const interval = this.config.intervalMs;
    if (gapGoesWhole(before.tMs, cur.tMs, this.windowSeconds)) {
      current.addCarried(d, Math.max(0, cur.tMs - before.tMs - interval) / 1000);
      return;
    }
    const currentStart = this.windows.recordStartOf(nominal);
    for (const share of spreadGap(d, before.tMs, cur.tMs, this.windows.recordSeconds * 1000, interval, this.clockTicksPerSecond)) {
      const acc = share.startMs < currentStart ? (this.windows.backfill(key, share.startMs) ?? current) : current;
      acc.addCarried(share.deltas, share.unsampledSeconds);
    }
    this.log.info({ key, gapSeconds: Math.round((cur.tMs - before.tMs) / 1000) }, 'counters carried over the time the agent was stopped');
  }

  /**
   * Stop sampling; the still-open windows are closed (partial) and handed on, and every report
   * has been consumed when this resolves.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.discoveryTimer) clearInterval(this.discoveryTimer);
    if (this.rescanSoon) clearTimeout(this.rescanSoon);
    await this.scheduler.stop();
    await this.discovering;
    await this.devices.stop();
    this.settleOverruns();
    const last = this.emitter.report(this.windows.closeAll(), null);
    if (last) await this.queue.push(last);
    await this.queue.idle();
    await this.pool.close();
    this.hostSampler.close();
  }

  // ---- AgentView ----

  instances(): readonly InstanceView[] {
    return this.registry.views();
  }

  async readFresh(key: string): Promise<Outcome<VmSample>> {
    const s = this.registry.get(key);
    if (!s) return fail('gone', `no VM with key ${key}`);
    return readVmOnce(s.vm, { procRoot: this.config.procRoot, sysRoot: this.config.sysRoot, constants: this.constants });
  }

  async threads(key: string): Promise<Outcome<readonly ThreadUsage[]>> {
    const s = this.registry.get(key);
    if (!s) return fail('gone', `no VM with key ${key}`);
    return readThreadUsage(this.config.procRoot, s.vm.pid, s.vm.vcpuTids, this.clockTicksPerSecond);
  }

  instanceHistory(key: string): readonly InstanceWindow[] {
    const out: InstanceWindow[] = [];
    for (const w of this.windows.history()) {
      const r = w.instances.get(key);
      if (r) out.push(instanceWindow(r));
    }
    return out;
  }

  hostHistory(): readonly HostWindow[] {
    return this.windows.history().map((w) => hostWindow(w.host));
  }

  host(): HostView {
    return this.hostSampler.view();
  }

  health(): AgentHealth {
    const q = this.queue.stats();
    return this.healthState.snapshot(this.scheduler.overruns, { queued: q.queued, capacity: q.capacity, fullWaits: q.fullWaits });
  }

  get deviceRoundsEnabled(): boolean {
    return this.devices.enabled;
  }

  /** For tests: the worker threads of a shard, and the shard sizes. */
  get samplerPool(): SamplerPool {
    return this.pool;
  }
}
