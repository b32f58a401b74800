// What a hypervisor's command line (or its API) says about its VM, before I/O resolves paths,
// threads and TAPs. Each hypervisor module returns one of these from a pure parser.
import type { Hypervisor } from './vm.js';

/** Where an allocation figure came from; 'default' = the hypervisor's documented default. */
export type AllocationSource = 'cmdline' | 'default' | 'config-file' | 'api' | 'threads' | 'unknown';

export interface HypervisorConfig {
  readonly hypervisor: Hypervisor;
  /** Boot vCPUs; null when the command line does not say (VM configured over the API). */
  readonly vcpus: number | null;
  /** Boot plus hotpluggable memory in bytes; null when the command line does not say. */
  readonly memoryBytes: number | null;
  /** True when vcpus/memoryBytes are the hypervisor's defaults rather than written out. */
  readonly defaulted: boolean;
  /** TAP names written on the command line (fd-passed TAPs only show in fdinfo). */
  readonly taps: readonly string[];
  /** API/control socket as the process sees it (may be relative, or inside a chroot). */
  readonly apiSocket: string | null;
  /** Identity hints; which one wins is decided in identity.ts. */
  readonly uuid: string | null;
  readonly name: string | null;
  /** Things that did not parse; never fatal. */
  readonly warnings: readonly string[];
}

/** What an API answer (CH vm.info, Firecracker /vm/config) adds. */
export interface ApiConfig {
  readonly vcpus: number | null;
  readonly memoryBytes: number | null;
  readonly taps: readonly string[];
  readonly uuid: string | null;
}
