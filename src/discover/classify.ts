// Which hypervisor, if any, a process is. comm is cut to 15 characters ("qemu-system-x86",
// "cloud-hyperviso"), so we look at the basename of /proc/<pid>/exe and of argv[0]: either
// matching a module's binary is enough (exe is authoritative for renamed argv[0]; argv[0] helps
// when exe is unreadable).
import { HYPERVISORS, type Hypervisor } from './hypervisors/registry.js';

export function basename(path: string): string {
  // exe of a replaced binary reads "/usr/bin/qemu-system-x86_64 (deleted)".
  const clean = path.endsWith(' (deleted)') ? path.slice(0, -' (deleted)'.length) : path;
  const i = clean.lastIndexOf('/');
  return i >= 0 ? clean.slice(i + 1) : clean;
}

export function classify(exe: string | null, argv: readonly string[]): Hypervisor | null {
  const names = [exe, argv[0] ?? null].filter((n): n is string => !!n).map(basename);
  for (const h of HYPERVISORS) {
    if (names.some((n) => h.binary.test(n)) && (h.isVm?.(argv) ?? true)) return h.name;
  }
  return null;
}
