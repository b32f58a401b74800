// A restart loses nothing: a stand-in writes a steady rate into its real TAP while the real agent
// ships to the real server (one agent per engine, on the same VM at the same moments). The agent
// is stopped with SIGTERM in the middle of a minute and started again, later killed with SIGKILL in
// the same minute and started again after a gap longer than two windows. Summed over every stored
// minute, NetworkOut equals the kernel's rx_bytes delta between the agent's first and last reads to
// the byte, CPU time equals the kernel's utime + stime delta, and the restarted minute holds the
// whole minute's bytes.
//
// The agent's first and last reads are pinned to known kernel values by stopping the stand-in
// (SIGSTOP: no CPU, no writes) around them: the test reads the same counters while they stand still.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { needs } from './helpers/needs.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { createTap, deleteTap, tapCounters, uniqueTapName } from './helpers/tap.js';
import { clockTicks, cpuTicks, sleep, waitFor } from './helpers/procs.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { engineReady, ENGINES, startTestServer, type Engine, type TestServer } from './helpers/server.js';
import type { Payload } from '../src/ship/payload.js';
import { pino } from 'pino';
import { Agent, type WindowReport } from '../src/agent/agent.js';
import { systemConstants } from '../src/readers/system.js';

const t = suite('agent restart loses nothing');

const WINDOW_S = 10;
const INTERVAL_MS = 1000;
const RATE = 100_000; // bytes per second into the TAP (the VM's NetworkOut)

interface Delivered {
  payload: Payload;
  status: string;
}

