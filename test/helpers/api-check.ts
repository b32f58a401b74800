// Contract checks and tools shared by the agent API tests (fake view and real agent): JSON GETs,
// the Prometheus exposition parser, the seed's InstanceStats shape, and a real Prometheus server.
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INSTANCE_STATS_KEYS } from '../../src/agent/instance-stats.js';
import { freePort } from '../../src/bench/proc-usage.js';
import { killChild } from './procs.js';

export { freePort };

export async function getJson(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, body: body as Record<string, any>, text };
}

export interface ExpoSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): { types: Map<string, string>; samples: ExpoSample[] } {
  const types = new Map<string, string>();
  const samples: ExpoSample[] = [];
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m![2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m![1]!, labels, value: Number(m![3]) });
  }
  return { types, samples };
}

export const findSamples = (samples: ExpoSample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

export const HYPEMAN_METRICS: [string, string][] = [
  ['hypeman_vm_cpu_seconds_total', 'counter'],
  ['hypeman_vm_allocated_vcpus', 'gauge'],
  ['hypeman_vm_memory_rss_bytes', 'gauge'],
  ['hypeman_vm_memory_vms_bytes', 'gauge'],
  ['hypeman_vm_allocated_memory_bytes', 'gauge'],
  ['hypeman_vm_network_rx_bytes_total', 'counter'],
  ['hypeman_vm_network_tx_bytes_total', 'counter'],
  ['hypeman_vm_memory_utilization_ratio', 'gauge'],
];

/** The seed's InstanceStats contract: exact key set and JSON types. */
export function checkInstanceStatsShape(body: Record<string, unknown>, allocatedMemory: number) {
  const expected = INSTANCE_STATS_KEYS.filter((k) => k !== 'memory_utilization_ratio' || allocatedMemory > 0);
  assert.equal(Object.keys(body).sort(), [...expected].sort());
  assert.type(body.instance_id, 'string');
  assert.type(body.instance_name, 'string');
  for (const k of ['memory_rss_bytes', 'memory_vms_bytes', 'network_rx_bytes', 'network_tx_bytes', 'allocated_vcpus', 'allocated_memory_bytes'])
    assert.ok(Number.isSafeInteger(body[k]), `${k} is an integer: ${body[k]}`);
  assert.type(body.cpu_seconds, 'number');
  if (allocatedMemory > 0) assert.type(body.memory_utilization_ratio, 'number');
}


export interface Prometheus {
  readonly port: number;
  /** Instant query; the result vector (empty until data exists). */
  query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  exited(): boolean;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * A real Prometheus on loopback scraping `target` (host:port) every second, in a temp dir; with
 * `bearerToken`, it authenticates as Authorization: Bearer (read from a credentials file).
 */
export async function startPrometheus(target: string, opts: { bearerToken?: string } = {}): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-prom-'));
  const port = await freePort();
  let auth = '';
  if (opts.bearerToken) {
    writeFileSync(join(dir, 'token'), opts.bearerToken, { mode: 0o600 });
    auth = `    authorization:\n      type: Bearer\n      credentials_file: ${join(dir, 'token')}\n`;
  }
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vmpulse\n    scrape_interval: 1s\n${auth}    static_configs:\n      - targets: ['${target}']\n`,
  );
  const prom = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  prom.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  return {
    port,
    async query(q) {
      try {
        const r = await getJson(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
        return r.status === 200 && Array.isArray(r.body?.data?.result) ? r.body.data.result : [];
      } catch {
        return []; // not listening yet
      }
    },
    exited: () => prom.exitCode !== null || prom.signalCode !== null,
    stderr: () => stderr,
    async stop() {
      await killChild(prom, 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
