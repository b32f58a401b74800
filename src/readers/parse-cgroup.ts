// /proc/<pid>/cgroup. v1 lines are `N:controller[,controller]:/path`; the v2 (unified) line is
// `0::/path`. Hybrid hosts show both, so the cpu controller path is returned per version and
// the caller picks the hierarchy the cpu controller is actually mounted on.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface CgroupPaths {
  /** Path of the v1 hierarchy carrying the `cpu` controller, or null. */
  readonly v1Cpu: string | null;
  /** Path in the unified (v2) hierarchy, or null. */
  readonly v2: string | null;
}

export function parseCgroup(input: Buffer | string): Outcome<CgroupPaths> {
  let v1Cpu: string | null = null;
  let v2: string | null = null;
  const lines = asText(input).split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return malformed('cgroup', 'empty');
  for (const line of lines) {
    // The path may itself contain ':', so only the first two colons separate fields.
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (a <= 0 || b < 0) return malformed('cgroup', `bad line ${JSON.stringify(line)}`);
    const id = counter(line.slice(0, a));
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (id === null || !path.startsWith('/')) return malformed('cgroup', `bad line ${JSON.stringify(line)}`);
    if (id === 0 && controllers === '') v2 = path;
    else if (controllers.split(',').includes('cpu')) v1Cpu = path;
  }
  return ok({ v1Cpu, v2 });
}
