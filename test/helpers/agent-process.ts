// The real `vmpulse agent` as a child process, as an operator runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { distRoot } from '../../src/paths.js';
import { freePort } from './api-check.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startAgentProcess(env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<AgentProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(distRoot, 'src', 'cli.js'), 'agent'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VMPULSE_LOG_FORMAT: 'json', VMPULSE_LOG_LEVEL: 'warn', VMPULSE_LISTEN: `127.0.0.1:${port}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  const keep = (d: Buffer) => (logs = (logs + d.toString()).slice(-200_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}: ${logs}`);
    try {
      const r = await fetch(`${url}/readyz`, env.VMPULSE_API_TOKEN ? { headers: { authorization: `Bearer ${env.VMPULSE_API_TOKEN}` } } : {});
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`agent not ready within the deadline: ${logs}`);
    }
    await sleep(100);
  }
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
