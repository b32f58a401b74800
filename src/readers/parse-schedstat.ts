// /proc/<pid>/task/<tid>/schedstat: time on CPU (ns), time waiting on a runqueue (ns), and the
// number of timeslices run. For a vCPU thread the wait is the host-side steal.
import { ok, type Outcome } from './outcome.js';
import { exactUintFields } from './parse-util.js';

export interface SchedStat {
  readonly runNs: number;
  readonly waitNs: number;
  readonly timeslices: number;
}

// Reused: parsing is synchronous, and a per-call array would be garbage every tick.
const fields = new Float64Array(3);

export function parseSchedstat(input: Buffer | string): Outcome<SchedStat> {
  const bad = exactUintFields(input, fields, 'schedstat');
  if (bad) return bad;
  return ok({ runNs: fields[0]!, waitNs: fields[1]!, timeslices: fields[2]! });
}
