// What discovery hands to the sampler: one running hypervisor process and what it says about
// its VM. Plain data, so it crosses into Piscina workers by structured clone.
import type { Hypervisor } from './hypervisors/registry.js';

/** The names of the modules in hypervisors/registry.ts. */
export type { Hypervisor };

/** Where the instance id came from; documented per hypervisor in the README. */
export type IdSource =
  | 'qemu-uuid' // -uuid
  | 'qemu-name' // -name guest=NAME (no -uuid)
  | 'firecracker-id' // --id
  | 'api-socket' // folder holding the API socket (Cloud Hypervisor, crosvm, Firecracker without --id)
  | 'vm-info' // identity read from the hypervisor's own API
  | 'pid-fallback'; // nothing identifying: `<hypervisor>-<pid>-<starttime>`

export interface DiscoveredVm {
  /** `${pid}:${starttime}`: a reused PID is a different key. */
  readonly key: string;
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat, clock ticks after boot. */
  readonly starttime: number;
  readonly hypervisor: Hypervisor;
  readonly instanceId: string;
  readonly instanceName: string;
  readonly idSource: IdSource;
  /** From the configuration, else the number of vCPU threads; 0 only when neither is known. */
  readonly allocatedVcpus: number;
  /** Boot memory plus hotpluggable memory, bytes; 0 when unknown (then no utilization ratio). */
  readonly allocatedMemoryBytes: number;
  /** TAP interface names, fdinfo `iff:` first, then what the command line names. */
  readonly taps: readonly string[];
  /** Thread ids of the vCPU threads, in vCPU order. */
  readonly vcpuTids: readonly number[];
  /** The API socket path when the hypervisor has one. */
  readonly apiSocket: string | null;
  /** The process's cgroup CPU controller directory (absolute, under the sys root), if found. */
  readonly cpuCgroupDir: string | null;
  /** 1 or 2: the cgroup hierarchy that cpuCgroupDir belongs to. */
  readonly cgroupVersion: 1 | 2 | null;
  readonly argv: readonly string[];
  /** Wall-clock ms when discovery first saw this process. */
  readonly discoveredAt: number;
  /**
   * Where allocatedVcpus / allocatedMemoryBytes came from: 'cmdline', 'default' (the hypervisor's
   * documented default for what the command line omits), 'config-file', 'api', 'threads', 'unknown'.
   */
  readonly allocationSource?: {
    readonly vcpus: 'cmdline' | 'default' | 'config-file' | 'api' | 'threads' | 'unknown';
    readonly memory: 'cmdline' | 'default' | 'config-file' | 'api' | 'unknown';
  };
  /** Basename of /proc/<pid>/exe (argv[0]'s when exe is unreadable). */
  readonly exe?: string;
}
