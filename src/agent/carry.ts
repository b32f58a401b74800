// Counters carried across an agent restart. The kernel's counters are cumulative and a VM process
// is identified by (pid, starttime), so the deltas between the last reading before a stop and the
// first one after the start are known exactly; only how they were spread over that time is not.
// A gap of up to two windows is added to the window of the first new reading; a longer gap is
// spread evenly over the records (minutes, or shorter windows) it covers, each saying how many of
// its seconds no reading covered. Integers are split so that the shares add up to the delta exactly.
import { VM_WINDOW_COUNTERS, type CarriedDeltas } from './windows.js';

export interface GapShare {
  /** Start (ms) of the record the share belongs to. */
  startMs: number;
  deltas: CarriedDeltas;
  /** Seconds of this record inside the unsampled part of the gap. */
  unsampledSeconds: number;
}

const INT_FIELDS = VM_WINDOW_COUNTERS.filter((k) => k !== 'cpuSeconds');

/** floor(total × part / whole) for non-negative integers, exactly (products exceed 2^53). */
function scaled(total: number, part: number, whole: number): number {
  return Number((BigInt(Math.round(total)) * BigInt(Math.round(part))) / BigInt(Math.round(whole)));
}

/**
 * Splits the deltas of the gap (fromMs, toMs] over records of `recordMs`, in proportion to time.
 * The unsampled part of the gap is (fromMs, toMs − intervalMs]: the last interval is an ordinary
 * sampling interval. CPU is split in clock ticks, so it too adds up exactly.
 */
export function spreadGap(d: CarriedDeltas, fromMs: number, toMs: number, recordMs: number, intervalMs: number, clockTicksPerSecond: number): GapShare[] {
  const whole = toMs - fromMs;
  if (!(whole > 0)) return [];
  const ticks = Math.round(d.cpuSeconds * clockTicksPerSecond);
  const unsampledEnd = Math.max(fromMs, toMs - intervalMs);
  const out: GapShare[] = [];
  let start = Math.floor(fromMs / recordMs) * recordMs;
  let prevCum = 0;
  while (start < toMs) {
    const end = start + recordMs;
    const cum = Math.min(end, toMs) - fromMs;
    const share = (total: number) => scaled(total, cum, whole) - scaled(total, prevCum, whole);
    const deltas = { netKnown: d.netKnown, cpuSeconds: share(ticks) / clockTicksPerSecond } as CarriedDeltas;
    for (const f of INT_FIELDS) deltas[f] = share(d[f]);
    const unsampledMs = Math.max(0, Math.min(end, unsampledEnd) - Math.max(start, fromMs));
    out.push({ startMs: start, deltas, unsampledSeconds: Math.round(unsampledMs / 1000) });
    prevCum = cum;
    start = end;
  }
  return out;
}

/** Whether a gap is short enough to go whole into the window of the first reading after it. */
export function gapGoesWhole(fromMs: number, toMs: number, windowSeconds: number): boolean {
  return toMs - fromMs <= 2 * windowSeconds * 1000;
}
