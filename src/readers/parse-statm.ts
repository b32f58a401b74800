// /proc/<pid>/statm: seven page counts on one line (size resident shared text lib data dt).
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface Statm {
  /** Total program size (VMS), pages. */
  readonly sizePages: number;
  /** Resident set size, pages. */
  readonly residentPages: number;
  readonly sharedPages: number;
}

export function parseStatm(input: Buffer | string): Outcome<Statm> {
  const parts = asText(input).trim().split(/\s+/);
  if (parts.length !== 7) return malformed('statm', `expected 7 fields, got ${parts.length}`);
  const nums = parts.map(counter);
  if (nums.some((n) => n === null)) return malformed('statm', `non-counter in ${JSON.stringify(parts.join(' '))}`);
  return ok({ sizePages: nums[0]!, residentPages: nums[1]!, sharedPages: nums[2]! });
}
