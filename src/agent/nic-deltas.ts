// Bytes in and out of each physical interface between two windows handed on (the payload's
// NetworkInterfaces): the kernel's counters at each hand-over, differenced with wrap handling.
import type { HostCounters } from '../collect/host.js';
import type { NetworkInterfaceInfo } from '../ship/payload.js';
import { counterDelta } from './rates.js';

export class NicDeltas {
  private atLast = new Map<string, { rx: number; tx: number }>();

  /** The deltas since the previous call; an interface seen for the first time has none yet. */
  next(counters: HostCounters | null, physical: ReadonlySet<string>): NetworkInterfaceInfo[] {
    const out: NetworkInterfaceInfo[] = [];
    const now = new Map<string, { rx: number; tx: number }>();
    for (const n of counters?.net ?? []) {
      if (!physical.has(n.name)) continue;
      now.set(n.name, { rx: n.rxBytes, tx: n.txBytes });
      const was = this.atLast.get(n.name);
      if (was) out.push({ Name: n.name, NetIn: counterDelta(was.rx, n.rxBytes), NetOut: counterDelta(was.tx, n.txBytes) });
    }
    this.atLast = now;
    return out;
  }
}
