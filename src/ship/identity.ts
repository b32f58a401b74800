// AgentID: how the server tells hosts apart, so it must survive restarts and reinstalls of the
// agent. /etc/machine-id is exactly that on systemd hosts; hosts without one (some containers,
// minimal images) get a random ID kept beside the spool, which is the agent's durable state anyway.
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readFileSync, renameSync, writeSync, fsyncSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/** The schema's AgentID pattern. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export const AGENT_ID_FILE = 'agent-id';

export interface AgentIdOptions {
  /** VMPULSE_AGENT_ID; wins when set. */
  configured?: string | undefined;
  spoolDir: string;
  machineIdPath?: string;
}

export type AgentIdSource = 'configured' | 'machine-id' | 'spool';

function readValid(path: string): string | undefined {
  try {
    const v = readFileSync(path, 'utf8').trim();
    return AGENT_ID_PATTERN.test(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function resolveAgentId(opts: AgentIdOptions): { agentId: string; source: AgentIdSource } {
  if (opts.configured !== undefined && opts.configured !== '') {
    if (!AGENT_ID_PATTERN.test(opts.configured)) {
      throw new Error(`VMPULSE_AGENT_ID must match ${AGENT_ID_PATTERN.source}, got ${JSON.stringify(opts.configured)}`);
    }
    return { agentId: opts.configured, source: 'configured' };
  }
  const machine = readValid(opts.machineIdPath ?? '/etc/machine-id');
  if (machine) return { agentId: machine, source: 'machine-id' };

  const file = join(opts.spoolDir, AGENT_ID_FILE);
  const kept = readValid(file);
  if (kept) return { agentId: kept, source: 'spool' };
  const fresh = randomBytes(16).toString('hex');
  mkdirSync(opts.spoolDir, { recursive: true });
  // write-temp + fsync + rename + fsync(dir): a crash leaves either no ID or the whole ID, never
  // a truncated one that would make the host look new to the server.
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${fresh}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(opts.spoolDir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return { agentId: fresh, source: 'spool' };
}
