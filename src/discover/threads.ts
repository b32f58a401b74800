// vCPU threads, found by their names (/proc/<pid>/task/<tid>/comm):
//   QEMU              `CPU <n>/KVM` (`CPU <n>/TCG` without KVM); only with -name ...,debug-threads=on
//   Cloud Hypervisor  `vcpu<n>`
//   Firecracker       `fc_vcpu <n>`
//   crosvm            `crosvm_vcpu<n>` (some versions `crosvm_vcpu <n>`)
import { ok, type Outcome } from '../readers/outcome.js';
import { listDir, readText } from './proc-io.js';
import type { Hypervisor } from './vm.js';

const PATTERNS: Record<Hypervisor, RegExp> = {
  qemu: /^CPU (\d+)\/[A-Z]+$/,
  'cloud-hypervisor': /^vcpu(\d+)$/,
  firecracker: /^fc_vcpu ?(\d+)$/,
  crosvm: /^crosvm_vcpu ?(\d+)$/,
};

/** The vCPU index a thread name stands for, or null. Pure. */
export function vcpuIndex(hypervisor: Hypervisor, comm: string): number | null {
  const m = PATTERNS[hypervisor].exec(comm.replace(/\n$/, ''));
  return m ? Number(m[1]) : null;
}

/** Thread ids of the vCPU threads ordered by vCPU index. A thread exiting meanwhile is skipped. */
export function readVcpuTids(procRoot: string, pid: number, hypervisor: Hypervisor): Outcome<number[]> {
  const tasks = listDir(`${procRoot}/${pid}/task`);
  if (!tasks.ok) return tasks;
  const found: { index: number; tid: number }[] = [];
  for (const t of tasks.value) {
    if (!/^\d+$/.test(t)) continue;
    const comm = readText(`${procRoot}/${pid}/task/${t}/comm`);
    if (!comm.ok) continue;
    const index = vcpuIndex(hypervisor, comm.value);
    if (index !== null) found.push({ index, tid: Number(t) });
  }
  found.sort((a, b) => a.index - b.index || a.tid - b.tid);
  return ok(found.map((f) => f.tid));
}
