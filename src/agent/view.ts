// What the agent's local API and /metrics see of the running agent. The agent loop implements
// it; the API reads it and never reaches into the sampler's internals.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import type { Outcome } from '../readers/outcome.js';
import type { ThreadUsage } from '../collect/thread-usage.js';
import type { HostWindow, InstanceWindow } from '../ship/payload.js';
import type { VmRates } from './rates.js';
import type { HostTick } from './windows.js';
import type { DeviceView } from '../collect/disks/device-poller.js';

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

export type { ThreadUsage } from '../collect/thread-usage.js';

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
  /** The latest per-disk and balloon reading (VMPULSE_DEVICE_INTERVAL_MS); null before the first or when off. */
  readonly devices?: DeviceView | null;
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
  /** Ticks not run because the previous tick was still running at their boundary. */
  readonly overrunTicks: number;
  /** Closed-window reports waiting for the outbox, and how often a tick waited for room. */
  readonly reportQueue: { readonly queued: number; readonly capacity: number; readonly fullWaits: number };
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
  /** Whether device rounds run (VMPULSE_DEVICE_INTERVAL_MS > 0); absent: they do not. */
  readonly deviceRoundsEnabled?: boolean;
}
