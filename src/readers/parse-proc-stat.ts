// /proc/<pid>/stat and /proc/<pid>/task/<tid>/stat. comm sits in parentheses and may itself hold
// spaces and ')', so the fields are split after the LAST ')' (proc(5)).
// Read every tick per VM, so the fields are found and parsed on the bytes in place rather than
// through a string, a split and a regex per field.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, isSpace, uintAt } from './parse-util.js';

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
/** Fields 3..24 (the last one we use is rss, field 24): start and end of each. */
const NEEDED = 22;
const spans = new Int32Array(2 * NEEDED);

/** A field as an integer (a leading '-' allowed), or NaN: the rule of /^-?\d+$/ and isSafeInteger. */
function intField(buf: Buffer, field: number): number {
  let s = spans[2 * (field - 3)]!;
  const e = spans[2 * (field - 3) + 1]!;
  const negative = buf[s] === 45; /* - */
  if (negative) s++;
  const v = uintAt(buf, s, e);
  if (v < 0) return NaN;
  return negative ? -v : v;
}

export function parseProcStat(input: Buffer | string): Outcome<ProcStat> {
  const buf = asBytes(input);
  const open = buf.indexOf(40); /* ( */
  const close = buf.lastIndexOf(41); /* ) */
  if (open <= 0 || close < open) return malformed(WHAT, 'no "(comm)"');
  let ps = 0;
  let pe = open;
  while (ps < pe && isSpace(buf[ps]!)) ps++;
  while (pe > ps && isSpace(buf[pe - 1]!)) pe--;
  const pid = uintAt(buf, ps, pe);
  if (pid <= 0) return malformed(WHAT, `bad pid ${JSON.stringify(buf.toString('latin1', 0, open))}`);

  // After ") " come fields 3.. (state is field 3).
  let count = 0;
  let i = close + 1;
  const n = buf.length;
  while (count < NEEDED) {
    while (i < n && isSpace(buf[i]!)) i++;
    if (i >= n) break;
    spans[2 * count] = i;
    while (i < n && !isSpace(buf[i]!)) i++;
    spans[2 * count + 1] = i;
    count++;
  }
  if (count < NEEDED) return malformed(WHAT, `only ${count + 2} fields`);
  const ppid = intField(buf, 4);
  const utime = intField(buf, 14);
  const stime = intField(buf, 15);
  const numThreads = intField(buf, 20);
  const starttime = intField(buf, 22);
  const vsize = intField(buf, 23);
  const rssPages = intField(buf, 24);
  if (Number.isNaN(ppid + utime + stime + numThreads + starttime + vsize + rssPages)) {
    const values = { ppid, utime, stime, numThreads, starttime, vsize, rssPages };
    for (const [k, v] of Object.entries(values)) if (Number.isNaN(v)) return malformed(WHAT, `field ${k} is not an integer`);
  }
  const c = buf[spans[0]!]!;
  if (spans[1]! - spans[0]! !== 1 || !((c >= 65 && c <= 90) || (c >= 97 && c <= 122))) {
    return malformed(WHAT, `bad state ${JSON.stringify(buf.toString('latin1', spans[0]!, spans[1]!))}`);
  }
  const comm = buf.toString('latin1', open + 1, close);
  return ok({ pid, comm, state: String.fromCharCode(c), ppid, utime, stime, numThreads, starttime, vsize, rssPages });
}
