// `npm run bench:console`: first render of the console's fleet page with 10,000 synthetic VMs
// (100 hosts × 100 VMs, one recent window each, ingested through POST /v1/ingest into a temp
// SQLite store) in Debian's chromium driven by playwright-core, against a reference measured in the
// same run and the same browser: a plain static HTML page holding a table of the same 10,000 rows.
// Both figures are wall time from navigation to the table being on screen (the fleet page shows
// its first 100 rows; the reference all of its rows), median of VMPULSE_BENCH_RUNS (default 5).
// VMPULSE_BENCH_ENGINE=postgres runs the server on a throwaway database vmpulse_console_bench_<pid>
// on VMPULSE_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres) instead of SQLite.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chromium } from 'playwright-core';
import { ulid } from 'ulid';
import { startServer } from '../server/app.js';
import type { Agg, HostWindow, InstanceRecord, Payload } from '../ship/payload.js';

const HOSTS = Number(process.env.VMPULSE_BENCH_HOSTS ?? 100);
const VMS_PER_HOST = Number(process.env.VMPULSE_BENCH_VMS_PER_HOST ?? 100);
const RUNS = Number(process.env.VMPULSE_BENCH_RUNS ?? 5);
const ENGINE = process.env.VMPULSE_BENCH_ENGINE === 'postgres' ? 'postgres' : 'sqlite';
const PG_URL = process.env.VMPULSE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'];

const agg = (x: number): Agg => ({ Avg: x, Min: x * 0.5, Max: x * 1.5, Sum: x * 12, Count: 12 });

function batch(h: number, minute: number): Payload {
  const host: HostWindow = { Minute: minute, Seconds: 60, Samples: 12, CPU: agg(40), IOWait: agg(1), Steal: agg(0.5), RAM: agg(60), Swap: agg(0), Load1: agg(3), Load5: agg(3), Load15: agg(3), Disk: agg(50), NetIn: 6e6, NetOut: 3e6 };
  const instances: InstanceRecord[] = [];
  for (let v = 0; v < VMS_PER_HOST; v++) {
    const x = ((h * VMS_PER_HOST + v) % 97) + 1;
    instances.push({
      InstanceID: `vm-${String(h).padStart(3, '0')}-${String(v).padStart(3, '0')}`,
      InstanceName: `web-${h}-${v}`,
      Hypervisor: (['qemu', 'firecracker', 'cloud-hypervisor'] as const)[v % 3]!,
      PID: 1000 + v,
      StartTime: 1,
      AllocatedVcpus: 1 + (v % 8),
      AllocatedMemoryBytes: (1 + (v % 16)) * 2 ** 30,
      TapDevices: [`tap${h}x${v}`],
      Running: true,
      Counters: null,
      Stats: [
        {
          Minute: minute, Seconds: 60, Samples: 12, Missed: 0,
          CPU: agg(x), CPUCore: agg(x), CPUUser: agg(x * 0.7), CPUSystem: agg(x * 0.3), VcpuBusy: agg(x), Steal: agg(0.2),
          MemoryRSS: agg(1e9), MemorySwap: null, MemoryUtilization: agg(30 + (x % 50)),
          NetIn: 1e5 * x, NetOut: 5e4 * x, NetInPackets: 100, NetOutPackets: 50, DiskRead: 4096 * x, DiskWrite: 8192 * x, ThrottledPeriods: 0, ThrottledTimeNs: 0,
        },
      ],
    });
  }
  return {
    Version: 1, BatchID: ulid(), AgentID: `bench-host-${h}`, AgentVersion: 'bench', Hostname: `hv${h}.bench`, OperatingSystem: 'Debian 12', Kernel: '6.1', CPUModel: 'Bench CPU',
    CPUSpeed: 3000, CPUCores: 64, RAM: 512 * 2 ** 30, Swap: 0, SystemUptime: 1000, CreatedAt: Math.floor(Date.now() / 1000),
    Disks: [{ Mount: '/', Size: 1e12, Used: 5e11, Available: 5e11 }], NetworkInterfaces: [{ Name: 'eth0', NetIn: 6e6, NetOut: 3e6 }], Stats: [host], Instances: instances,
  };
}

