// Where and how often device readings are taken (README: "Per-disk I/O and guest memory").
import { intVar, loadEnv } from '../../config/env.js';
import { DEFAULT_LIBVIRT_URI, type LibvirtOptions } from './libvirt.js';

export interface DeviceConfig {
  /**
   * VMPULSE_DEVICE_INTERVAL_MS: one round of device readings (one virsh process for every libvirt
   * domain, one API GET per Cloud Hypervisor / Firecracker VM). The counters are cumulative, so a
   * coarser interval than the CPU sampling loses nothing from the per-minute totals; 0 turns the
   * rounds off.
   */
  readonly intervalMs: number;
  readonly libvirt: LibvirtOptions;
  readonly apiTimeoutMs: number;
}

export function deviceConfig(source: NodeJS.ProcessEnv = process.env): DeviceConfig {
  const env = loadEnv(source);
  const intervalMs = intVar(env, 'VMPULSE_DEVICE_INTERVAL_MS', 30_000, { min: 0, max: 300_000 });
  return {
    intervalMs: intervalMs > 0 && intervalMs < 1000 ? 1000 : intervalMs,
    libvirt: {
      uri: env.VMPULSE_LIBVIRT_URI || DEFAULT_LIBVIRT_URI,
      virsh: env.VMPULSE_VIRSH || 'virsh',
      timeoutMs: intVar(env, 'VMPULSE_LIBVIRT_TIMEOUT_MS', 5000, { min: 100, max: 60_000 }),
    },
    apiTimeoutMs: intVar(env, 'VMPULSE_HYPERVISOR_API_TIMEOUT_MS', 500, { min: 10, max: 60_000 }),
  };
}