/** A pass-through in front of the server that keeps every batch the server answered 200 to. */
async function recordingProxy(target: string): Promise<{ url: string; delivered: Delivered[]; close(): Promise<void> }> {
  const delivered: Delivered[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers: Record<string, string> = {};
      for (const h of ['authorization', 'content-type', 'content-encoding', 'idempotency-key', 'user-agent']) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      fetch(`${target}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : body })
        .then(async (r) => {
          const text = await r.text();
          if (req.url === '/v1/ingest' && r.status === 200) {
            const raw = headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
            delivered.push({ payload: JSON.parse(raw.toString('utf8')) as Payload, status: (JSON.parse(text) as { status: string }).status });
          }
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(text);
        })
        .catch((err: unknown) => {
          res.writeHead(502);
          res.end(String(err));
        });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    delivered,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Lane {
  engine: Engine;
  server: TestServer;
  proxy: Awaited<ReturnType<typeof recordingProxy>>;
  spool: string;
  agent: AgentProcess | null;
}

function agentEnv(l: Lane): Record<string, string> {
  return {
    VMPULSE_ENDPOINT: l.proxy.url,
    VMPULSE_TOKEN: l.server.agent.secret,
    VMPULSE_SPOOL_DIR: l.spool,
    VMPULSE_WINDOW_SECONDS: String(WINDOW_S),
    VMPULSE_SAMPLE_INTERVAL_MS: String(INTERVAL_MS),
    VMPULSE_DISCOVERY_INTERVAL_MS: '1000',
    VMPULSE_SHIP_BACKOFF_INITIAL_MS: '100',
    VMPULSE_SHIP_BACKOFF_MAX_MS: '1000',
  };
}

/** Until `at` (wall-clock ms). */
async function until(at: number): Promise<void> {
  const d = at - Date.now();
  if (d > 0) await sleep(d);
}

async function sampled(agent: AgentProcess, instanceId: string): Promise<boolean> {
  const text = await (await fetch(`${agent.url}/metrics`)).text();
  return text.includes(`hypeman_vm_cpu_seconds_total{instance_id="${instanceId}"`);
}

t('SIGTERM and kill -9 mid-minute: every byte and CPU tick lands in exactly one stored minute, both engines', async () => {
  if (!(await needs('agent restart loses nothing', 'root', 'tun', 'cc'))) return;
  const engines: Engine[] = [];
  for (const e of ENGINES) if (await engineReady(e, 'agent restart loses nothing')) engines.push(e);

  const cleanups: (() => unknown)[] = [];
  try {
    const tap = createTap(uniqueTapName());
    cleanups.push(() => deleteTap(tap));
    const dir = mkdtempSync(join(tmpdir(), 'vpt-restart-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const instanceId = `rs-${process.pid}`;
    mkdirSync(join(dir, instanceId));

    const lanes: Lane[] = [];
    for (const engine of engines) {
      const server = await startTestServer(engine);
      cleanups.push(() => server.close());
      const proxy = await recordingProxy(server.url);
      cleanups.push(() => proxy.close());
      const spool = join(dir, `spool-${engine}`);
      lanes.push({ engine, server, proxy, spool, agent: null });
    }
    cleanups.push(async () => {
      for (const l of lanes) await l.agent?.kill9();
    });

    // The writer runs until the VM is stopped at the end (SIGSTOP freezes its counters).
    const vm: Standin = await startStandin({
      kind: 'crosvm',
      argv: ['run', '--cpus', '1', '--mem', '256', '--socket', join(dir, instanceId, 'crosvm.sock'), '--net', `tap-name=${tap}`, '/boot/vmlinux'],
      threads: 1,
      burn: [0],
      burnDuty: 20,
      taps: [tap],
      txBytesPerSec: RATE,
      txTotal: RATE * 600,
    });
    cleanups.push(() => vm.stop());
    process.kill(vm.pid, 'SIGSTOP');
    cleanups.push(() => process.kill(vm.pid, 'SIGCONT'));

    for (const l of lanes) l.agent = await startAgentProcess(agentEnv(l));
    for (const l of lanes) await waitFor(() => sampled(l.agent!, instanceId), 20_000, `agent (${l.engine}) to read ${instanceId}`, 100);
    // Standing still: these are exactly the values of every agent's first read.
    const first = { rx: tapCounters(tap).rx_bytes, ticks: cpuTicks(vm.pid) };
    process.kill(vm.pid, 'SIGCONT');

    // Minute M, the next one starting at least 5 s from now (the writer's catch-up of the stopped
    // time is over by then): SIGTERM at M+10 s, start at M+14 s (a short gap: whole into the
    // current window); kill -9 at M+24 s, start at M+40 s (over 20 s since the last window handed
    // on, more than two windows: spread over the windows it covers, all inside minute M).
    const M = Math.ceil((Date.now() + 5000) / 60_000) * 60_000;
    await until(M);
    const atM = tapCounters(tap).rx_bytes;
    await until(M + 10_500);
    for (const l of lanes) assert.is(await l.agent!.stop('SIGTERM'), 0, `agent (${l.engine}) exits 0 on SIGTERM`);
    await until(M + 14_000);
    for (const l of lanes) l.agent = await startAgentProcess(agentEnv(l));
    await until(M + 24_500);
    for (const l of lanes) await l.agent!.kill9();
    await until(M + 40_000);
    for (const l of lanes) l.agent = await startAgentProcess(agentEnv(l));
    for (const l of lanes) await waitFor(() => sampled(l.agent!, instanceId), 15_000, `agent (${l.engine}) to read ${instanceId} again`, 100);
    assert.ok(Date.now() < M + 59_000, 'the restarted agents read the VM inside minute M');
    await until(M + 60_000);
    const atM1 = tapCounters(tap).rx_bytes;

    // The end: stop the VM so the last reads stand still too.
    await until(M + 72_000);
    process.kill(vm.pid, 'SIGSTOP');
    await sleep(3 * INTERVAL_MS);
    const last = { rx: tapCounters(tap).rx_bytes, ticks: cpuTicks(vm.pid) };
    for (const l of lanes) assert.is(await l.agent!.stop('SIGTERM'), 0, `agent (${l.engine}) exits 0 at the end`);

    const sentBytes = last.rx - first.rx;
    const tck = clockTicks();
    const cpuSeconds = (last.ticks - first.ticks) / tck;
    assert.ok(sentBytes > RATE * 60, `the VM sent ${sentBytes} bytes`);
    for (const l of lanes) {
      const rows = await l.server.db.query(
        `SELECT minute, net_out, samples, unsampled FROM instance_minutes WHERE instance_id = $1 ORDER BY minute`.replace('$1', l.engine === 'sqlite' ? '?' : '$1'),
        [instanceId],
      );
      const stored = rows.reduce((a, r) => a + Number(r.net_out), 0);
      const stats = l.proxy.delivered.filter((d) => d.status === 'stored').flatMap((d) => d.payload.Instances.filter((i) => i.InstanceID === instanceId).flatMap((i) => i.Stats));
      const cpu = stats.reduce((a, w) => a + (w.CPUTime ?? 0), 0);
      const minuteM = rows.find((r) => Number(r.minute) === M / 1000);
      process.stdout.write(
        `\n  [${l.engine}] bytes sent ${sentBytes}, bytes stored ${stored}, difference ${stored - sentBytes}; CPU ${cpuSeconds.toFixed(2)} s by the kernel, ${cpu.toFixed(2)} s shipped; minute M ${minuteM ? Number(minuteM.net_out) : 'missing'} stored vs ${atM1 - atM} by the kernel (${rows.length} minutes, unsampled ${rows.map((r) => Number(r.unsampled)).join(',')})\n`,
      );
      assert.is(stored, sentBytes, `[${l.engine}] NetworkOut over every stored minute equals the TAP's rx_bytes delta`);
      // Two restarts: within one clock tick each.
      assert.ok(Math.abs(cpu - cpuSeconds) <= 2 / tck + 1e-9, `[${l.engine}] CPU ${cpu} s shipped vs ${cpuSeconds} s by the kernel`);
      assert.ok(minuteM, `[${l.engine}] the restarted minute is stored`);
      // The test's own two reads of the kernel counter bracket the minute within a few ms of the
      // agent's boundary ticks; 1 % is 60 kB, a tenth of a second of traffic.
      const truth = atM1 - atM;
      assert.ok(Math.abs(Number(minuteM.net_out) - truth) <= truth / 100, `[${l.engine}] minute M holds ${Number(minuteM.net_out)} bytes, the kernel counted ${truth}`);
      assert.ok(Number(minuteM.unsampled) > 0, `[${l.engine}] minute M says some of its seconds were not sampled`);
    }
  } finally {
    for (const undo of cleanups.reverse()) {
      try {
        await undo();
      } catch {
        // keep cleaning
      }
    }
  }
});

