// cgroup cpu.stat throttling counters. v1 gives throttled_time in ns, v2 throttled_usec in µs;
// both come out in ns. A v2 group without the cpu controller enabled has only usage lines: that
// is "not available" ('missing'), not a malformed file.
// Read every tick per VM, so the `key value` lines are checked on the bytes in place; the rules
// are those of the text form: every non-empty line exactly one space and a counter, a later
// duplicate key wins.
import { fail, malformed, ok, type Outcome } from './outcome.js';
import { asBytes, uintAt } from './parse-util.js';

export interface CgroupCpuStat {
  readonly periods: number;
  readonly throttledPeriods: number;
  readonly throttledNs: number;
}

const KEYS = ['nr_periods', 'nr_throttled', 'throttled_time', 'throttled_usec', 'usage_usec'] as const;
const NR_PERIODS = 0;
const NR_THROTTLED = 1;
const THROTTLED_TIME = 2;
const THROTTLED_USEC = 3;
const USAGE_USEC = 4;
const values = new Float64Array(KEYS.length);

function keyIs(buf: Uint8Array, start: number, end: number, key: string): boolean {
  if (end - start !== key.length) return false;
  for (let j = 0; j < key.length; j++) if (buf[start + j] !== key.charCodeAt(j)) return false;
  return true;
}

/** Fills `values` (-1 = line absent); a failure when a line is not `key counter` or none is there. */
function keyValues(buf: Buffer, what: string): Outcome<null> {
  values.fill(-1);
  let lines = 0;
  let start = 0;
  const n = buf.length;
  while (start < n) {
    let end = start;
    let space = -1;
    let spaces = 0;
    for (; end < n && buf[end] !== 10; end++) {
      if (buf[end] === 32) {
        spaces++;
        if (space < 0) space = end;
      }
    }
    if (end > start) {
      const v = spaces === 1 ? uintAt(buf, space + 1, end) : -1;
      if (v < 0) return malformed(what, `bad line ${JSON.stringify(buf.toString('latin1', start, end))}`);
      lines++;
      for (let k = 0; k < KEYS.length; k++) {
        if (keyIs(buf, start, space, KEYS[k]!)) {
          values[k] = v;
          break;
        }
      }
    }
    start = end + 1;
  }
  return lines === 0 ? malformed(what, 'empty') : ok(null);
}

export function parseCpuStatV1(input: Buffer | string): Outcome<CgroupCpuStat> {
  const kv = keyValues(asBytes(input), 'cpu.stat v1');
  if (!kv.ok) return kv;
  const periods = values[NR_PERIODS]!;
  const throttledPeriods = values[NR_THROTTLED]!;
  const throttledNs = values[THROTTLED_TIME]!;
  if (periods < 0 || throttledPeriods < 0 || throttledNs < 0) {
    return malformed('cpu.stat v1', 'nr_periods, nr_throttled or throttled_time missing');
  }
  return ok({ periods, throttledPeriods, throttledNs });
}

export function parseCpuStatV2(input: Buffer | string): Outcome<CgroupCpuStat> {
  const kv = keyValues(asBytes(input), 'cpu.stat v2');
  if (!kv.ok) return kv;
  const periods = values[NR_PERIODS]!;
  const throttledPeriods = values[NR_THROTTLED]!;
  const throttledUsec = values[THROTTLED_USEC]!;
  if (periods < 0 || throttledPeriods < 0 || throttledUsec < 0) {
    if (values[USAGE_USEC]! >= 0) return fail('missing', 'cpu.stat v2: no throttling counters (cpu controller not enabled)');
    return malformed('cpu.stat v2', 'nr_periods, nr_throttled or throttled_usec missing');
  }
  const throttledNs = throttledUsec * 1000;
  if (!Number.isSafeInteger(throttledNs)) return malformed('cpu.stat v2', 'throttled_usec out of range');
  return ok({ periods, throttledPeriods, throttledNs });
}

export function parseCgroupCpuStat(input: Buffer | string, version: 1 | 2): Outcome<CgroupCpuStat> {
  return version === 1 ? parseCpuStatV1(input) : parseCpuStatV2(input);
}
