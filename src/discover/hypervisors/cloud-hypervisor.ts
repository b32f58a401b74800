// Cloud Hypervisor command line → HypervisorConfig. Pure.
//
// Memory is size + hotplug_size (Hypeman's Size + HotplugSize); with `--memory size=0` and
// `--memory-zone`s, the sum of every zone's size + hotplug_size. Sizes are bytes unless suffixed
// (K/M/G binary). A VM built from the command line has --kernel/--firmware/--payload; then the
// unwritten defaults apply (1 vCPU, 512 MiB). Without a payload the VM is created over the API,
// so cpus/memory stay null and discovery asks `GET /api/v1/vm.info`.
import { ok, malformed, type Outcome } from '../../readers/outcome.js';
import { socketIdentity, type ApiConfig, type HypervisorConfig, type HypervisorModule } from './contract.js';
import { collectOptions, lastValue, parseKeyValues, valuesOf } from './long-opts.js';
import { MiB, parseCount, parseSize } from './units.js';

export interface CloudHypervisorConfig extends HypervisorConfig {
  readonly hypervisor: 'cloud-hypervisor';
}

export function parseCloudHypervisorArgv(argv: readonly string[]): Outcome<CloudHypervisorConfig> {
  if (argv.length === 0) return malformed('cloud-hypervisor argv', 'empty');
  const opts = collectOptions(argv);
  const warnings: string[] = [];
  const hasPayload = valuesOf(opts, 'kernel', 'firmware', 'payload').length > 0;

  let vcpus: number | null = null;
  const cpus = lastValue(opts, 'cpus');
  if (cpus !== null) {
    vcpus = parseCount(parseKeyValues(cpus, 'boot').get('boot'));
    if (vcpus === null) warnings.push(`--cpus ${cpus}: no boot count`);
  }

  let memoryBytes: number | null = null;
  const memory = lastValue(opts, 'memory');
  if (memory !== null) {
    const kv = parseKeyValues(memory, 'size');
    const size = parseSize(kv.get('size') ?? '', 1);
    const hot = kv.has('hotplug_size') ? parseSize(kv.get('hotplug_size')!, 1) : 0;
    if (size === null || hot === null) warnings.push(`--memory ${memory}: not understood`);
    else memoryBytes = size + hot;
  }
  const zones = valuesOf(opts, 'memory-zone').flat();
  if (zones.length > 0 && (memoryBytes === null || memoryBytes === 0)) {
    let sum = 0;
    for (const z of zones) {
      const kv = parseKeyValues(z);
      const size = parseSize(kv.get('size') ?? '', 1);
      const hot = kv.has('hotplug_size') ? parseSize(kv.get('hotplug_size')!, 1) : 0;
      if (size === null || hot === null) warnings.push(`--memory-zone ${z}: not understood`);
      else sum += size + hot;
    }
    memoryBytes = sum;
  }

  let defaulted = false;
  if (hasPayload && vcpus === null && cpus === null) {
    vcpus = 1;
    defaulted = true;
  }
  if (hasPayload && memoryBytes === null && memory === null) {
    memoryBytes = 512 * MiB;
    defaulted = true;
  }

  const taps: string[] = [];
  for (const v of valuesOf(opts, 'net').flat()) {
    const tap = parseKeyValues(v).get('tap');
    if (tap) taps.push(tap);
  }

  let apiSocket: string | null = null;
  const api = lastValue(opts, 'api-socket');
  if (api !== null) {
    const kv = parseKeyValues(api, 'path');
    apiSocket = kv.get('path') || null;
  }

  return ok({
    hypervisor: 'cloud-hypervisor',
    vcpus,
    memoryBytes,
    defaulted,
    taps: [...new Set(taps)],
    apiSocket,
    uuid: null,
    name: null,
    warnings,
  });
}

/** `GET /api/v1/vm.info` answer → what it adds. Pure. */
export function parseVmInfo(body: unknown): ApiConfig | null {
  if (typeof body !== 'object' || body === null) return null;
  const config = (body as { config?: unknown }).config;
  if (typeof config !== 'object' || config === null) return null;
  const c = config as {
    cpus?: { boot_vcpus?: unknown };
    memory?: { size?: unknown; hotplug_size?: unknown; zones?: unknown };
    net?: unknown;
    platform?: { uuid?: unknown };
  };
  const num = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);
  const vcpus = num(c.cpus?.boot_vcpus);
  let memoryBytes: number | null = null;
  const size = num(c.memory?.size);
  if (size !== null) memoryBytes = size + (num(c.memory?.hotplug_size) ?? 0);
  if ((memoryBytes === null || memoryBytes === 0) && Array.isArray(c.memory?.zones)) {
    memoryBytes = 0;
    for (const z of c.memory.zones as { size?: unknown; hotplug_size?: unknown }[]) {
      memoryBytes += (num(z?.size) ?? 0) + (num(z?.hotplug_size) ?? 0);
    }
  }
  const taps: string[] = [];
  if (Array.isArray(c.net)) {
    for (const n of c.net as { tap?: unknown }[]) if (typeof n?.tap === 'string' && n.tap) taps.push(n.tap);
  }
  const uuid = typeof c.platform?.uuid === 'string' && c.platform.uuid ? c.platform.uuid : null;
  return { vcpus: vcpus && vcpus > 0 ? vcpus : null, memoryBytes: memoryBytes || null, taps, uuid };
}

export const cloudHypervisor: HypervisorModule<CloudHypervisorConfig> = {
  name: 'cloud-hypervisor',
  binary: /^cloud-hypervisor(-static)?$/,
  parseArgv: parseCloudHypervisorArgv,
  apiQuestion: (config) =>
    config.vcpus === null || config.memoryBytes === null ? { path: '/api/v1/vm.info', parse: parseVmInfo } : null,
  // The socket's folder names the VM; vm.info's config.platform.uuid, when set, is the id.
  identity: (hints) =>
    hints.apiUuid
      ? { instanceId: hints.apiUuid, instanceName: hints.socketName ?? hints.apiUuid, idSource: 'vm-info' }
      : socketIdentity(hints),
  vcpuThread: /^vcpu(\d+)$/,
  genericSocketNames: ['ch', 'ch.sock', 'cloud-hypervisor', 'cloud-hypervisor.sock'],
};
