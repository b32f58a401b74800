// A real Alertmanager (Debian's prometheus-alertmanager) on loopback, in a temp dir, with a null
// receiver: tests read what it holds through its API v2.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './api-check.js';
import { killChild, waitFor } from './procs.js';

export interface AmAlert {
  labels: Record<string, string>;
  status: { state: string };
  startsAt: string;
  endsAt: string;
}

export interface Alertmanager {
  readonly url: string;
  /** The alerts Alertmanager holds as active, optionally only those of one alertname. */
  active(alertname?: string): Promise<AmAlert[]>;
  stop(): Promise<void>;
}

export async function startAlertmanager(): Promise<Alertmanager> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-am-'));
  writeFileSync(join(dir, 'am.yml'), "route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const am = spawn(
    'prometheus-alertmanager',
    [`--config.file=${join(dir, 'am.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  am.stderr!.on('data', (c) => (log = (log + c).slice(-4000)));
  const stop = async () => {
    await killChild(am);
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = await waitFor(
    async () => (am.exitCode !== null ? 'exited' : (await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)) ? 'ready' : null),
    15_000,
    'alertmanager to be ready',
    100,
  ).catch(() => 'timed out');
  if (ready !== 'ready') {
    await stop();
    throw new Error(`alertmanager did not start (${ready}): ${log}`);
  }
  return {
    url,
    async active(alertname) {
      const list = (await (await fetch(`${url}/api/v2/alerts?active=true&silenced=false&inhibited=false`)).json()) as AmAlert[];
      return list.filter((a) => a.status.state === 'active' && (!alertname || a.labels.alertname === alertname));
    },
    stop,
  };
}
