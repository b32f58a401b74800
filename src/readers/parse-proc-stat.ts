// /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat. comm sits in parentheses and may itself hold
// spaces and ')', so the fields are split after the LAST ')' (proc(5)).
import { malformed, ok, type Outcome } from './outcome.js';

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  /** Field 14, clock ticks. */
  readonly utime: number;
  /** Field 15, clock ticks. */
  readonly stime: number;
  /** Field 20. */
  readonly numThreads: number;
  /** Field 22, clock ticks after boot. */
  readonly starttime: number;
  /** Field 23, bytes. */
  readonly vsize: number;
  /** Field 24, pages. */
  readonly rssPages: number;
}

const WHAT = 'stat';

export function parseProcStat(input: Buffer | string): Outcome<ProcStat> {
  const text = typeof input === 'string' ? input : input.toString('latin1');
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open <= 0 || close < open) return malformed(WHAT, 'no "(comm)"');
  const pid = Number(text.slice(0, open).trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return malformed(WHAT, `bad pid ${JSON.stringify(text.slice(0, open))}`);
  const comm = text.slice(open + 1, close);
  // After ") " come fields 3.. (state is field 3).
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // We need up to field 24 (rss): index = field - 3.
  if (rest.length < 22) return malformed(WHAT, `only ${rest.length + 2} fields`);
  const num = (field: number): number => {
    const s = rest[field - 3]!;
    return /^-?\d+$/.test(s) ? Number(s) : NaN;
  };
  const state = rest[0]!;
  const values = {
    ppid: num(4),
    utime: num(14),
    stime: num(15),
    numThreads: num(20),
    starttime: num(22),
    vsize: num(23),
    rssPages: num(24),
  };
  for (const [k, v] of Object.entries(values)) {
    if (!Number.isSafeInteger(v)) return malformed(WHAT, `field ${k} is not an integer`);
  }
  if (!/^[A-Za-z]$/.test(state)) return malformed(WHAT, `bad state ${JSON.stringify(state)}`);
  return ok({ pid, comm, state, ...values });
}
