// What the agent hands on when windows close: plain data, copied at the close, so that whoever
// consumes it later (the outbox, through the report queue) sees the agent as it was then.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import type { NetworkInterfaceInfo } from '../ship/payload.js';
import type { HostView } from './view.js';
import type { ClosedWindow } from './windows.js';
import type { DeviceView } from '../collect/disks/device-poller.js';

/** The raw readings of one VM process at a window close, kept so that a restart continues from them. */
export interface CarriedReading {
  readonly key: string;
  readonly instanceId: string;
  readonly sample: VmSample;
}

/**
 * Closed windows handed on together, with the identity of every VM in them (gone VMs included).
 * Normally one window; a window longer than a minute is its minute records, and the first report
 * after a restart may add records backfilled over the time the agent was stopped. Every counter
 * delta up to `readings` is in this report or an earlier one.
 */
export interface WindowReport {
  /** Oldest first. */
  readonly windows: readonly ClosedWindow[];
  /** The newest of `windows`. */
  readonly window: ClosedWindow;
  readonly vms: ReadonlyMap<string, { vm: DiscoveredVm; latest: VmSample | null; running: boolean; devices?: DeviceView | null }>;
  /** Bytes in/out of each physical interface since the previous window was handed on. */
  readonly interfaces: readonly NetworkInterfaceInfo[];
  /** The latest reading of every running VM when the report was made (what a checkpoint keeps). */
  readonly readings: readonly CarriedReading[];
  /** The host's facts when the report was made. */
  readonly facts: HostView['facts'];
}

export type WindowListener = (r: WindowReport) => void | Promise<void>;
