// The agent's sampling configuration (the API, shipper and logging read their own variables).
import { availableParallelism } from 'node:os';
import { envReader } from '../config/env.js';

export interface AgentConfig {
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly intervalMs: number;
  readonly windowSeconds: number;
  readonly discoveryIntervalMs: number;
  readonly workers: number;
  readonly apiTimeoutMs: number;
}

export function agentConfig(source: NodeJS.ProcessEnv = process.env): AgentConfig {
  const env = envReader(source);
  const intervalMs = env.get('VMPULSE_SAMPLE_INTERVAL_MS').default('5000').asIntPositive();
  const windowSeconds = env.get('VMPULSE_WINDOW_SECONDS').default('60').asIntPositive();
  if ((windowSeconds * 1000) % intervalMs !== 0) {
    throw new Error(
      `VMPULSE_SAMPLE_INTERVAL_MS (${intervalMs}) must divide VMPULSE_WINDOW_SECONDS (${windowSeconds} s) so that no sampling interval straddles two windows`,
    );
  }
  return {
    procRoot: env.get('VMPULSE_PROC_ROOT').default('/proc').asString(),
    sysRoot: env.get('VMPULSE_SYS_ROOT').default('/sys').asString(),
    intervalMs,
    windowSeconds,
    discoveryIntervalMs: env.get('VMPULSE_DISCOVERY_INTERVAL_MS').default('30000').asIntPositive(),
    workers: env.get('VMPULSE_WORKERS').default(String(Math.min(4, availableParallelism()))).asIntPositive(),
    apiTimeoutMs: env.get('VMPULSE_HYPERVISOR_API_TIMEOUT_MS').default('500').asIntPositive(),
  };
}
