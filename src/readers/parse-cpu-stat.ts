// cgroup cpu.stat throttling counters. v1 gives throttled_time in ns, v2 throttled_usec in µs;
// both come out in ns. A v2 group without the cpu controller enabled has only usage lines: that
// is "not available" ('missing'), not a malformed file.
import { fail, malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface CgroupCpuStat {
  readonly periods: number;
  readonly throttledPeriods: number;
  readonly throttledNs: number;
}

function keyValues(text: string, what: string): Outcome<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const parts = line.split(' ');
    const n = counter(parts[1]);
    if (parts.length !== 2 || n === null) return malformed(what, `bad line ${JSON.stringify(line)}`);
    out.set(parts[0]!, n);
  }
  if (out.size === 0) return malformed(what, 'empty');
  return ok(out);
}

export function parseCpuStatV1(input: Buffer | string): Outcome<CgroupCpuStat> {
  const kv = keyValues(asText(input), 'cpu.stat v1');
  if (!kv.ok) return kv;
  const periods = kv.value.get('nr_periods');
  const throttledPeriods = kv.value.get('nr_throttled');
  const throttledNs = kv.value.get('throttled_time');
  if (periods === undefined || throttledPeriods === undefined || throttledNs === undefined) {
    return malformed('cpu.stat v1', 'nr_periods, nr_throttled or throttled_time missing');
  }
  return ok({ periods, throttledPeriods, throttledNs });
}

export function parseCpuStatV2(input: Buffer | string): Outcome<CgroupCpuStat> {
  const kv = keyValues(asText(input), 'cpu.stat v2');
  if (!kv.ok) return kv;
  const periods = kv.value.get('nr_periods');
  const throttledPeriods = kv.value.get('nr_throttled');
  const throttledUsec = kv.value.get('throttled_usec');
  if (periods === undefined || throttledPeriods === undefined || throttledUsec === undefined) {
    if (kv.value.has('usage_usec')) return fail('missing', 'cpu.stat v2: no throttling counters (cpu controller not enabled)');
    return malformed('cpu.stat v2', 'nr_periods, nr_throttled or throttled_usec missing');
  }
  const throttledNs = throttledUsec * 1000;
  if (!Number.isSafeInteger(throttledNs)) return malformed('cpu.stat v2', 'throttled_usec out of range');
  return ok({ periods, throttledPeriods, throttledNs });
}

export function parseCgroupCpuStat(input: Buffer | string, version: 1 | 2): Outcome<CgroupCpuStat> {
  return version === 1 ? parseCpuStatV1(input) : parseCpuStatV2(input);
}
