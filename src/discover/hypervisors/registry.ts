// The hypervisors discovery knows, in the order a process is offered to them (the first whose
// binary and isVm match takes it). A new hypervisor is a module fulfilling contract.ts's
// HypervisorModule and one entry here; the Hypervisor type follows from this list.
import { cloudHypervisor } from './cloud-hypervisor.js';
import type { HypervisorModule } from './contract.js';
import { crosvm } from './crosvm.js';
import { firecracker } from './firecracker.js';
import { qemu } from './qemu.js';

export const HYPERVISORS = [qemu, cloudHypervisor, firecracker, crosvm] as const;

export type Hypervisor = (typeof HYPERVISORS)[number]['name'];

const BY_NAME = new Map<string, HypervisorModule>(HYPERVISORS.map((h) => [h.name, h]));

export function hypervisorModule(name: Hypervisor): HypervisorModule {
  return BY_NAME.get(name)!;
}
