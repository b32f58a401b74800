// /proc/<pid>/statm: seven page counts on one line (size resident shared text lib data dt).
import { ok, type Outcome } from './outcome.js';
import { exactUintFields } from './parse-util.js';

export interface Statm {
  /** Total program size (VMS), pages. */
  readonly sizePages: number;
  /** Resident set size, pages. */
  readonly residentPages: number;
  readonly sharedPages: number;
}

// Reused: parsing is synchronous, and a per-call array would be garbage every tick.
const fields = new Float64Array(7);

export function parseStatm(input: Buffer | string): Outcome<Statm> {
  const bad = exactUintFields(input, fields, 'statm');
  if (bad) return bad;
  return ok({ sizePages: fields[0]!, residentPages: fields[1]!, sharedPages: fields[2]! });
}
