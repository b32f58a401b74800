// What a hypervisor process's VM is: its module parses the command line (and a config file, and
// an API answer when those leave the shape open), then the same I/O for every hypervisor reads
// its vCPU threads, TAPs and cgroup. Also re-reads threads and TAPs while a VM is coming up.
import { readOnce } from '../readers/kept-file.js';
import type { Outcome } from '../readers/outcome.js';
import { parseProcStat, type ProcStat } from '../readers/parse-proc-stat.js';
import { findCpuCgroup } from './cgroup.js';
import { basename } from './classify.js';
import type { ApiConfig, HypervisorConfig, HypervisorModule } from './hypervisors/contract.js';
import { hypervisorModule } from './hypervisors/registry.js';
import { resolveIdentity } from './identity.js';
import { readBytes } from './proc-io.js';
import { processPaths, type ProcessPaths } from './process-paths.js';
import { count, type ScanStats } from './scan-stats.js';
import { mergeTaps, readTunTaps } from './taps.js';
import { readVcpuTids } from './threads.js';
import type { DiscoveredVm, Hypervisor } from './vm.js';

/** A new process classified as a hypervisor. */
export interface Candidate {
  readonly pid: number;
  readonly stat: ProcStat;
  readonly hypervisor: Hypervisor;
  readonly argv: string[];
  readonly exe: string | null;
}

export interface DescribeContext {
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly stats: ScanStats;
  readonly nowMs: number;
  /** GET path on the socket, at most once per process key. */
  ask(key: string, socket: string, path: string): Promise<Outcome<unknown>>;
}

export type Described =
  | { readonly kind: 'vm'; readonly vm: DiscoveredVm; readonly threadsNamed: boolean }
  /** Its command line does not parse: remembered as not a VM. */
  | { readonly kind: 'unparsable' }
  /** Exited (or its PID reused) meanwhile. */
  | { readonly kind: 'gone' };

type VcpuSource = NonNullable<DiscoveredVm['allocationSource']>['vcpus'];
type MemorySource = NonNullable<DiscoveredVm['allocationSource']>['memory'];

export async function describeVm(c: Candidate, ctx: DescribeContext): Promise<Described> {
  const { pid } = c;
  const { stats } = ctx;
  const key = `${pid}:${c.stat.starttime}`;
  const module = hypervisorModule(c.hypervisor);
  const parsed = module.parseArgv(c.argv);
  if (!parsed.ok) {
    count(stats.errors, `argv-${parsed.kind}`);
    return { kind: 'unparsable' };
  }
  const config = parsed.value;
  if (config.warnings.length > 0) count(stats.errors, 'argv-warning');

  const paths = processPaths(ctx.procRoot, pid);
  const socketHost = config.apiSocket ? paths.host(config.apiSocket) : null;
  const fromFile = readConfigFile(module, config, paths, stats);
  const question = config.apiSocket !== null ? (module.apiQuestion?.(config, fromFile) ?? null) : null;
  let fromApi: ApiConfig | null = null;
  if (question) {
    const answer = await ctx.ask(key, paths.socket(config.apiSocket!), question.path);
    if (!answer.ok) count(stats.errors, `api-${answer.kind}`);
    else {
      fromApi = question.parse(answer.value);
      if (!fromApi) count(stats.errors, 'api-malformed');
    }
  }

  const tids = readVcpuTids(ctx.procRoot, pid, c.hypervisor);
  if (!tids.ok) {
    count(stats.errors, tids.kind);
    if (tids.kind === 'gone') return { kind: 'gone' };
  }
  const vcpuTids = tids.ok ? tids.value : [];
  const tun = readTunTaps(ctx.procRoot, pid);
  if (!tun.ok) count(stats.errors, `taps-${tun.kind}`);
  const cg = findCpuCgroup(ctx.procRoot, ctx.sysRoot, pid);
  if (!cg.ok) count(stats.errors, `cgroup-${cg.kind}`);

  // The process may have exited (or its PID been reused) while we asked its API.
  const still = readBytes(`${ctx.procRoot}/${pid}/stat`);
  const again = still.ok ? parseProcStat(still.value) : still;
  if (!again.ok || again.value.starttime !== c.stat.starttime) {
    count(stats.errors, 'gone');
    return { kind: 'gone' };
  }

  // The command line first, then the config file, then the API, then what the threads show.
  const cmdSource = config.defaulted ? 'default' : 'cmdline';
  let vcpus: number;
  let vcpuSource: VcpuSource;
  if (config.vcpus !== null) [vcpus, vcpuSource] = [config.vcpus, cmdSource];
  else if (fromFile?.vcpus) [vcpus, vcpuSource] = [fromFile.vcpus, 'config-file'];
  else if (fromApi?.vcpus) [vcpus, vcpuSource] = [fromApi.vcpus, 'api'];
  else if (vcpuTids.length > 0) [vcpus, vcpuSource] = [vcpuTids.length, 'threads'];
  else [vcpus, vcpuSource] = [0, 'unknown'];
  let memory: number;
  let memorySource: MemorySource;
  if (config.memoryBytes !== null) [memory, memorySource] = [config.memoryBytes, cmdSource];
  else if (fromFile?.memoryBytes) [memory, memorySource] = [fromFile.memoryBytes, 'config-file'];
  else if (fromApi?.memoryBytes) [memory, memorySource] = [fromApi.memoryBytes, 'api'];
  else [memory, memorySource] = [0, 'unknown'];

  const identity = resolveIdentity({
    hypervisor: c.hypervisor,
    pid,
    starttime: c.stat.starttime,
    uuid: config.uuid,
    name: config.name,
    socketHostPath: socketHost,
    apiUuid: fromApi?.uuid ?? null,
  });
  const vm: DiscoveredVm = {
    key,
    pid,
    starttime: c.stat.starttime,
    hypervisor: c.hypervisor,
    ...identity,
    allocatedVcpus: vcpus,
    allocatedMemoryBytes: memory,
    taps: mergeTaps(tun.ok ? tun.value : [], config.taps, fromFile?.taps ?? [], fromApi?.taps ?? []),
    vcpuTids,
    apiSocket: socketHost,
    cpuCgroupDir: cg.ok && cg.value ? cg.value.dir : null,
    cgroupVersion: cg.ok && cg.value ? cg.value.version : null,
    argv: c.argv,
    discoveredAt: ctx.nowMs,
    allocationSource: { vcpus: vcpuSource, memory: memorySource },
    exe: c.exe ?? basename(c.argv[0] ?? ''),
  };
  return { kind: 'vm', vm, threadsNamed: module.vcpuThreadsNamed?.(config) ?? true };
}

