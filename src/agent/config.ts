// The agent's sampling configuration (the API, shipper and logging read their own variables).
import { availableParallelism } from 'node:os';
import { ConfigError, intVar, loadEnv } from '../config/env.js';
import { deviceConfig, type DeviceConfig } from '../collect/disks/config.js';

export interface AgentConfig {
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly intervalMs: number;
  readonly windowSeconds: number;
  readonly discoveryIntervalMs: number;
  /** The most sampler worker threads. */
  readonly workers: number;
  /** One sampler worker per this many VMs, up to `workers` (absent: all of them from the start). */
  readonly vmsPerWorker?: number;
  readonly apiTimeoutMs: number;
  /** Per-disk I/O and balloon rounds (collect/disks/config.ts); absent: no device rounds. */
  readonly devices?: DeviceConfig;
}

/**
 * Window lengths the server's per-minute model represents exactly: a divisor of 60 (its records
 * merge into their minute) or a whole number of minutes up to an hour (shipped as one batch
 * holding a record per minute).
 */
export function acceptedWindow(seconds: number): boolean {
  return (seconds >= 1 && 60 % seconds === 0) || (seconds >= 60 && seconds <= 3600 && seconds % 60 === 0);
}

export const WINDOW_RULE = 'a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) or a multiple of 60 up to 3600';

export function agentConfig(source: NodeJS.ProcessEnv = process.env): AgentConfig {
  const env = loadEnv(source);
  const intervalMs = intVar(env, 'VMPULSE_SAMPLE_INTERVAL_MS', 5000, { min: 100, max: 60_000 });
  const windowSeconds = intVar(env, 'VMPULSE_WINDOW_SECONDS', 60, { min: 1, max: 3600 });
  if (!acceptedWindow(windowSeconds)) {
    throw new ConfigError('VMPULSE_WINDOW_SECONDS', `VMPULSE_WINDOW_SECONDS must be ${WINDOW_RULE}, got ${windowSeconds}`);
  }
  if ((windowSeconds * 1000) % intervalMs !== 0) {
    throw new ConfigError(
      'VMPULSE_SAMPLE_INTERVAL_MS',
      `VMPULSE_SAMPLE_INTERVAL_MS (${intervalMs}) must divide VMPULSE_WINDOW_SECONDS (${windowSeconds} s) so that no sampling interval straddles two windows`,
    );
  }
  if (windowSeconds > 60 && 60_000 % intervalMs !== 0) {
    throw new ConfigError(
      'VMPULSE_SAMPLE_INTERVAL_MS',
      `VMPULSE_SAMPLE_INTERVAL_MS (${intervalMs}) must divide a minute when VMPULSE_WINDOW_SECONDS (${windowSeconds}) is longer than one, so that no interval straddles two minute records`,
    );
  }
  return {
    procRoot: env.VMPULSE_PROC_ROOT || '/proc',
    sysRoot: env.VMPULSE_SYS_ROOT || '/sys',
    intervalMs,
    windowSeconds,
    discoveryIntervalMs: intVar(env, 'VMPULSE_DISCOVERY_INTERVAL_MS', 30_000, { min: 100, max: 86_400_000 }),
    workers: intVar(env, 'VMPULSE_WORKERS', Math.min(4, availableParallelism()), { min: 1, max: 256 }),
    vmsPerWorker: intVar(env, 'VMPULSE_VMS_PER_WORKER', 2000, { min: 1, max: 1_000_000 }),
    apiTimeoutMs: intVar(env, 'VMPULSE_HYPERVISOR_API_TIMEOUT_MS', 500, { min: 10, max: 60_000 }),
    devices: deviceConfig(source),
  };
}
