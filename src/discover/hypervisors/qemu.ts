// QEMU command line → HypervisorConfig. Pure: argv in, config out.
//
// Memory: boot RAM from `-m` (a bare number, or `size=` without suffix, is MiB, as QEMU's
// parse_memory_options reads it), or from the backend named by `-machine memory-backend=ID`
// (then that object's size, in bytes when suffixless, is the RAM size); plus every memory backend
// plugged into a `pc-dimm` device (hotplugged DIMMs are allocated memory; `maxmem` is only a
// ceiling and is not counted). vCPUs: boot CPUs of `-smp`; when `cpus` is omitted QEMU takes
// maxcpus, else the product of the topology. Without -smp/-m QEMU boots 1 vCPU and 128 MiB,
// unless a -readconfig file may have set them (then unknown).
import { ok, malformed, type Outcome } from '../../readers/outcome.js';
import type { HypervisorConfig, HypervisorModule } from './contract.js';
import { isJsonOpts, parseQemuOpts } from './qemu-opts.js';
import { MiB, parseCount, parseSize } from './units.js';

export interface QemuConfig extends HypervisorConfig {
  readonly hypervisor: 'qemu';
  /** `-name ...,debug-threads=on`: only then are vCPU threads named `CPU <n>/KVM`. */
  readonly debugThreads: boolean;
}

// Options that take no argument; every other option takes the next argv element.
const FLAGS = new Set([
  'S', 's', 'nographic', 'snapshot', 'daemonize', 'enable-kvm', 'no-reboot', 'no-shutdown',
  'nodefaults', 'no-user-config', 'no-hpet', 'no-acpi', 'full-screen', 'usb', 'win2k-hack',
  'no-fd-bootchk', 'no-quit', 'old-param', 'semihosting', 'enable-fips', 'only-migratable',
  'preconfig', 'xen-attach', 'alt-grab', 'ctrl-grab', 'curses', 'portrait', 'rtc-td-hack',
  'singlestep', 'sdl', 'h', 'help', 'version', 'no-frame', 'no-kvm', 'no-kvm-irqchip',
  'no-kvm-pit', 'no-kvm-pit-reinjection', 'no-graphic', 'show-cursor', 'no-user-config',
]);

const TOPOLOGY = ['drawers', 'books', 'sockets', 'dies', 'clusters', 'modules', 'cores', 'threads'];

/** Boot vCPUs of one -smp value, or null. */
export function parseSmp(value: string): number | null {
  const o = parseQemuOpts(value, 'cpus');
  if (!o) return null;
  const cpus = o.has('cpus') ? parseCount(o.get('cpus')) : undefined;
  if (cpus !== undefined) return cpus !== null && cpus > 0 ? cpus : null;
  const max = o.has('maxcpus') ? parseCount(o.get('maxcpus')) : undefined;
  if (max !== undefined) return max !== null && max > 0 ? max : null;
  let product = 1;
  let any = false;
  for (const k of TOPOLOGY) {
    if (!o.has(k)) continue;
    const n = parseCount(o.get(k));
    if (n === null || n <= 0) return null;
    product *= n;
    any = true;
  }
  return any ? product : null;
}

/** Boot RAM of one -m value in bytes, or null. */
export function parseQemuMemory(value: string): number | null {
  const o = parseQemuOpts(value, 'size');
  const size = o?.get('size');
  if (size === undefined) return null;
  return parseSize(size, isJsonOpts(value) ? 1 : MiB);
}

interface Backend {
  readonly sizeBytes: number | null;
}

