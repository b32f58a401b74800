// vCPU threads, found by their names (/proc/<pid>/task/<tid>/comm); each hypervisor module says
// what its vCPU threads are called (HypervisorModule.vcpuThread).
import { ok, type Outcome } from '../readers/outcome.js';
import { parseComm } from '../readers/parse-comm.js';
import { hypervisorModule } from './hypervisors/registry.js';
import { listDir, readBytes } from './proc-io.js';
import type { Hypervisor } from './vm.js';

/** The vCPU index a thread name stands for, or null. Pure. */
export function vcpuIndex(hypervisor: Hypervisor, comm: string): number | null {
  const m = hypervisorModule(hypervisor).vcpuThread.exec(comm.replace(/\n$/, ''));
  return m ? Number(m[1]) : null;
}

/** Thread ids of the vCPU threads ordered by vCPU index. A thread exiting meanwhile is skipped. */
export function readVcpuTids(procRoot: string, pid: number, hypervisor: Hypervisor): Outcome<number[]> {
  const tasks = listDir(`${procRoot}/${pid}/task`);
  if (!tasks.ok) return tasks;
  const found: { index: number; tid: number }[] = [];
  for (const t of tasks.value) {
    if (!/^\d+$/.test(t)) continue;
    const raw = readBytes(`${procRoot}/${pid}/task/${t}/comm`);
    const comm = raw.ok ? parseComm(raw.value) : raw;
    if (!comm.ok) continue;
    const index = vcpuIndex(hypervisor, comm.value);
    if (index !== null) found.push({ index, tid: Number(t) });
  }
  found.sort((a, b) => a.index - b.index || a.tid - b.tid);
  return ok(found.map((f) => f.tid));
}
