// The agent loop: discovery on its own cadence (and at once when a read says a process is gone),
// a sampling tick aligned to the wall clock, rates from consecutive reads, and windows that close
// on wall-clock boundaries and are handed on as plain data.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Discovery } from '../discover/scan.js';
import type { DiscoveredVm } from '../discover/vm.js';
import { HostReader, filesystems, hostFacts, physicalInterfaces, type HostCounters } from '../collect/host.js';
import { readVmOnce } from '../collect/vm-reader.js';
import type { VmSample } from '../collect/vm-sample.js';
import { fail, ok, type FailureKind, type Outcome } from '../readers/outcome.js';
import { readOnce } from '../readers/kept-file.js';
import { parseProcStat } from '../readers/parse-proc-stat.js';
import { parseComm } from '../readers/parse-comm.js';
import { parseSchedstat } from '../readers/parse-schedstat.js';
import type { SystemConstants } from '../readers/system.js';
import type { HostWindow, InstanceWindow, NetworkInterfaceInfo } from '../ship/payload.js';
import type { AgentConfig } from './config.js';
import { SamplerPool } from './pool.js';
import { counterDelta, counterDeltas, deriveRates, tapRates, type VmRates } from './rates.js';
import { gapGoesWhole, spreadGap } from './carry.js';
import { diskUsedPercent, hostTick } from './host-rates.js';
import { Windows, type ClosedWindow, type HostTick } from './windows.js';
import { hostWindow, instanceWindow } from './wire-window.js';
import type { AgentHealth, AgentView, HostView, InstanceView, TapRate, ThreadUsage } from './view.js';

/** What the agent reports about itself; the metrics module implements it. */
export interface AgentObserver {
  observeTick(seconds: number): void;
  observeDiscovery(seconds: number): void;
  readError(kind: FailureKind): void;
}

/**
 * Closed windows handed on together, with the identity of every VM in them (gone VMs included).
 * Normally one window; a window longer than a minute is its minute records, and the first report
 * after a restart may add records backfilled over the time the agent was stopped. Every counter
 * delta up to the agent's current readings (`Agent.readings()`) is in this report or an earlier one.
 */
export interface WindowReport {
  /** Oldest first. */
  readonly windows: readonly ClosedWindow[];
  /** The newest of `windows`. */
  readonly window: ClosedWindow;
  readonly vms: ReadonlyMap<string, { vm: DiscoveredVm; latest: VmSample | null; running: boolean }>;
  /** Bytes in/out of each physical interface since the previous window was handed on. */
  readonly interfaces: readonly NetworkInterfaceInfo[];
}

interface InstanceState {
  vm: DiscoveredVm;
  state: 'running' | 'gone';
  latest: VmSample | null;
  rates: VmRates | null;
  tapRates: TapRate[];
  lastSampledMs: number | null;
  goneAtMs: number | null;
}

/** The raw readings of one VM process at a window close, kept so that a restart continues from them. */
export interface CarriedReading {
  readonly key: string;
  readonly instanceId: string;
  readonly sample: VmSample;
}

export class Agent implements AgentView {
  private carried = new Map<string, CarriedReading>();
  /** Windows closed but not handed on yet (the minute records of a window longer than a minute). */
  private held: ClosedWindow[] = [];
  private readonly discovery: Discovery;
  private readonly pool: SamplerPool;
  private readonly windows: Windows;
  private readonly hostReader: HostReader;
  private readonly instancesByKey = new Map<string, InstanceState>();
  private physical = new Set<string>();
  private hostPrev: HostCounters | null = null;
  private netAtLastWindow = new Map<string, { rx: number; tx: number }>();
  private hostLatest: HostTick | null = null;
  private facts: HostView['facts'];
  private tickTimer: NodeJS.Timeout | null = null;
  private discoveryTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private discovering: Promise<void> | null = null;
  private rescanSoon: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly healthState = { ready: false, startedAtMs: Date.now(), ticks: 0, discoveries: 0, lastTickMs: null as number | null, lastDiscoveryMs: null as number | null, skippedTicks: 0 };
  private windowListeners: ((r: WindowReport) => void | Promise<void>)[] = [];

