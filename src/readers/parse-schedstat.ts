// /proc/<pid>/task/<tid>/schedstat: time on CPU (ns), time waiting on a runqueue (ns), and the
// number of timeslices run. For a vCPU thread the wait is the host-side steal.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, asText, uintFields } from './parse-util.js';

export interface SchedStat {
  readonly runNs: number;
  readonly waitNs: number;
  readonly timeslices: number;
}

// Reused: parsing is synchronous, and a per-call array would be garbage every tick.
const fields = new Float64Array(3);

export function parseSchedstat(input: Buffer | string): Outcome<SchedStat> {
  const count = uintFields(asBytes(input), fields);
  if (count !== 3) return malformed('schedstat', `expected 3 fields, got ${count}`);
  const runNs = fields[0]!;
  const waitNs = fields[1]!;
  const timeslices = fields[2]!;
  if (runNs < 0 || waitNs < 0 || timeslices < 0) {
    return malformed('schedstat', `non-counter in ${JSON.stringify(asText(input).trim().split(/\s+/).join(' '))}`);
  }
  return ok({ runNs, waitNs, timeslices });
}
