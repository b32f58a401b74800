// A real VictoriaMetrics single node (Debian's victoria-metrics) on loopback, with a temp
// -storageDataPath and the flags the vmpulse engine needs; stopped by its own PID, data removed.
// It can be stopped and started again on the same port and data (the restart test).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './api-check.js';

export interface Victoria {
  readonly url: string;
  readonly dataDir: string;
  /** Graceful stop (SIGTERM: buffered samples are flushed to disk), data kept. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes the data directory. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The flags vmpulse needs: dedup of identical replays (1 ms), and 456 days kept. */
export const VM_FLAGS = ['-dedup.minScrapeInterval=1ms', '-retentionPeriod=456d'];

export async function startVictoria(): Promise<Victoria> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-vm-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  let log = '';
  const stop = async () => {
    const p = proc;
    proc = null;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
  };
  const start = async () => {
    const p = spawn('victoria-metrics', [`-httpListenAddr=127.0.0.1:${port}`, `-storageDataPath=${join(dir, 'data')}`, ...VM_FLAGS, '-loggerLevel=ERROR'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc = p;
    p.stderr!.on('data', (c) => (log = (log + c).slice(-4000)));
    let ready = false;
    for (let i = 0; i < 200 && !ready && p.exitCode === null; i++) {
      ready = await fetch(`${url}/health`).then((r) => r.ok, () => false);
      if (!ready) await sleep(100);
    }
    // Ready, and it is ours: a port taken by another process between freePort() and the bind
    // would make /health answer for someone else's server while this one exits.
    await sleep(200);
    if (!ready || p.exitCode !== null || p.signalCode !== null) {
      await stop();
      throw new Error(`victoria-metrics did not start: ${log}`);
    }
  };
  await start();
  return {
    url,
    dataDir: join(dir, 'data'),
    stop,
    start,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
