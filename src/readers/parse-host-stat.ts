// Host /proc/stat: the aggregate `cpu` line (clock ticks since boot), the number of per-CPU lines
// and btime. guest and guest_nice are already included in user and nice (proc(5)).
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

export function parseHostStat(input: Buffer | string): Outcome<HostStat> {
  let cpu: CpuTimes | null = null;
  let cpuCount = 0;
  let btime: number | null = null;
  for (const line of asText(input).split('\n')) {
    if (line.startsWith('cpu ')) {
      const f = line.slice(4).trim().split(/\s+/);
      if (f.length < NAMES.length) return malformed('stat', `cpu line has ${f.length} fields, want ${NAMES.length}`);
      const times: Record<string, number> = {};
      for (let i = 0; i < NAMES.length; i++) {
        const n = counter(f[i]);
        if (n === null) return malformed('stat', `cpu ${NAMES[i]} is not a counter`);
        times[NAMES[i]!] = n;
      }
      cpu = times as unknown as CpuTimes;
    } else if (/^cpu\d+ /.test(line)) {
      cpuCount++;
    } else if (line.startsWith('btime ')) {
      btime = counter(line.slice(6).trim());
      if (btime === null) return malformed('stat', 'bad btime');
    }
  }
  if (cpu === null) return malformed('stat', 'no aggregate cpu line');
  return ok({ cpu, cpuCount, btime });
}
