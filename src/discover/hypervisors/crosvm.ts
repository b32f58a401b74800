// crosvm command line → HypervisorConfig. Pure. Only `crosvm run` is a VM; `crosvm stop`,
// `crosvm balloon` and friends are short-lived control commands. crosvm has no configuration API,
// so what the command line omits is crosvm's default (1 vCPU, 256 MiB).
import { ok, malformed, type Outcome } from '../../readers/outcome.js';
import { socketIdentity, type HypervisorConfig, type HypervisorModule } from './contract.js';
import { collectOptions, lastValue, parseKeyValues, valuesOf } from './long-opts.js';
import { MiB, parseCount } from './units.js';

export interface CrosvmConfig extends HypervisorConfig {
  readonly hypervisor: 'crosvm';
}

const SUBCOMMANDS = new Set([
  'run', 'stop', 'suspend', 'resume', 'balloon', 'balloon_stats', 'battery', 'disk', 'gpu', 'usb',
  'create_qcow2', 'device', 'make_rt', 'powerbtn', 'sleepbtn', 'snapshot', 'swap', 'vfio', 'version', 'sys', 'virtio-net',
]);

/** The subcommand: the first known subcommand word (global options like --log-level take values). */
export function crosvmSubcommand(argv: readonly string[]): string | null {
  for (let i = 1; i < argv.length; i++) if (SUBCOMMANDS.has(argv[i]!)) return argv[i]!;
  return null;
}

export function parseCrosvmArgv(argv: readonly string[]): Outcome<CrosvmConfig> {
  if (argv.length === 0) return malformed('crosvm argv', 'empty');
  const opts = collectOptions(argv);
  const warnings: string[] = [];
  let defaulted = false;

  let vcpus: number | null = null;
  const cpus = lastValue(opts, 'cpus', 'c');
  if (cpus !== null) {
    vcpus = parseCount(parseKeyValues(cpus, 'num-cores').get('num-cores'));
    if (vcpus === null) warnings.push(`--cpus ${cpus}: not understood`);
  } else {
    vcpus = 1;
    defaulted = true;
  }

  let memoryBytes: number | null = null;
  const mem = lastValue(opts, 'mem', 'm');
  if (mem !== null) {
    const mib = parseCount(parseKeyValues(mem, 'size').get('size'));
    if (mib === null) warnings.push(`--mem ${mem}: not understood`);
    else memoryBytes = mib * MiB;
  } else {
    memoryBytes = 256 * MiB;
    defaulted = true;
  }

  const taps: string[] = [];
  for (const v of valuesOf(opts, 'net')) {
    const name = v[0] ? parseKeyValues(v[0]).get('tap-name') : undefined;
    if (name) taps.push(name);
  }
  for (const v of valuesOf(opts, 'tap-name')) if (v[0]) taps.push(v[0]);

  return ok({
    hypervisor: 'crosvm',
    vcpus,
    memoryBytes,
    defaulted,
    taps: [...new Set(taps)],
    apiSocket: lastValue(opts, 'socket', 's'),
    uuid: null,
    name: null,
    warnings,
  });
}

export const crosvm: HypervisorModule<CrosvmConfig> = {
  name: 'crosvm',
  binary: /^crosvm$/,
  isVm: (argv) => crosvmSubcommand(argv) === 'run',
  parseArgv: parseCrosvmArgv,
  // The control socket's folder (--socket) names the VM.
  identity: socketIdentity,
  // Some versions name them `crosvm_vcpu <n>`.
  vcpuThread: /^crosvm_vcpu ?(\d+)$/,
  genericSocketNames: ['crosvm', 'crosvm.sock'],
};
