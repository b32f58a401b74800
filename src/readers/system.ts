// Clock ticks per second and the page size come from the running system (getconf asks sysconf),
// never from constants: 100 Hz and 4 KiB are common, not universal.
import { execFileSync } from 'node:child_process';

export interface SystemConstants {
  readonly clockTicksPerSecond: number;
  readonly pageSize: number;
}

let cached: SystemConstants | null = null;

function getconf(name: string): number {
  const out = execFileSync('getconf', [name], { encoding: 'utf8', timeout: 5000 }).trim();
  const n = Number(out);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`getconf ${name} answered ${JSON.stringify(out)}`);
  return n;
}

export function systemConstants(): SystemConstants {
  if (!cached) cached = { clockTicksPerSecond: getconf('CLK_TCK'), pageSize: getconf('PAGESIZE') };
  return cached;
}
