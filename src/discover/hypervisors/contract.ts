// What a hypervisor module tells discovery. Discovery knows no hypervisor by name: it asks the
// modules of registry.ts, in order, which one a process is, and from then on asks that module
// every hypervisor-specific question. Adding a hypervisor is one module implementing
// HypervisorModule plus its line in registry.ts (see DEVELOPERS.md, "Adding a hypervisor").
//
// A module is pure: argv and JSON in, answers out. The I/O — reading /proc, resolving the
// process's paths through its root and cwd (a jailer's chroot), asking the API socket once with a
// timeout, reading TAPs from fdinfo and vCPU threads from task/*/comm — is discovery's, the same
// for every hypervisor.
import type { Outcome } from '../../readers/outcome.js';
import type { IdSource } from '../vm.js';

/** What a hypervisor's command line says about its VM, before I/O resolves paths, threads and TAPs. */
export interface HypervisorConfig {
  /** The module's name. */
  readonly hypervisor: string;
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
  /** Identity hints, handed back to the module's identity(). */
  readonly uuid: string | null;
  readonly name: string | null;
  /** Things that did not parse; never fatal. */
  readonly warnings: readonly string[];
}

/** What a configuration file or an API answer adds (Cloud Hypervisor vm.info, Firecracker /vm/config). */
export interface ApiConfig {
  readonly vcpus: number | null;
  readonly memoryBytes: number | null;
  readonly taps: readonly string[];
  readonly uuid: string | null;
}

/** One read-only GET on the API socket and the parser of its JSON answer. */
export interface ApiQuestion {
  readonly path: string;
  parse(body: unknown): ApiConfig | null;
}

/** What identity() decides from; empty strings are already null. */
export interface IdentityHints {
  readonly uuid: string | null;
  readonly name: string | null;
  /** The specific name the API socket's folder or file gives on the host (identity.ts), or null. */
  readonly socketName: string | null;
  /** The uuid an API answer carried. */
  readonly apiUuid: string | null;
}

export interface Identity {
  readonly instanceId: string;
  readonly instanceName: string;
  readonly idSource: IdSource;
}

export interface HypervisorModule<C extends HypervisorConfig = HypervisorConfig> {
  /** DiscoveredVm.hypervisor, in the APIs and the payload. */
  readonly name: C['hypervisor'];
  /** Matched against the basenames of /proc/<pid>/exe and argv[0] (comm is cut to 15 characters). */
  readonly binary: RegExp;
  /** For a binary that is not always a VM (crosvm's control subcommands); default: always. */
  isVm?(argv: readonly string[]): boolean;
  /** The command line. */
  parseArgv(argv: readonly string[]): Outcome<C>;
  /** A JSON configuration file named on the command line (as the process sees it), and its parser. */
  configFile?(config: C): string | null;
  parseConfigFile?(json: unknown): ApiConfig | null;
  /** The question for the API socket, if one is still needed after the command line and config file. */
  apiQuestion?(config: C, fromFile: ApiConfig | null): ApiQuestion | null;
  /** instance_id / instance_name, or null for the fallback `<hypervisor>-<pid>-<starttime>`. */
  identity(hints: IdentityHints): Identity | null;
  /** Names of its vCPU threads; the first group is the vCPU index. */
  readonly vcpuThread: RegExp;
  /** Whether its vCPU threads carry those names at all (QEMU: only with debug-threads=on); default: yes. */
  vcpuThreadsNamed?(config: C): boolean;
  /** Folder and socket names that say nothing about a VM (its own name, its default socket names). */
  readonly genericSocketNames: readonly string[];
}

/** The rule several hypervisors share: the API socket's specific folder or file names the VM. */
export function socketIdentity(hints: IdentityHints): Identity | null {
  const s = hints.socketName;
  return s ? { instanceId: s, instanceName: s, idSource: 'api-socket' } : null;
}
