// The cgroup directory of a process's CPU controller, where cpu.stat (throttling) and
// cpuacct/cpu usage live. cgroup v1: the line whose controller list holds `cpu`
// (`2:cpu,cpuacct:/machine.slice/x`), mounted as cpu,cpuacct (often with cpu and cpuacct
// symlinks); v2: `0::/path` under the unified mount, recognised by its cgroup.controllers file.
// When both exist (hybrid hosts) the v1 cpu line wins: then the cpu controller is bound to v1.
import { existsSync } from 'node:fs';
import { ok, type Outcome } from '../readers/outcome.js';
import { cpuCgroupLines, parseCgroupLines, type CgroupLine } from '../readers/parse-cgroup.js';
import { readBytes } from './proc-io.js';

export interface CpuCgroup {
  readonly dir: string;
  readonly version: 1 | 2;
}

/** Directories to try, in order, for the CPU controller. Pure. */
export function cpuCgroupCandidates(lines: readonly CgroupLine[], sysRoot: string, unified: boolean): CpuCgroup[] {
  const base = `${sysRoot}/fs/cgroup`;
  const join = (mount: string, path: string): string => `${base}/${mount}${path === '/' ? '' : path}`.replace(/\/+$/, '');
  const out: CpuCgroup[] = [];
  const { v1, v2 } = cpuCgroupLines(lines);
  if (v1) {
    for (const mount of [v1.controllers.join(','), 'cpu,cpuacct', 'cpuacct,cpu', 'cpu']) {
      const dir = join(mount, v1.path);
      if (!out.some((c) => c.dir === dir)) out.push({ dir, version: 1 });
    }
  }
  if (v2 && unified) out.push({ dir: `${base}${v2.path === '/' ? '' : v2.path}`, version: 2 });
  return out;
}

export function findCpuCgroup(procRoot: string, sysRoot: string, pid: number): Outcome<CpuCgroup | null> {
  const raw = readBytes(`${procRoot}/${pid}/cgroup`);
  if (!raw.ok) return raw;
  const lines = parseCgroupLines(raw.value);
  if (!lines.ok) return lines;
  const unified = existsSync(`${sysRoot}/fs/cgroup/cgroup.controllers`);
  for (const c of cpuCgroupCandidates(lines.value, sysRoot, unified)) if (existsSync(c.dir)) return ok(c);
  return ok(null);
}
