// Where `vmpulse top` gets its figures: the local agent's API or its own reads of /proc and /sys.
import type { TopHost, TopVm } from './model.js';

export interface TopData {
  readonly host: TopHost;
  /** The latest counters of every VM the source knows. */
  readonly current: readonly TopVm[];
  /** The read before, by key, for rates; null until there are two reads. */
  readonly previous: ReadonlyMap<string, TopVm> | null;
  /** VMs the source knows of but has no figures for. */
  readonly omitted: number;
  readonly notice: string | null;
}

export interface TopSource {
  /** Shown in the header: `agent http://127.0.0.1:9464`, `direct`. */
  readonly label: string;
  poll(): Promise<TopData>;
  close(): void;
}