/** The reference: the same rows as a plain HTML table, no script. */
function staticTable(payloads: Payload[]): string {
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  const rows: string[] = [];
  let i = 0;
  for (const p of payloads) {
    for (const v of p.Instances) {
      const w = v.Stats[0]!;
      rows.push(
        `<tr data-i="${i++}"><td><a href="#${esc(v.InstanceID)}">${esc(v.InstanceName)}</a></td><td>${esc(p.Hostname)}</td><td>${esc(v.Hypervisor)}</td><td>${v.AllocatedVcpus}</td><td>${(v.AllocatedMemoryBytes / 2 ** 30).toFixed(1)} GiB</td><td>${w.CPU!.Avg.toFixed(1)} %</td><td>${w.MemoryUtilization!.Avg.toFixed(1)} %</td><td>${(w.NetIn! / 60).toFixed(0)} B/s</td><td>${(w.NetOut! / 60).toFixed(0)} B/s</td><td>${(w.DiskRead! / 60).toFixed(0)} / ${(w.DiskWrite! / 60).toFixed(0)} B/s</td><td>${w.Steal!.Avg.toFixed(1)} %</td><td>running</td><td>0</td></tr>`,
      );
    }
  }
  return `<!doctype html><html><head><meta charset="utf-8"><title>reference</title></head><body><table id="ref"><thead><tr><th>Name</th><th>Host</th><th>Hypervisor</th><th>vCPUs</th><th>Memory</th><th>CPU</th><th>Mem</th><th>Net in</th><th>Net out</th><th>Disk</th><th>Steal</th><th>State</th><th>Alarms</th></tr></thead><tbody>${rows.join('')}</tbody></table></body></html>`;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-console-bench-'));
  const pgName = `vmpulse_console_bench_${process.pid}`;
  let db = join(dir, 'v.db');
  if (ENGINE === 'postgres') {
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${pgName}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${pgName}`;
    db = u.toString();
  }
  const server = await startServer({
    host: '127.0.0.1', port: 0, tls: null, db, keyFile: join(dir, 'server.key'), maxBodyBytes: 64 * 2 ** 20, retentionDays: 15, retentionIntervalS: 3600,
    logLevel: 'silent', pgPoolMax: 4, alerts: { loops: false, builtins: false },
  });
  const ref = createServer();
  try {
    const agent = await server.credentials.create('agent', 'bench-agent');
    const reader = await server.credentials.create('reader', 'bench-reader');
    const minute = Math.floor(Date.now() / 60000) * 60 - 60;
    const payloads: Payload[] = [];
    for (let h = 0; h < HOSTS; h++) {
      const p = batch(h, minute);
      payloads.push(p);
      // An agent credential binds to the first AgentID it writes for: one per host.
      const tok = h === 0 ? agent : await server.credentials.create('agent', `bench-agent-${h}`);
      const r = await fetch(`${server.url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${tok.secret}`, 'content-type': 'application/json', 'idempotency-key': p.BatchID }, body: JSON.stringify(p) });
      if (r.status !== 200) throw new Error(`ingest: ${r.status} ${await r.text()}`);
    }
    const html = staticTable(payloads);
    ref.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    await new Promise<void>((r) => ref.listen(0, '127.0.0.1', r));
    const refUrl = `http://127.0.0.1:${(ref.address() as AddressInfo).port}/`;

    // The fleet endpoint alone: server time and bytes.
    const cookieRes = await fetch(`${server.url}/console/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: reader.secret }) });
    const cookie = (cookieRes.headers.get('set-cookie') ?? '').split(';')[0]!;
    const apiMs: number[] = [];
    let bytes = 0;
    let vms = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const r = await fetch(`${server.url}/console/api/fleet`, { headers: { cookie } });
      const text = await r.text();
      apiMs.push(performance.now() - t);
      bytes = Buffer.byteLength(text);
      vms = (JSON.parse(text) as { vms: unknown[] }).vms.length;
    }
    if (vms !== HOSTS * VMS_PER_HOST) throw new Error(`the fleet endpoint lists ${vms} VMs, expected ${HOSTS * VMS_PER_HOST}`);

    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
    try {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const signIn = await ctx.request.post(`${server.url}/console/session`, { data: { token: reader.secret } });
      if (signIn.status() !== 200) throw new Error(`sign-in: ${signIn.status()}`);
      const fleetMs: number[] = [];
      const refMs: number[] = [];
      // Alternate the two so that a slower moment of this shared machine hits both alike.
      for (let i = 0; i < RUNS + 1; i++) {
        const p1 = await ctx.newPage();
        let t = performance.now();
        await p1.goto(`${server.url}/#/fleet`);
        await p1.locator('#vm-table tbody tr').nth(99).waitFor();
        const f = performance.now() - t;
        await p1.close();
        const p2 = await ctx.newPage();
        t = performance.now();
        await p2.goto(refUrl);
        await p2.locator(`#ref tr[data-i="${HOSTS * VMS_PER_HOST - 1}"]`).waitFor();
        const r = performance.now() - t;
        await p2.close();
        if (i > 0) {
          // The first pair warms the browser's caches and the server's statements.
          fleetMs.push(f);
          refMs.push(r);
        }
      }
      const fm = median(fleetMs);
      const rm = median(refMs);
      const out = {
        engine: ENGINE,
        vms: HOSTS * VMS_PER_HOST,
        hosts: HOSTS,
        runs: RUNS,
        fleet_first_render_ms: Math.round(fm),
        reference_static_table_ms: Math.round(rm),
        ratio: Number((fm / rm).toFixed(2)),
        fleet_api_ms: Math.round(median(apiMs)),
        fleet_api_bytes: bytes,
        reference_html_bytes: Buffer.byteLength(html),
        fleet_runs_ms: fleetMs.map(Math.round),
        reference_runs_ms: refMs.map(Math.round),
      };
      process.stdout.write(
        `console fleet page, ${out.vms} VMs on ${out.hosts} hosts (${ENGINE}), median of ${RUNS}:\n` +
          `  first render (navigation → first 100 rows on screen)  ${out.fleet_first_render_ms} ms\n` +
          `  reference: static HTML table of the same rows          ${out.reference_static_table_ms} ms\n` +
          `  ratio                                                  ${out.ratio}\n` +
          `  GET /console/api/fleet                                 ${out.fleet_api_ms} ms, ${out.fleet_api_bytes} bytes (reference page ${out.reference_html_bytes} bytes)\n` +
          JSON.stringify(out) +
          '\n',
      );
    } finally {
      await browser.close();
    }
  } finally {
    ref.close();
    await server.close();
    if (ENGINE === 'postgres') {
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${pgName} WITH (FORCE)`);
      await admin.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
