// Host /proc/stat: the aggregate `cpu` line (clock ticks since boot), the number of per-CPU lines,
// btime and `processes` (forks since boot). guest and guest_nice are already included in user and
// nice (proc(5)). The host collector needs the cpu line; discovery needs only btime and
// processes (parseStatCounters), which do not depend on it.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface CpuTimes {
  readonly user: number;
  readonly nice: number;
  readonly system: number;
  readonly idle: number;
  readonly iowait: number;
  readonly irq: number;
  readonly softirq: number;
  readonly steal: number;
  readonly guest: number;
  readonly guestNice: number;
}

export interface HostStat {
  readonly cpu: CpuTimes;
  /** Number of `cpuN` lines: online CPUs. */
  readonly cpuCount: number;
  /** Boot time, unix seconds; null if the line is absent. */
  readonly btime: number | null;
}

const NAMES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestNice'] as const;

/** The lines each reader looks at, unparsed. */
interface StatLines {
  cpu: string | null;
  cpuCount: number;
  btime: string | null;
  processes: string | null;
}

function statLines(text: string): StatLines {
  const out: StatLines = { cpu: null, cpuCount: 0, btime: null, processes: null };
  for (const line of text.split('\n')) {
    if (line.startsWith('cpu ')) out.cpu = line.slice(4);
    else if (/^cpu\d+ /.test(line)) out.cpuCount++;
    else if (line.startsWith('btime ')) out.btime = line.slice(6);
    else if (line.startsWith('processes ')) out.processes = line.slice(10);
  }
  return out;
}

/** A counter line's value: null when the line is absent, undefined when it is not a counter. */
function lineCounter(raw: string | null): number | null | undefined {
  return raw === null ? null : (counter(raw.trim()) ?? undefined);
}

export function parseHostStat(input: Buffer | string): Outcome<HostStat> {
  const lines = statLines(asText(input));
  if (lines.cpu === null) return malformed('stat', 'no aggregate cpu line');
  const f = lines.cpu.trim().split(/\s+/);
  if (f.length < NAMES.length) return malformed('stat', `cpu line has ${f.length} fields, want ${NAMES.length}`);
  const times: Record<string, number> = {};
  for (let i = 0; i < NAMES.length; i++) {
    const n = counter(f[i]);
    if (n === null) return malformed('stat', `cpu ${NAMES[i]} is not a counter`);
    times[NAMES[i]!] = n;
  }
  const btime = lineCounter(lines.btime);
  if (btime === undefined) return malformed('stat', 'bad btime');
  return ok({ cpu: times as unknown as CpuTimes, cpuCount: lines.cpuCount, btime });
}

export interface StatCounters {
  /** Boot time, unix seconds; null if the line is absent. */
  readonly btime: number | null;
  /** Forks since boot; null if the line is absent. */
  readonly processes: number | null;
}

export function parseStatCounters(input: Buffer | string): Outcome<StatCounters> {
  const lines = statLines(asText(input));
  const btime = lineCounter(lines.btime);
  if (btime === undefined) return malformed('stat', 'bad btime');
  const processes = lineCounter(lines.processes);
  if (processes === undefined) return malformed('stat', 'bad processes');
  return ok({ btime, processes });
}