  readonly clockTicksPerSecond: number;
  readonly windowSeconds: number;

  constructor(
    private readonly config: AgentConfig,
    private readonly constants: SystemConstants,
    private readonly log: Logger,
    private readonly observer?: AgentObserver,
  ) {
    this.clockTicksPerSecond = constants.clockTicksPerSecond;
    this.windowSeconds = config.windowSeconds;
    this.discovery = new Discovery({ procRoot: config.procRoot, sysRoot: config.sysRoot, apiTimeoutMs: config.apiTimeoutMs });
    this.pool = new SamplerPool({ size: config.workers, procRoot: config.procRoot, sysRoot: config.sysRoot, constants });
    this.windows = new Windows(config.windowSeconds, config.intervalMs);
    this.hostReader = new HostReader({ procRoot: config.procRoot });
    this.facts = this.readFacts();
  }

  /**
   * Readings kept by a previous run (same pid and starttime = same process). Each is used once, by
   * the VM's first read, so the counters between the two runs are not lost.
   */
  carryFrom(readings: Iterable<CarriedReading>): void {
    for (const r of readings) this.carried.set(r.key, r);
  }

  /** The latest reading of every running VM: what every report handed on so far adds up to. */
  readings(): CarriedReading[] {
    const out: CarriedReading[] = [];
    for (const s of this.instancesByKey.values()) if (s.state === 'running' && s.latest) out.push({ key: s.vm.key, instanceId: s.vm.instanceId, sample: s.latest });
    // A VM not read yet in this run keeps the reading it was carried with.
    for (const [key, r] of this.carried) if (this.instancesByKey.get(key)?.state !== 'gone') out.push(r);
    return out;
  }

  /** Called with every closed window, oldest first; awaited before the next window is handed on. */
  onWindow(listener: (r: WindowReport) => void | Promise<void>): void {
    this.windowListeners.push(listener);
  }

  async start(): Promise<void> {
    await this.discover();
    this.discoveryTimer = setInterval(() => void this.discover(), this.config.discoveryIntervalMs);
    this.scheduleTick();
  }

