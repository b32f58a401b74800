// /proc/<pid>/status memory lines. Kernel threads (and some states) have no Vm* lines at all;
// that is an absent value (null), not a zero.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, colonLines, counter, kibToBytes } from './parse-util.js';

export interface ProcStatus {
  readonly name: string | null;
  readonly pid: number;
  readonly vmRssBytes: number | null;
  /** Peak RSS (high-water mark). */
  readonly vmHwmBytes: number | null;
  readonly vmSwapBytes: number | null;
}

export function parseStatus(input: Buffer | string): Outcome<ProcStatus> {
  const lines = colonLines(asText(input));
  const pid = counter(lines.get('Pid'));
  if (pid === null) return malformed('status', 'no valid Pid line');
  const mem = (key: string): number | null | undefined => {
    const raw = lines.get(key);
    if (raw === undefined) return null;
    const v = kibToBytes(raw);
    return v === null ? undefined : v;
  };
  const vmRssBytes = mem('VmRSS');
  const vmHwmBytes = mem('VmHWM');
  const vmSwapBytes = mem('VmSwap');
  if (vmRssBytes === undefined || vmHwmBytes === undefined || vmSwapBytes === undefined) {
    return malformed('status', 'a Vm* line is not "<n> kB"');
  }
  return ok({ name: lines.get('Name') ?? null, pid, vmRssBytes, vmHwmBytes, vmSwapBytes });
}
