// Every reader builds its paths from these roots so that tests and operators can point the agent
// at a fixture tree (VMPULSE_PROC_ROOT / VMPULSE_SYS_ROOT). Nothing else hard-codes /proc or /sys.
import { join } from 'node:path';

export interface Roots {
  readonly procRoot: string;
  readonly sysRoot: string;
}

export const DEFAULT_ROOTS: Roots = { procRoot: '/proc', sysRoot: '/sys' };

export function rootsFromEnv(env: NodeJS.ProcessEnv = process.env): Roots {
  return {
    procRoot: env.VMPULSE_PROC_ROOT || DEFAULT_ROOTS.procRoot,
    sysRoot: env.VMPULSE_SYS_ROOT || DEFAULT_ROOTS.sysRoot,
  };
}

export function procPidPath(procRoot: string, pid: number, ...rest: string[]): string {
  return join(procRoot, String(pid), ...rest);
}

export function netStatPath(sysRoot: string, iface: string, counter: string): string {
  return join(sysRoot, 'class', 'net', iface, 'statistics', counter);
}
