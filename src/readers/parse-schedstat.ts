// /proc/<pid>/task/<tid>/schedstat: time on CPU (ns), time waiting on a runqueue (ns), and the
// number of timeslices run. For a vCPU thread the wait is the host-side steal.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface SchedStat {
  readonly runNs: number;
  readonly waitNs: number;
  readonly timeslices: number;
}

export function parseSchedstat(input: Buffer | string): Outcome<SchedStat> {
  const parts = asText(input).trim().split(/\s+/);
  if (parts.length !== 3) return malformed('schedstat', `expected 3 fields, got ${parts.length}`);
  const [runNs, waitNs, timeslices] = parts.map(counter);
  if (runNs == null || waitNs == null || timeslices == null) {
    return malformed('schedstat', `non-counter in ${JSON.stringify(parts.join(' '))}`);
  }
  return ok({ runNs, waitNs, timeslices });
}