export function parseQemuArgv(argv: readonly string[]): Outcome<QemuConfig> {
  if (argv.length === 0) return malformed('qemu argv', 'empty');
  const warnings: string[] = [];
  let vcpus: number | null = null;
  let bootMem: number | null = null;
  let sawSmp = false;
  let sawMem = false;
  let readconfig = false;
  let uuid: string | null = null;
  let name: string | null = null;
  let debugThreads = false;
  let ramBackend: string | null = null;
  let apiSocket: string | null = null;
  const taps: string[] = [];
  const backends = new Map<string, Backend>();
  const dimmBackends: string[] = [];

  const tapFrom = (value: string, opt: string): void => {
    const o = parseQemuOpts(value, 'type');
    if (!o) return void warnings.push(`${opt}: bad JSON`);
    if (o.get('type') === 'tap' && o.get('ifname')) taps.push(o.get('ifname')!);
  };

  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') continue;
    const opt = arg.replace(/^--?/, '');
    if (FLAGS.has(opt)) continue;
    const value = argv[i + 1];
    if (value === undefined) break;
    i++;
    switch (opt) {
      case 'smp':
        sawSmp = true;
        vcpus = parseSmp(value);
        if (vcpus === null) warnings.push(`-smp ${value}: not understood`);
        break;
      case 'm':
        sawMem = true;
        bootMem = parseQemuMemory(value);
        if (bootMem === null) warnings.push(`-m ${value}: not understood`);
        break;
      case 'name': {
        const o = parseQemuOpts(value, 'guest');
        if (o?.get('guest')) name = o.get('guest')!;
        if (o?.get('debug-threads') === 'on') debugThreads = true;
        break;
      }
      case 'uuid':
        if (value.trim()) uuid = value.trim().toLowerCase();
        break;
      case 'machine':
      case 'M': {
        const o = parseQemuOpts(value, 'type');
        if (o?.get('memory-backend')) ramBackend = o.get('memory-backend')!;
        break;
      }
      case 'object': {
        const o = parseQemuOpts(value, 'qom-type');
        if (!o) {
          warnings.push('-object: bad JSON');
          break;
        }
        const type = o.get('qom-type') ?? '';
        const id = o.get('id');
        if (type.startsWith('memory-backend-') && id) {
          // Object sizes are bytes when suffixless (QOM size property).
          const size = o.get('size');
          backends.set(id, { sizeBytes: size === undefined ? null : parseSize(size, 1) });
        }
        break;
      }
      case 'device': {
        const o = parseQemuOpts(value, 'driver');
        if (o && o.get('driver') === 'pc-dimm' && o.get('memdev')) dimmBackends.push(o.get('memdev')!);
        break;
      }
      case 'netdev':
      case 'net':
      case 'nic':
        tapFrom(value, opt);
        break;
      case 'qmp': {
        const m = /^unix:([^,]+)/.exec(value);
        if (m) apiSocket = m[1]!;
        break;
      }
      case 'readconfig':
        readconfig = true;
        break;
      default:
        // An unknown option followed by something that looks like an option was probably a flag.
        if (value.startsWith('-') && value.length > 1) i--;
    }
  }

  let defaulted = false;
  if (ramBackend !== null) {
    const b = backends.get(ramBackend);
    if (b?.sizeBytes != null) bootMem = b.sizeBytes;
    else warnings.push(`memory-backend ${ramBackend}: size unknown`);
  }
  if (!sawSmp && !readconfig) {
    vcpus = 1;
    defaulted = true;
  }
  if (!sawMem && bootMem === null && !readconfig) {
    bootMem = 128 * MiB;
    defaulted = true;
  }
  let memoryBytes = bootMem;
  if (memoryBytes !== null) {
    for (const id of dimmBackends) {
      const b = backends.get(id);
      if (b?.sizeBytes != null) memoryBytes += b.sizeBytes;
      else warnings.push(`pc-dimm memdev ${id}: size unknown`);
    }
  }
  return ok({
    hypervisor: 'qemu',
    vcpus,
    memoryBytes,
    defaulted,
    taps: [...new Set(taps)],
    apiSocket,
    uuid,
    name,
    debugThreads,
    warnings,
  });
}

export const qemu: HypervisorModule<QemuConfig> = {
  name: 'qemu',
  binary: /^(qemu-system-[A-Za-z0-9_.-]+|qemu-kvm)$/,
  parseArgv: parseQemuArgv,
  // -uuid is the id, -name the name; each stands in for the other when alone.
  identity: ({ uuid, name }) => {
    if (uuid) return { instanceId: uuid, instanceName: name ?? uuid, idSource: 'qemu-uuid' };
    if (name) return { instanceId: name, instanceName: name, idSource: 'qemu-name' };
    return null;
  },
  // `CPU <n>/KVM`, `CPU <n>/TCG` without KVM; only with -name ...,debug-threads=on.
  vcpuThread: /^CPU (\d+)\/[A-Z]+$/,
  vcpuThreadsNamed: (config) => config.debugThreads,
  genericSocketNames: ['qemu', 'libvirt'],
};