  private readFacts(): HostView['facts'] {
    const f = hostFacts({ procRoot: this.config.procRoot });
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

  /** One discovery pass at a time; a request during a pass waits for it. */
  discover(): Promise<void> {
    if (this.discovering) return this.discovering;
    this.discovering = (async () => {
      const t0 = performance.now();
      try {
        const r = await this.discovery.scan();
        for (const vm of r.added) {
          this.instancesByKey.set(vm.key, { vm, state: 'running', latest: null, rates: null, tapRates: [], lastSampledMs: null, goneAtMs: null });
          this.log.info({ instance_id: vm.instanceId, instance_name: vm.instanceName, hypervisor: vm.hypervisor, pid: vm.pid, taps: vm.taps }, 'VM discovered');
        }
        for (const vm of r.all) {
          const s = this.instancesByKey.get(vm.key);
          if (s) s.vm = vm;
        }
        for (const vm of r.removed) this.markGone(vm.key, 'process exited');
        // A carried reading whose process is not running any more has nothing to continue.
        if (this.carried.size > 0) {
          const alive = new Set(r.all.map((vm) => vm.key));
          for (const key of this.carried.keys()) if (!alive.has(key)) this.carried.delete(key);
        }
        if (!this.stopped) this.pool.sync(r.all);
        this.physical = new Set(physicalInterfaces(this.config.sysRoot));
        this.healthState.discoveries++;
        this.healthState.lastDiscoveryMs = Date.now();
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
    const s = this.instancesByKey.get(key);
    if (!s || s.state === 'gone') return;
    s.state = 'gone';
    s.goneAtMs = Date.now();
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

  private scheduleTick(): void {
    if (this.stopped) return;
    const i = this.config.intervalMs;
    const now = Date.now();
    const nominal = Math.floor(now / i) * i + i;
    this.tickTimer = setTimeout(() => void this.runTick(nominal), nominal - now);
  }

  private async runTick(nominal: number): Promise<void> {
    if (this.stopped) return;
    if (this.ticking) {
      // The previous tick overran a whole interval: skip rather than pile up.
      this.healthState.skippedTicks++;
      this.scheduleTick();
      return;
    }
    this.ticking = true;
    const t0 = performance.now();
    try {
      await this.tickAt(nominal);
    } catch (err) {
      this.log.error({ err }, 'tick failed');
    } finally {
      this.ticking = false;
      this.observer?.observeTick((performance.now() - t0) / 1000);
      this.scheduleTick();
    }
  }

  /** One sampling pass, attributed to the nominal (wall-clock aligned) time `nominal`. */
  async tickAt(nominal: number): Promise<void> {
    const result = await this.pool.tick();
    for (const [key, outcome] of result.samples) {
      const s = this.instancesByKey.get(key);
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
      const cur = outcome.value;
      for (const e of cur.errors) this.observer?.readError(e.kind);
      const carried = this.carried.get(key);
      if (carried) {
        this.carried.delete(key);
        if (!s.latest && carried.instanceId === s.vm.instanceId) this.addCarried(key, carried.sample, cur, nominal);
      }
      const prev = s.latest;
      const rates = prev
        ? deriveRates(prev, cur, {
            clockTicksPerSecond: this.clockTicksPerSecond,
            allocatedVcpus: s.vm.allocatedVcpus,
            allocatedMemoryBytes: s.vm.allocatedMemoryBytes,
            vcpuThreads: s.vm.vcpuTids.length,
          })
        : null;
      s.rates = rates;
      s.tapRates = prev && rates ? tapRates(prev, cur, rates.seconds) : [];
      s.latest = cur;
      s.lastSampledMs = cur.tMs;
      this.windows.vm(key, nominal).addSample(rates, {
        rssBytes: cur.rssBytes,
        swapBytes: cur.swapBytes,
        memUtilPct: s.vm.allocatedMemoryBytes > 0 ? (cur.rssBytes / s.vm.allocatedMemoryBytes) * 100 : null,
      });
    }
    for (const key of result.notSampled) {
      const s = this.instancesByKey.get(key);
      if (s && s.state === 'running') this.windows.vm(key, nominal).addMissed();
    }
    if (result.failedShards > 0) this.log.warn({ failedShards: result.failedShards, notSampled: result.notSampled.size }, 'sampler worker failed; its VMs are marked not sampled for this tick');

    this.sampleHost(nominal);
    this.healthState.ticks++;
    this.healthState.lastTickMs = Date.now();
    this.healthState.ready = this.healthState.discoveries > 0;
    await this.emit(this.windows.closeThrough(nominal), nominal);
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

  private sampleHost(nominal: number): void {
    const r = this.hostReader.read();
    if (!r.ok) {
      this.observer?.readError(r.kind);
      this.log.warn({ kind: r.kind, detail: r.detail }, 'host counters could not be read');
      return;
    }
    const t = hostTick(this.hostPrev, r.value, this.physical, diskUsedPercent(filesystems({ procRoot: this.config.procRoot })));
    this.hostPrev = r.value;
    this.hostLatest = t;
    this.windows.host(nominal).add(t);
  }

  /**
   * Hands on what has closed. A window longer than a minute closes minute by minute; its records
   * are held until the window ends (`nominal` null: stopping, everything goes), so that a report
   * never leaves a folded delta behind in memory.
   */
  private async emit(closed: ClosedWindow[], nominal: number | null): Promise<void> {
    this.held.push(...closed);
    if (this.held.length === 0) return;
    const W = this.windowSeconds * 1000;
    if (nominal !== null && this.held.some((w) => Math.floor(w.startMs / W) * W + W > nominal)) return;
    const windows = this.held.sort((a, b) => a.startMs - b.startMs);
    this.held = [];
    const keys = new Set<string>();
    for (const w of windows) for (const k of w.instances.keys()) keys.add(k);
    const vms = new Map<string, { vm: DiscoveredVm; latest: VmSample | null; running: boolean }>();
    for (const key of keys) {
      const s = this.instancesByKey.get(key);
      if (s) vms.set(key, { vm: s.vm, latest: s.latest, running: s.state === 'running' });
    }
    // Gone VMs stay visible until the window that records their end has been handed on.
    for (const key of keys) {
      const s = this.instancesByKey.get(key);
      if (s?.state === 'gone') this.instancesByKey.delete(key);
    }
    const window = windows.at(-1)!;
    const interfaces: NetworkInterfaceInfo[] = [];
    const now = new Map<string, { rx: number; tx: number }>();
    for (const n of this.hostPrev?.net ?? []) {
      if (!this.physical.has(n.name)) continue;
      now.set(n.name, { rx: n.rxBytes, tx: n.txBytes });
      const was = this.netAtLastWindow.get(n.name);
      if (was) interfaces.push({ Name: n.name, NetIn: counterDelta(was.rx, n.rxBytes), NetOut: counterDelta(was.tx, n.txBytes) });
    }
    this.netAtLastWindow = now;
    this.facts = { ...this.facts, SystemUptime: this.hostPrev ? Math.floor(this.hostPrev.uptime.uptimeSeconds) : this.facts.SystemUptime };
    for (const l of this.windowListeners) {
      try {
        await l({ windows, window, vms, interfaces });
      } catch (err) {
        this.log.error({ err, minute: window.startMs / 1000 }, 'window listener failed');
      }
    }
  }

  /** Stop sampling; the still-open windows are closed (partial) and handed on. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.discoveryTimer) clearInterval(this.discoveryTimer);
    if (this.rescanSoon) clearTimeout(this.rescanSoon);
    while (this.ticking) await new Promise((r) => setTimeout(r, 10));
    await this.discovering;
    await this.emit(this.windows.closeAll(), null);
    await this.pool.close();
    this.hostReader.close();
  }

  // ---- AgentView ----

  instances(): readonly InstanceView[] {
    return [...this.instancesByKey.values()].map((s) => ({
      vm: s.vm,
      state: s.state,
      latest: s.latest,
      rates: s.rates,
      tapRates: s.tapRates,
      lastSampledMs: s.lastSampledMs,
    }));
  }

  async readFresh(key: string): Promise<Outcome<VmSample>> {
    const s = this.instancesByKey.get(key);
    if (!s) return fail('gone', `no VM with key ${key}`);
    return readVmOnce(s.vm, { procRoot: this.config.procRoot, sysRoot: this.config.sysRoot, constants: this.constants });
  }

  async threads(key: string): Promise<Outcome<readonly ThreadUsage[]>> {
    const s = this.instancesByKey.get(key);
    if (!s) return fail('gone', `no VM with key ${key}`);
    const dir = join(this.config.procRoot, String(s.vm.pid), 'task');
    let tids: string[];
    try {
      tids = readdirSync(dir);
    } catch (err) {
      return fail('gone', `${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const vcpus = new Set(s.vm.vcpuTids);
    const out: ThreadUsage[] = [];
    const tck = this.clockTicksPerSecond;
    for (const t of tids) {
      const tid = Number(t);
      const st = readOnce(join(dir, t, 'stat'), true);
      const stat = st.ok ? parseProcStat(st.value) : st;
      if (!stat.ok) continue; // the thread ended between listing and reading
      const cm = readOnce(join(dir, t, 'comm'), true);
      const comm = cm.ok ? parseComm(cm.value) : cm;
      const ss = readOnce(join(dir, t, 'schedstat'), true);
      const sched = ss.ok ? parseSchedstat(ss.value) : ss;
      out.push({
        tid,
        name: comm.ok ? comm.value : stat.value.comm,
        vcpu: vcpus.has(tid),
        userSeconds: stat.value.utime / tck,
        systemSeconds: stat.value.stime / tck,
        runNs: sched.ok ? sched.value.runNs : null,
        waitNs: sched.ok ? sched.value.waitNs : null,
      });
    }
    out.sort((a, b) => a.tid - b.tid);
    return ok(out);
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
    return { facts: this.facts, latest: this.hostLatest };
  }

  health(): AgentHealth {
    const h = this.healthState;
    return { ready: h.ready, startedAtMs: h.startedAtMs, ticks: h.ticks, discoveries: h.discoveries, lastTickMs: h.lastTickMs, lastDiscoveryMs: h.lastDiscoveryMs };
  }

  /** For tests: the worker threads of a shard, and the shard sizes. */
  get samplerPool(): SamplerPool {
    return this.pool;
  }
}