t('a VM that vanishes just after a window boundary adds no second record to the closed window', async () => {
  if (!(await needs('vanish at a window boundary', 'root', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-vanish-'));
  const instanceId = `vanish-${process.pid}`;
  mkdirSync(join(dir, instanceId));
  const vm = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '64', '--socket', join(dir, instanceId, 'crosvm.sock'), '/boot/vmlinux'], threads: 1 });
  // Interval = window = 2 s: for a whole second after each boundary the midpoint rule maps the
  // wall clock to the window that has just closed, the instant a rescan marks a VM gone.
  const agent = new Agent({ procRoot: '/proc', sysRoot: '/sys', intervalMs: 2000, windowSeconds: 2, discoveryIntervalMs: 60_000, workers: 1, apiTimeoutMs: 300 }, systemConstants(), pino({ level: 'silent' }));
  const reports: WindowReport[] = [];
  agent.onWindow((r) => void reports.push(r));
  try {
    await agent.discover();
    const key = agent.instances().find((i) => i.vm.instanceId === instanceId)?.vm.key;
    assert.ok(key, 'the stand-in is discovered');
    const B = Math.ceil(Date.now() / 2000) * 2000 + 2000;
    await until(B - 2000);
    await agent.tickAt(B - 2000);
    await until(B);
    await agent.tickAt(B); // closes [B - 2 s, B) with the VM's sample in it
    await vm.stop();
    await agent.discover(); // the VM is gone, found within the second after the boundary
    assert.ok(Date.now() < B + 1000, 'the rescan ran inside the vulnerable second');
    await until(B + 2000);
    await agent.tickAt(B + 2000);
    const mine = reports.flatMap((r) => r.windows).filter((w) => w.instances.has(key!));
    assert.equal(
      mine.map((w) => [w.startMs - B, w.instances.get(key!)!.samples]),
      [[-4000, 1], [-2000, 1], [0, 0]],
      'one record per closed window (each with its sample), then the record that says the VM is gone',
    );
    const starts = reports.flatMap((r) => r.windows).map((w) => w.startMs);
    assert.is(new Set(starts).size, starts.length, 'no window handed on twice');
    const gone = reports.find((r) => r.windows.some((w) => w.startMs === B))!;
    assert.is(gone.vms.get(key!)!.running, false);
  } finally {
    await agent.stop();
    await vm.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

t('readings older than the spool\'s max age, or of another (pid, starttime), are not carried; fresh ones are', async () => {
  if (!(await needs('carried readings: age and identity', 'root', 'tun', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  const dir = mkdtempSync(join(tmpdir(), 'vpt-carry-age-'));
  const instanceId = `age-${process.pid}`;
  mkdirSync(join(dir, instanceId));
  const total = 500_000;
  const vm = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '64', '--socket', join(dir, instanceId, 'crosvm.sock'), '--net', `tap-name=${tap}`, '/boot/vmlinux'], threads: 1, taps: [tap], txTotal: total });
  const server = await startTestServer('sqlite');
  try {
    await waitFor(async () => (await vm.status()).taps.every((x) => x.writer_done), 10_000, 'the writer', 50);
    const rx = tapCounters(tap).rx_bytes;
    const starttime = Number(readFileSync(`/proc/${vm.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    // A reading from before the writes (rx 0), claiming different ages and identities.
    const reading = (ageMs: number, st: number) => {
      const key = `${vm.pid}:${st}`;
      return {
        key,
        instanceId,
        sample: { key, tMs: Date.now() - ageMs, utimeTicks: 0, stimeTicks: 0, numThreads: 2, rssBytes: 0, vmsBytes: 0, swapBytes: 0, peakRssBytes: 0, diskReadBytes: 0, diskWriteBytes: 0, vcpuRunNs: 0, vcpuWaitNs: 0, taps: [{ name: tap, rxBytes: rx - total, txBytes: 0, rxPackets: 0, txPackets: 0 }], throttle: null },
      };
    };
    const cases: [string, ReturnType<typeof reading>, number][] = [
      ['older than VMPULSE_SPOOL_MAX_AGE_SECONDS', reading(120_000, starttime), 0],
      ['another starttime: another process', reading(5000, starttime + 1), 0],
      ['fresh and the same process', reading(5000, starttime), total],
    ];
    for (const [what, r, expected] of cases) {
      const spool = join(dir, `spool-${cases.findIndex((c) => c[1] === r)}`);
      mkdirSync(spool);
      writeFileSync(join(spool, 'readings.json'), JSON.stringify({ version: 1, savedAtMs: r.sample.tMs, readings: [r], batches: [] }));
      // One credential per AgentID: a credential binds to the first AgentID it writes for.
      const cred = await server.server.credentials.create('agent', `age ${what}`);
      const agent = await startAgentProcess({
        VMPULSE_ENDPOINT: server.url,
        VMPULSE_TOKEN: cred.secret,
        VMPULSE_SPOOL_DIR: spool,
        VMPULSE_SPOOL_MAX_AGE_SECONDS: '60',
        VMPULSE_WINDOW_SECONDS: '2',
        VMPULSE_SAMPLE_INTERVAL_MS: '500',
        VMPULSE_AGENT_ID: `age-${what.length}`,
      });
      await waitFor(() => sampled(agent, instanceId), 20_000, 'the first read', 100);
      await sleep(2500);
      assert.is(await agent.stop('SIGTERM'), 0);
      const rows = await server.db.query(`SELECT net_out FROM instance_minutes WHERE agent_id = ? AND instance_id = ?`, [`age-${what.length}`, instanceId]);
      assert.ok(rows.length > 0, `${what}: the VM's windows are stored`);
      assert.is(rows.reduce((a, x) => a + Number(x.net_out), 0), expected, what);
    }
  } finally {
    await server.close();
    await vm.stop();
    deleteTap(tap);
    rmSync(dir, { recursive: true, force: true });
  }
});

t.run();
