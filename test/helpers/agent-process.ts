// The real `vmpulse agent` as a child process, as an operator runs it: with the node flags of the
// shipped systemd unit (a V8 flag there once made every sampler thread refuse to start).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { unitNodeFlags } from '../../src/bench/agent-process.js';
import { distRoot } from '../../src/paths.js';
import { freePort } from './api-check.js';
import { waitFor } from './procs.js';

export interface AgentProcess {
  readonly pid: number;
  readonly url: string;
  readonly child: ChildProcess;
  logs(): string;
  /** SIGINT (or SIGTERM) and wait; resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL: no chance to close its window or flush. */
  kill9(): Promise<void>;
}

export async function startAgentProcess(env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<AgentProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [...unitNodeFlags(), join(distRoot, 'src', 'cli.js'), 'agent'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VMPULSE_LOG_FORMAT: 'json', VMPULSE_LOG_LEVEL: 'warn', VMPULSE_LISTEN: `127.0.0.1:${port}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const keep = (d: Buffer) => (logs = (logs + d.toString()).slice(-200_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const ready = await waitFor(
    async () => {
      if (child.exitCode !== null) return 'exited';
      try {
        const auth = env.VMPULSE_API_TOKEN ? { headers: { authorization: `Bearer ${env.VMPULSE_API_TOKEN}` } } : {};
        return (await fetch(`${url}/readyz`, auth)).status === 200 ? 'ready' : null;
      } catch {
        return null; // not listening yet
      }
    },
    opts.readyTimeoutMs ?? 20_000,
    'the agent to be ready',
    100,
  ).catch((e: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${e.message}: ${logs}`);
  });
  if (ready === 'exited') throw new Error(`agent exited with ${child.exitCode}: ${logs}`);
  return {
    pid: child.pid!,
    url,
    child,
    logs: () => logs,
    async stop(signal = 'SIGINT', timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
