// /proc/<pid>/cgroup. v1 lines are `N:controller[,controller]:/path`; the v2 (unified) line is
// `0::/path`. Hybrid hosts show both, so the cpu controller's line is returned per version and
// the caller picks the hierarchy the cpu controller is actually mounted on. Paths are directory
// names, which may hold any UTF-8, so the bytes are read as UTF-8.
import { malformed, ok, type Outcome } from './outcome.js';
import { asUtf8, counter } from './parse-util.js';

export interface CgroupLine {
  readonly hierarchyId: number;
  /** Controllers bound to this hierarchy (`name=systemd` included); empty for the unified line. */
  readonly controllers: readonly string[];
  readonly path: string;
}

export interface CgroupPaths {
  /** Path of the v1 hierarchy carrying the `cpu` controller, or null. */
  readonly v1Cpu: string | null;
  /** Path in the unified (v2) hierarchy, or null. */
  readonly v2: string | null;
}

/** Every line, in file order. */
export function parseCgroupLines(input: Buffer | string): Outcome<CgroupLine[]> {
  const text = asUtf8(input);
  const lines = text.split('\n').filter((l) => l.length > 0);
  if (lines.length === 0) return malformed('cgroup', 'empty');
  const out: CgroupLine[] = [];
  for (const line of lines) {
    // The path may itself contain ':', so only the first two colons separate fields.
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (a <= 0 || b < 0) return malformed('cgroup', `bad line ${JSON.stringify(line)}`);
    const id = counter(line.slice(0, a));
    const path = line.slice(b + 1);
    if (id === null || !path.startsWith('/')) return malformed('cgroup', `bad line ${JSON.stringify(line)}`);
    const controllers = line.slice(a + 1, b).split(',').filter((c) => c !== '');
    out.push({ hierarchyId: id, controllers, path });
  }
  return ok(out);
}

/** The v1 line carrying the cpu controller and the unified line, each if present. */
export function cpuCgroupLines(lines: readonly CgroupLine[]): { v1: CgroupLine | null; v2: CgroupLine | null } {
  return {
    // A controller is bound to one hierarchy only, so there is one such line at most.
    v1: lines.find((l) => l.hierarchyId !== 0 && l.controllers.includes('cpu')) ?? null,
    v2: lines.find((l) => l.hierarchyId === 0 && l.controllers.length === 0) ?? null,
  };
}

export function parseCgroup(input: Buffer | string): Outcome<CgroupPaths> {
  const lines = parseCgroupLines(input);
  if (!lines.ok) return lines;
  const { v1, v2 } = cpuCgroupLines(lines.value);
  return ok({ v1Cpu: v1?.path ?? null, v2: v2?.path ?? null });
}
