// Which hypervisor, if any, a process is. comm is cut to 15 characters ("qemu-system-x86",
// "cloud-hyperviso"), so we look at the basename of /proc/<pid>/exe and of argv[0]: either
// matching is enough (exe is authoritative for renamed argv[0]; argv[0] helps when exe is
// unreadable).
import { isCloudHypervisorBinary } from './cloud-hypervisor.js';
import { crosvmSubcommand, isCrosvmBinary } from './crosvm.js';
import { isFirecrackerBinary } from './firecracker.js';
import { isQemuBinary } from './qemu.js';
import type { Hypervisor } from './vm.js';

export function classify(exe: string | null, argv: readonly string[]): Hypervisor | null {
  const names = [exe, argv[0] ?? null].filter((n): n is string => !!n);
  const any = (test: (n: string) => boolean): boolean => names.some(test);
  if (any(isQemuBinary)) return 'qemu';
  if (any(isCloudHypervisorBinary)) return 'cloud-hypervisor';
  if (any(isFirecrackerBinary)) return 'firecracker';
  if (any(isCrosvmBinary)) return crosvmSubcommand(argv) === 'run' ? 'crosvm' : null;
  return null;
}
