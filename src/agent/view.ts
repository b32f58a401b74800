// What the agent's local API and /metrics see of the running agent. The agent loop implements
// it; the API reads it and never reaches into the sampler's internals.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import type { Outcome } from '../readers/outcome.js';
import type { HostWindow, InstanceWindow } from '../ship/payload.js';
import type { VmRates } from './rates.js';
import type { HostTick } from './windows.js';

export interface TapRate {
  readonly name: string;
  /** VM view, bytes and packets per second over the last interval. */
  readonly inBytesPerSec: number;
  readonly outBytesPerSec: number;
  readonly inPacketsPerSec: number;
  readonly outPacketsPerSec: number;
  readonly inErrorsPerSec: number;
  readonly outErrorsPerSec: number;
  readonly inDroppedPerSec: number;
  readonly outDroppedPerSec: number;
}

export interface ThreadUsage {
  readonly tid: number;
  readonly name: string;
  readonly vcpu: boolean;
  /** Seconds of CPU (utime, stime) from task/<tid>/stat. */
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** From task/<tid>/schedstat, ns. */
  readonly runNs: number | null;
  readonly waitNs: number | null;
}

export interface InstanceView {
  readonly vm: DiscoveredVm;
  /** 'running' while the process lives; 'gone' once a read said so (kept until its window closes). */
  readonly state: 'running' | 'gone';
  /** The last tick's read, null before the first one. */
  readonly latest: VmSample | null;
  /** Rates over the last interval, null before the second read. */
  readonly rates: VmRates | null;
  readonly tapRates: readonly TapRate[];
  readonly lastSampledMs: number | null;
}

export interface HostView {
  readonly facts: {
    readonly Hostname: string;
    readonly OperatingSystem: string;
    readonly Kernel: string;
    readonly CPUModel: string;
    readonly CPUSpeed: number;
    readonly CPUCores: number;
    readonly RAM: number;
    readonly Swap: number;
    readonly SystemUptime: number;
  };
  /** The last tick's host values, null before the second tick. */
  readonly latest: HostTick | null;
}

export interface AgentHealth {
  readonly ready: boolean;
  readonly startedAtMs: number;
  readonly ticks: number;
  readonly discoveries: number;
  readonly lastTickMs: number | null;
  readonly lastDiscoveryMs: number | null;
}

export interface AgentView {
  instances(): readonly InstanceView[];
  /** Read one VM's counters now (not a tick old). */
  readFresh(key: string): Promise<Outcome<VmSample>>;
  /** Per-thread CPU of one VM, read now. */
  threads(key: string): Promise<Outcome<readonly ThreadUsage[]>>;
  /** The VM's records in the last closed windows (at most 60), oldest first. */
  instanceHistory(key: string): readonly InstanceWindow[];
  hostHistory(): readonly HostWindow[];
  host(): HostView;
  health(): AgentHealth;
  readonly clockTicksPerSecond: number;
  readonly windowSeconds: number;
}
