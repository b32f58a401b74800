// A cgroup v2 pressure file (cpu.pressure, memory.pressure, io.pressure; the kernel's PSI):
//   some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
//   full avg10=0.00 avg60=0.00 avg300=0.00 total=678
// `total` is the cumulative stall time in microseconds: the counter to take rates from (the
// averages are the kernel's own decaying means). cpu.pressure has a `full` line since 5.13;
// before that it is absent and reported as null, never as 0.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface PressureTotals {
  /** Microseconds in which at least one task was stalled on the resource. */
  readonly someUs: number;
  /** Microseconds in which every non-idle task was stalled at once; null when not reported. */
  readonly fullUs: number | null;
}

export function parsePressure(input: Buffer | string): Outcome<PressureTotals> {
  let some: number | null = null;
  let full: number | null = null;
  for (const line of asText(input).split('\n')) {
    if (line.trim() === '') continue;
    const m = /^(some|full) avg10=[\d.]+ avg60=[\d.]+ avg300=[\d.]+ total=(\d+)\s*$/.exec(line);
    if (!m) return malformed('pressure', `bad line ${JSON.stringify(line)}`);
    const total = counter(m[2]);
    if (total === null) return malformed('pressure', `total is not a counter in ${JSON.stringify(line)}`);
    if (m[1] === 'some') some = total;
    else full = total;
  }
  if (some === null) return malformed('pressure', 'no "some" line');
  return ok({ someUs: some, fullUs: full });
}
