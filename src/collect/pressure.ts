// Pressure stall information (PSI) of a VM's own cgroup v2: the time its tasks waited for CPU,
// memory and I/O. Only a cgroup that is the VM's own says something about the VM: libvirt's
// machine.slice scope (QEMU's emulator and vCPU cgroups below it), or any cgroup whose only
// process is the hypervisor. A shared cgroup (a login session, a service running many VMs) or
// the root says nothing about one VM, and a host with cgroup v1 alone has no per-cgroup PSI:
// both are said, in the reader's errors, as the reason the pressure is not measured.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fail, ok, type Outcome } from '../readers/outcome.js';
import { cpuCgroupLines, parseCgroupLines, type CgroupLine } from '../readers/parse-cgroup.js';
import { procPidPath } from '../readers/roots.js';

export const PRESSURE_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type PressureResource = (typeof PRESSURE_RESOURCES)[number];

/** Where cgroup v2 is mounted: the unified root, or `unified` beside v1 on hybrid hosts; null on v1 alone. */
export function cgroup2Mount(sysRoot: string): string | null {
  for (const dir of [join(sysRoot, 'fs', 'cgroup'), join(sysRoot, 'fs', 'cgroup', 'unified')]) {
    if (existsSync(join(dir, 'cgroup.controllers'))) return dir;
  }
  return null;
}

/**
 * The VM's own cgroup path in the v2 hierarchy, or why there is none. Pure: `soleProcess(path)`
 * says whether `pid` is the only process in that cgroup.
 */
export function ownCgroupPath(lines: readonly CgroupLine[], pid: number, soleProcess: (path: string) => boolean): Outcome<string> {
  const v2 = cpuCgroupLines(lines).v2;
  if (!v2) return fail('missing', 'the process has no cgroup v2 membership (cgroup v1 only): pressure is not available');
  if (v2.path === '/') return fail('missing', 'the process is in the root cgroup: no cgroup of its own to take pressure from');
  // libvirt (systemd-machined): /machine.slice/machine-qemu\x2d1\x2dweb.scope[/libvirt/emulator]
  const parts = v2.path.split('/');
  const scope = parts.findIndex((p, i) => i > 0 && parts[i - 1]!.endsWith('machine.slice') && p.endsWith('.scope'));
  if (scope > 0) return ok(parts.slice(0, scope + 1).join('/'));
  if (soleProcess(v2.path)) return ok(v2.path);
  return fail('missing', `its cgroup ${v2.path} holds other processes too: its pressure is not the VM's`);
}

/** The directory whose cpu/memory/io.pressure describe the VM, or why there is none. */
export function findPressureDir(procRoot: string, sysRoot: string, pid: number): Outcome<string> {
  const mount = cgroup2Mount(sysRoot);
  if (mount === null) return fail('missing', 'cgroup v2 is not mounted (cgroup v1 host): pressure is not available');
  let raw: Buffer;
  try {
    raw = readFileSync(procPidPath(procRoot, pid, 'cgroup'));
  } catch (err) {
    return fail('missing', `cgroup of pid ${pid}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const lines = parseCgroupLines(raw);
  if (!lines.ok) return lines;
  const sole = (path: string): boolean => {
    try {
      const procs = readFileSync(join(mount, path, 'cgroup.procs'), 'latin1').split('\n').filter((l) => l !== '');
      return procs.length === 1 && procs[0] === String(pid);
    } catch {
      return false;
    }
  };
  const path = ownCgroupPath(lines.value, pid, sole);
  if (!path.ok) return path;
  const dir = join(mount, path.value);
  if (!existsSync(join(dir, 'cpu.pressure'))) return fail('missing', `${dir} has no cpu.pressure (kernel without PSI, or psi=0)`);
  return ok(dir);
}
