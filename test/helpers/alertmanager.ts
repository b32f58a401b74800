// A real Alertmanager (Debian's prometheus-alertmanager) on loopback, in a temp dir, with a null
// receiver: tests read what it holds through its API v2.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './api-check.js';

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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
    if (am.exitCode === null && am.signalCode === null) {
      am.kill('SIGTERM');
      await new Promise((r) => (am.exitCode !== null || am.signalCode !== null ? r(null) : am.once('exit', r)));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  let ready = false;
  for (let i = 0; i < 150 && !ready && am.exitCode === null; i++) {
    ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (!ready) await sleep(100);
  }
  if (!ready) {
    await stop();
    throw new Error(`alertmanager did not start: ${log}`);
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