/** The JSON configuration file the command line names, read through the process's root or cwd. */
function readConfigFile(
  module: HypervisorModule,
  config: HypervisorConfig,
  paths: ProcessPaths,
  stats: ScanStats,
): ApiConfig | null {
  const file = module.configFile?.(config);
  if (!file || !module.parseConfigFile) return null;
  const raw = readOnce(paths.access(file), false);
  if (!raw.ok) {
    count(stats.errors, `config-file-${raw.kind}`);
    return null;
  }
  let fromFile: ApiConfig | null = null;
  try {
    fromFile = module.parseConfigFile(JSON.parse(raw.value.toString('utf8')));
  } catch {
    /* counted below */
  }
  if (!fromFile) count(stats.errors, 'config-file-malformed');
  return fromFile;
}

/**
 * Re-reads the vCPU threads and TAPs of a VM that is still coming up (fewer vCPU threads than
 * vCPUs, or a count taken from the threads themselves), within `windowMs` of its discovery. The
 * new VM when they changed, else null.
 */
export function refreshVm(
  procRoot: string,
  vm: DiscoveredVm,
  threadsNamed: boolean,
  windowMs: number,
  nowMs: number,
  stats: ScanStats,
): DiscoveredVm | null {
  // With the count taken from the threads themselves, more may still come.
  const fromThreads = vm.allocationSource?.vcpus === 'threads' || vm.allocationSource?.vcpus === 'unknown';
  const incomplete = fromThreads || vm.vcpuTids.length < vm.allocatedVcpus;
  if (!incomplete || !threadsNamed || nowMs - vm.discoveredAt > windowMs) return null;
  stats.refreshed++;
  const tids = readVcpuTids(procRoot, vm.pid, vm.hypervisor);
  if (!tids.ok || sameNumbers(tids.value, vm.vcpuTids)) return null;
  // TAPs are opened as the VM boots, with its vCPUs; fdinfo takes the rtnl lock, so only then.
  const tun = readTunTaps(procRoot, vm.pid);
  const taps = tun.ok ? mergeTaps(tun.value, vm.taps) : [...vm.taps];
  const vcpus = fromThreads ? tids.value.length : vm.allocatedVcpus;
  return {
    ...vm,
    vcpuTids: tids.value,
    taps,
    allocatedVcpus: vcpus,
    allocationSource: {
      vcpus: fromThreads ? (vcpus > 0 ? 'threads' : 'unknown') : (vm.allocationSource?.vcpus ?? 'unknown'),
      memory: vm.allocationSource?.memory ?? 'unknown',
    },
  };
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
