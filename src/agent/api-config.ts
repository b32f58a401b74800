// Configuration of the agent's local API, read once at start-up from VMPULSE_* variables
// (process environment merged with VMPULSE_ENV_FILE).
import { envReader, intVar, loadEnv, parseListen } from '../config/env.js';

export interface AgentApiConfig {
  readonly listen: { readonly host: string; readonly port: number };
  /** Bearer token every route but /healthz requires; undefined leaves the API open (loopback default). */
  readonly token: string | undefined;
  /** Most VMs that get per-VM series on /metrics (Hypeman-style cardinality guard); 0 turns them off. */
  readonly labelBudget: number;
}

export const DEFAULT_AGENT_LISTEN = '127.0.0.1:9464';
export const DEFAULT_METRICS_VM_LIMIT = 2000;

export function loadAgentApiConfig(source: NodeJS.ProcessEnv = process.env): AgentApiConfig {
  const env = envReader(source);
  const listen = parseListen(env.get('VMPULSE_LISTEN').default(DEFAULT_AGENT_LISTEN).asString(), 'VMPULSE_LISTEN');
  // An empty token would make every request "authorized" by an empty header: treat it as unset.
  const token = env.get('VMPULSE_API_TOKEN').asString() || undefined;
  const labelBudget = intVar(loadEnv(source), 'VMPULSE_METRICS_VM_LIMIT', DEFAULT_METRICS_VM_LIMIT, { min: 0, max: 1_000_000 });
  return { listen, token, labelBudget };
}
