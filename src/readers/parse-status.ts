// /proc/<pid>/status memory lines. Kernel threads (and some states) have no Vm* lines at all;
// that is an absent value (null), not a zero. Parsed from the bytes in place (one of these per VM
// per tick, ~1.4 KB each); same rules as colonLines + counter + kibToBytes.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, colonSpans, kibAt, uintAt } from './parse-util.js';

export interface ProcStatus {
  readonly name: string | null;
  readonly pid: number;
  readonly vmRssBytes: number | null;
  /** Peak RSS (high-water mark). */
  readonly vmHwmBytes: number | null;
  readonly vmSwapBytes: number | null;
}

const KEYS = ['Name', 'Pid', 'VmRSS', 'VmHWM', 'VmSwap'] as const;
const spans = new Int32Array(2 * KEYS.length);

export function parseStatus(input: Buffer | string): Outcome<ProcStatus> {
  const buf = asBytes(input);
  colonSpans(buf, KEYS, spans);
  const pid = spans[2]! < 0 ? -1 : uintAt(buf, spans[2]!, spans[3]!);
  if (pid < 0) return malformed('status', 'no valid Pid line');
  // null: no such line; undefined: a line that is not "<n> kB".
  const mem = (k: number): number | null | undefined => {
    if (spans[2 * k]! < 0) return null;
    const v = kibAt(buf, spans[2 * k]!, spans[2 * k + 1]!);
    return v < 0 ? undefined : v;
  };
  const vmRssBytes = mem(2);
  const vmHwmBytes = mem(3);
  const vmSwapBytes = mem(4);
  if (vmRssBytes === undefined || vmHwmBytes === undefined || vmSwapBytes === undefined) {
    return malformed('status', 'a Vm* line is not "<n> kB"');
  }
  const name = spans[0]! < 0 ? null : buf.toString('latin1', spans[0]!, spans[1]!);
  return ok({ name, pid, vmRssBytes, vmHwmBytes, vmSwapBytes });
}
