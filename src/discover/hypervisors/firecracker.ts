// Firecracker command line → HypervisorConfig. Pure. The machine shape is never on the command
// line itself: it is in `--config-file` (read by discovery through /proc/<pid>/root, because
// under the jailer that path is inside the chroot) or answered by `GET /vm/config` on the API
// socket; both have the same JSON shape, parsed by parseFirecrackerConfig.
import { ok, malformed, type Outcome } from '../../readers/outcome.js';
import { socketIdentity, type ApiConfig, type HypervisorConfig, type HypervisorModule } from './contract.js';
import { collectOptions, lastValue, valuesOf } from './long-opts.js';
import { MiB } from './units.js';

export interface FirecrackerConfig extends HypervisorConfig {
  readonly hypervisor: 'firecracker';
  /** `--config-file` as the process sees it. */
  readonly configFile: string | null;
}

/** Firecracker's own default when neither --api-sock nor --no-api is given. */
export const FIRECRACKER_DEFAULT_SOCKET = '/run/firecracker.socket';

export function parseFirecrackerArgv(argv: readonly string[]): Outcome<FirecrackerConfig> {
  if (argv.length === 0) return malformed('firecracker argv', 'empty');
  const opts = collectOptions(argv);
  const id = lastValue(opts, 'id');
  const noApi = valuesOf(opts, 'no-api').length > 0;
  const apiSocket = noApi ? null : (lastValue(opts, 'api-sock') ?? FIRECRACKER_DEFAULT_SOCKET);
  return ok({
    hypervisor: 'firecracker',
    vcpus: null,
    memoryBytes: null,
    defaulted: false,
    taps: [],
    apiSocket,
    uuid: null,
    name: id && id !== 'anonymous-instance' ? id : null,
    configFile: lastValue(opts, 'config-file'),
    warnings: [],
  });
}

/** A Firecracker config file or `GET /vm/config` answer. Pure. */
export function parseFirecrackerConfig(body: unknown): ApiConfig | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as {
    'machine-config'?: { vcpu_count?: unknown; mem_size_mib?: unknown };
    'network-interfaces'?: unknown;
  };
  const mc = b['machine-config'];
  const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null);
  const vcpus = int(mc?.vcpu_count);
  const mib = int(mc?.mem_size_mib);
  const taps: string[] = [];
  if (Array.isArray(b['network-interfaces'])) {
    for (const n of b['network-interfaces'] as { host_dev_name?: unknown }[]) {
      if (typeof n?.host_dev_name === 'string' && n.host_dev_name) taps.push(n.host_dev_name);
    }
  }
  if (vcpus === null && mib === null && taps.length === 0) return null;
  return { vcpus, memoryBytes: mib === null ? null : mib * MiB, taps, uuid: null };
}

export const firecracker: HypervisorModule<FirecrackerConfig> = {
  name: 'firecracker',
  // Release binaries are named firecracker-v1.7.0-x86_64; the jailer execs them under that name.
  binary: /^firecracker(-v\d[\w.-]*)?$/,
  parseArgv: parseFirecrackerArgv,
  configFile: (config) => config.configFile,
  parseConfigFile: parseFirecrackerConfig,
  apiQuestion: (_config, fromFile) => (fromFile === null ? { path: '/vm/config', parse: parseFirecrackerConfig } : null),
  // --id is the id; the name is the socket's folder when that is specific and differs
  // (orchestrators keep a readable folder per VM and a UUID as --id).
  identity: (hints) => {
    const { name, socketName } = hints;
    if (name) return { instanceId: name, instanceName: socketName ?? name, idSource: 'firecracker-id' };
    return socketIdentity(hints);
  },
  vcpuThread: /^fc_vcpu ?(\d+)$/,
  genericSocketNames: ['firecracker', 'firecracker.sock', 'firecracker.socket', 'jailer'],
};
