// The real `vmpulse agent` process end to end: its local API and /metrics against real QEMUs and a
// stand-in holding a real TAP (values checked against the kernel), a real Prometheus scraping it,
// and shipping to a receiver through an outage and a `kill -9`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { needs } from './helpers/needs.js';
import { startQemu, type Qemu } from './helpers/qemu.js';
import { startStandin, waitWritersDone, type Standin } from './helpers/standin.js';
import { createTap, deleteTap, sendFramesToTap, tapCounters, uniqueTapName } from './helpers/tap.js';
import { clockTicks, cpuTicks, waitFor } from './helpers/procs.js';
import { checkInstanceStatsShape, findSamples, getJson, HYPEMAN_METRICS, parseExposition, startPrometheus } from './helpers/api-check.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { Receiver, schemaErrors } from './helpers/receiver.js';
import { HEADER_BYTES, scanSegment } from '../src/ship/segment-format.js';
import { peekMeta } from '../src/ship/codec.js';

const hex = (n: number) => randomBytes(n).toString('hex');

const e2e = suite('agent end to end');

interface Fixture {
  qa: Qemu;
  qb: Qemu;
  cv: Standin;
  tapQ: string;
  tapC: string;
  dir: string;
  uuidA: string;
  uuidB: string;
  agent: AgentProcess;
}

let fx: Fixture | null = null;
let setupError: unknown = null;

/** The shared fixture; null only when its prerequisites are missing (a recorded skip). */
async function fixture(name: string): Promise<Fixture | null> {
  if (setupError) throw setupError; // uvu swallows errors of before(): surface them in every test
  if (!fx && !(await needs(name, 'root', 'tun', 'qemu', 'cc'))) return null;
  assert.ok(fx, 'fixture missing although its prerequisites are met');
  return fx;
}

e2e.before(async () => {
  try {
    await setUp();
  } catch (err) {
    setupError = err;
  }
});

/** Undo steps of the fixture, registered as each piece starts, so a half-built one is cleaned too. */
const cleanups: (() => unknown)[] = [];

async function setUp() {
  if (!(await needs('agent end to end (fixture)', 'root', 'tun', 'qemu', 'cc'))) return;
  const tapQ = createTap(uniqueTapName());
  cleanups.push(() => deleteTap(tapQ));
  const tapC = createTap(uniqueTapName());
  cleanups.push(() => deleteTap(tapC));
  const dir = mkdtempSync(join(tmpdir(), 'vpt-e2e-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, `cv-e2e-${process.pid}`));
  // Two ids sharing a prefix (the ambiguous case) and differing after it.
  const stem = `5eed${hex(2)}-`;
  const uuidA = `${stem}aaaa-4000-8000-${hex(6)}`;
  const uuidB = `${stem}bbbb-4000-8000-${hex(6)}`;
  const qa = await startQemu({ name: `qa-${process.pid}`, uuid: uuidA, smp: 2, memMiB: 256, tap: tapQ, running: true });
  cleanups.push(() => qa.stop());
  const qb = await startQemu({ name: `qb-${process.pid}`, uuid: uuidB, smp: 1, memMiB: 128 });
  cleanups.push(() => qb.stop());
  const cv = await startStandin({
    kind: 'crosvm',
    argv: ['run', '--cpus', '2', '--mem', '512', '--socket', `${dir}/cv-e2e-${process.pid}/crosvm.sock`, '--net', `tap-name=${tapC}`, '/boot/vmlinux'],
    threads: 2,
    taps: [tapC],
    txTotal: 54_321,
    txBytesPerSec: 1_000_000,
  });
  cleanups.push(() => cv.stop());
  await waitWritersDone(cv);
  const agent = await startAgentProcess({ VMPULSE_SAMPLE_INTERVAL_MS: '500', VMPULSE_WINDOW_SECONDS: '2', VMPULSE_DISCOVERY_INTERVAL_MS: '1000' });
  cleanups.push(() => agent.stop());
  fx = { qa, qb, cv, tapQ, tapC, dir, uuidA, uuidB, agent };
}

e2e.after(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
  fx = null;
});

e2e('GET /instances lists the real VMs with identity, hypervisor, allocation and TAPs', async () => {
  const fx = await fixture('GET /instances on a real agent');
  if (!fx) return;
  const { body } = await waitFor(async () => {
    const r = await getJson(`${fx!.agent.url}/instances`);
    const list = r.body as unknown as { instance_id: string }[];
    return [fx!.uuidA, fx!.uuidB, `cv-e2e-${process.pid}`].every((id) => list.some((i) => i.instance_id === id)) ? r : null;
  }, 15_000, 'all three VMs listed');
  const list = body as unknown as Record<string, unknown>[];
  const a = list.find((i) => i.instance_id === fx!.uuidA)!;
  assert.is(a.instance_name, `qa-${process.pid}`);
  assert.is(a.hypervisor, 'qemu');
  assert.is(a.pid, fx.qa.pid);
  assert.is(a.allocated_vcpus, 2);
  assert.is(a.allocated_memory_bytes, 268435456);
  assert.equal(a.tap_devices, [fx.tapQ]);
  assert.is(a.state, 'running');
  const c = list.find((i) => i.instance_id === `cv-e2e-${process.pid}`)!;
  assert.is(c.hypervisor, 'crosvm');
  assert.is(c.allocated_vcpus, 2);
  assert.is(c.allocated_memory_bytes, 512 * 1048576);
});

e2e('GET /instances/{id}/stats: the seed InstanceStats, fresh, equal to the kernel; by id, name, prefix; 404 and 409', async () => {
  const fx = await fixture('InstanceStats on a real agent');
  if (!fx) return;
  const url = fx.agent.url;
  const before = cpuTicks(fx.qa.pid);
  const r = await getJson(`${url}/instances/${fx.uuidA}/stats`);
  const after = cpuTicks(fx.qa.pid);
  assert.is(r.status, 200);
  checkInstanceStatsShape(r.body, 268435456);
  const tick = 1 / clockTicks();
  // Read at request time: between the kernel's values just before and after the request.
  assert.ok(r.body.cpu_seconds >= before * tick - 1e-9 && r.body.cpu_seconds <= after * tick + 1e-9, `${r.body.cpu_seconds} in [${before * tick}, ${after * tick}]`);
  assert.is(r.body.instance_name, `qa-${process.pid}`);
  assert.is(r.body.allocated_vcpus, 2);
  assert.is(r.body.memory_utilization_ratio, r.body.memory_rss_bytes / 268435456);

  // The stand-in's TAP: every byte, swapped to the VM's view.
  const pushed = await sendFramesToTap(fx.tapC, 5, 700);
  await waitFor(async () => (await fx!.cv.status()).taps[0]!.read_bytes === pushed, 5000, 'frames read');
  const k = tapCounters(fx.tapC);
  const c = await getJson(`${url}/instances/cv-e2e-${process.pid}/stats`);
  checkInstanceStatsShape(c.body, 512 * 1048576);
  assert.is(c.body.network_tx_bytes, 54_321);
  assert.is(c.body.network_tx_bytes, k.rx_bytes);
  assert.is(c.body.network_rx_bytes, k.tx_bytes);
  assert.ok(c.body.network_rx_bytes >= pushed);

  const byName = await getJson(`${url}/instances/qb-${process.pid}/stats`);
  assert.is(byName.status, 200);
  assert.is(byName.body.instance_id, fx.uuidB);
  const byPrefix = await getJson(`${url}/instances/${fx.uuidB.slice(0, 13)}/stats`);
  assert.is(byPrefix.status, 200);
  assert.is(byPrefix.body.instance_id, fx.uuidB);
  const ambiguous = await getJson(`${url}/instances/${fx.uuidA.slice(0, 9)}/stats`);
  assert.is(ambiguous.status, 409);
  assert.is(ambiguous.body.code, 'ambiguous');
  assert.type(ambiguous.body.message, 'string');
  const unknown = await getJson(`${url}/instances/no-such-vm-${hex(4)}/stats`);
  assert.is(unknown.status, 404);
  assert.is(unknown.body.code, 'not_found');
});

e2e('detail and history: Nomad-style usage with the vCPU threads, then HetrixTools-style windows', async () => {
  const fx = await fixture('detail on a real agent');
  if (!fx) return;
  const url = fx.agent.url;
  // Rates need two of the agent's reads; until then Measured is honestly empty.
  const d = await waitFor(async () => {
    const r = await getJson(`${url}/instances/${fx.uuidA}/stats/detail`);
    assert.is(r.status, 200);
    return r.body.ResourceUsage.CpuStats.Measured.includes('Percent') ? r : null;
  }, 40_000, 'CPU rates measured');
  const cpu = d.body.ResourceUsage.CpuStats;
  assert.ok(cpu.Measured.includes('Percent') && cpu.Measured.includes('User Mode') && cpu.Measured.includes('System Mode'));
  assert.ok(Math.abs(cpu.Percent - (cpu.UserMode + cpu.SystemMode)) < 1e-6);
  const threads = Object.values(d.body.Threads as Record<string, { Name: string; Vcpu: boolean }>);
  const vcpus = threads.filter((t) => t.Vcpu).map((t) => t.Name).sort();
  assert.equal(vcpus, fx.qa.vcpuTids.map((_, i) => `CPU ${i}/${fx!.qa.accel}`).sort());
  assert.ok(threads.some((t) => !t.Vcpu), 'the other threads too');
  assert.ok(Number.isSafeInteger(d.body.Timestamp) || d.body.Timestamp > 1e18);
  assert.ok(d.body.ResourceUsage.MemoryStats.RSS > 0);
  // The VM's one TAP, with its rates over the same interval (made when the detail asks for them).
  const ifs = d.body.Network.Interfaces as Record<string, Record<string, number>>;
  assert.equal(Object.keys(ifs), [fx.tapQ]);
  assert.equal(Object.keys(ifs[fx.tapQ]!).length, 8);
  for (const [k, v] of Object.entries(ifs[fx.tapQ]!)) assert.ok(Number.isFinite(v) && v >= 0, `${k} ${v}`);
  const h = await waitFor(async () => {
    const r = await getJson(`${url}/instances/${fx!.uuidA}/history`);
    return r.body.Stats?.length >= 2 ? r : null;
  }, 10_000, 'two windows of history');
  const rows = h.body.Stats as { Minute: number; Samples: number; CPU: number | null }[];
  assert.ok(rows[0]!.Minute > rows[1]!.Minute, 'newest first');
  assert.is(rows[0]!.Minute % 2, 0, 'aligned to the 2 s window');
  assert.ok(rows[0]!.Samples >= 1 && rows[0]!.Samples <= 4);
});

e2e('GET /metrics from the real agent passes promtool and carries the seed metrics of each VM', async () => {
  const fx = await fixture('metrics on a real agent');
  if (!fx) return;
  if (!(await needs('promtool on the real agent', 'promtool'))) return;
  const text = await (await fetch(`${fx.agent.url}/metrics`)).text();
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  const { types, samples } = parseExposition(text);
  for (const [name, type] of HYPEMAN_METRICS) {
    assert.is(types.get(name), type, name);
    const s = findSamples(samples, name, { instance_id: fx.uuidA });
    assert.is(s.length, 1, `${name} for the QEMU VM`);
    assert.equal(Object.keys(s[0]!.labels).sort(), ['instance_id', 'instance_name']);
  }
  assert.is(findSamples(samples, 'hypeman_vm_allocated_vcpus', { instance_id: fx.uuidA })[0]!.value, 2);
  assert.is(findSamples(samples, 'hypeman_vm_allocated_memory_bytes', { instance_id: fx.uuidA })[0]!.value, 268435456);
  assert.is(findSamples(samples, 'vmpulse_vm_info', { instance_id: fx.uuidA, hypervisor: 'qemu' }).length, 1);
  assert.ok(findSamples(samples, 'vmpulse_agent_ticks_total')[0]!.value >= 1);
});

e2e('a real Prometheus scrapes the agent: rate(hypeman_vm_cpu_seconds_total[30s]) for the QEMU VM', async () => {
  const fx = await fixture('Prometheus on a real agent');
  if (!fx) return;
  if (!(await needs('Prometheus scraping the real agent', 'prometheus'))) return;
  // The kernel's CPU time of the QEMU process now; then two more agent ticks, so that the sample
  // any later scrape gets was read after this.
  const tick = 1 / clockTicks();
  const before = cpuTicks(fx.qa.pid) * tick;
  const ticks = async () => findSamples(parseExposition(await (await fetch(`${fx!.agent.url}/metrics`)).text()).samples, 'vmpulse_agent_ticks_total')[0]!.value;
  const t0 = await ticks();
  await waitFor(async () => (await ticks()) >= t0 + 2, 10_000, 'two agent ticks', 100);
  const prom = await startPrometheus(new URL(fx.agent.url).host);
  try {
    // The scraped counter is the kernel's value at the agent's read: between the two reads here.
    // (How much CPU the guest uses is the firmware's business, and under KVM a guest's own time
    // may not show in the QEMU process's utime at all, so the value, not its growth, is checked.)
    const counter = await waitFor(async () => {
      const r = await prom.query(`hypeman_vm_cpu_seconds_total{instance_id="${fx!.uuidA}"}`);
      return r.length === 1 ? r : null;
    }, 45_000, 'Prometheus holding the CPU counter', 500);
    const after = cpuTicks(fx.qa.pid) * tick;
    const c = Number(counter[0]!.value[1]);
    assert.ok(c >= before - 1e-9 && c <= after + 1e-9, `scraped ${c} s not in [${before}, ${after}]`);
    const q = `rate(hypeman_vm_cpu_seconds_total{instance_id="${fx.uuidA}"}[30s])`;
    // Two scrapes in the range are enough for rate() to answer.
    const result = await waitFor(async () => {
      const r = await prom.query(q);
      return r.length === 1 ? r : null;
    }, 45_000, `Prometheus answering ${q}`, 1000);
    assert.is(result[0]!.metric.instance_name, `qa-${process.pid}`);
    const v = Number(result[0]!.value[1]);
    const rateBound = cpus().length;
    assert.ok(Number.isFinite(v) && v >= 0 && v <= rateBound, `rate ${v}: a CPU rate of one process on ${rateBound} cores`);
  } finally {
    await prom.stop();
  }
});

e2e.run();

const ship = suite('agent shipping end to end');

ship('receiver down for several windows and the agent killed -9 meanwhile: after a restart every window arrives, once after dedup', async () => {
  if (!(await needs('agent kill -9 shipping', 'root'))) return;
  const spool = mkdtempSync(join(tmpdir(), 'vpt-spool-'));
  const receiver = await Receiver.start({ token: 'e2e-token' });
  const env = {
    VMPULSE_SAMPLE_INTERVAL_MS: '500',
    VMPULSE_WINDOW_SECONDS: '1',
    VMPULSE_ENDPOINT: receiver.url,
    VMPULSE_TOKEN: 'e2e-token',
    VMPULSE_SPOOL_DIR: spool,
    VMPULSE_AGENT_ID: `e2e-${process.pid}`,
    VMPULSE_SHIP_BACKOFF_INITIAL_MS: '100',
    VMPULSE_SHIP_BACKOFF_MAX_MS: '400',
    VMPULSE_SHIP_FAILBACK_MS: '200',
  };
  let agent: AgentProcess | null = null;
  try {
    agent = await startAgentProcess(env);
    await waitFor(() => receiver.unique.size >= 2, 15_000, 'first windows delivered');
    /** Every record in the spool's segments: what is durable now. */
    const onDisk = (): Set<string> => {
      const ids = new Set<string>();
      for (const f of readdirSync(spool).filter((n) => n.endsWith('.seg'))) {
        const buf = readFileSync(join(spool, f));
        for (const fr of scanSegment(buf).frames) {
          const meta = peekMeta(buf.subarray(fr.offset + HEADER_BYTES, fr.offset + HEADER_BYTES + fr.length));
          if (meta) ids.add(meta.batchId);
        }
      }
      return ids;
    };
    await receiver.down();
    // Windows close and are spooled while nobody answers.
    await waitFor(() => [...onDisk()].filter((id) => !receiver.unique.has(id)).length >= 2, 20_000, 'two undelivered windows on disk', 100);
    await agent.kill9();
    // What was durable at the moment of the kill.
    const spooled = onDisk();
    const undelivered = [...spooled].filter((id) => !receiver.unique.has(id));
    assert.ok(undelivered.length >= 2, `windows closed while the receiver was down are on disk: ${undelivered.length}`);
    await receiver.up();
    agent = await startAgentProcess(env);
    await waitFor(() => [...spooled].every((id) => receiver.unique.has(id)), 20_000, 'the batches on disk at the kill to arrive', 100);
    await agent.stop('SIGTERM');
    agent = null;
    // Every batch that was on disk when the agent was killed arrived after the restart.
    for (const id of spooled) assert.ok(receiver.unique.has(id), `spooled batch ${id} lost`);
    const minutes = [...receiver.unique.values()].flatMap((p) => p.Stats.map((s) => s.Minute)).sort((a, b) => a - b);
    const gaps = minutes.slice(1).filter((m, i) => m - minutes[i]! > 1).length;
    // Each window once (after dedup), each payload valid against the schema and from this agent.
    assert.is(new Set(minutes).size, minutes.length, 'no window twice under two BatchIDs');
    for (const p of receiver.unique.values()) {
      assert.is(schemaErrors(p), '');
      assert.is(p.AgentID, `e2e-${process.pid}`);
    }
    assert.equal(receiver.problems, []);
    // Nothing acknowledged is kept: after a clean stop with the receiver up the spool is empty.
    assert.equal(readdirSync(spool).filter((f) => f.endsWith('.seg')), []);
    process.stdout.write(
      `\n  agent kill -9: ${spooled.size} batches on disk at the kill, ${receiver.unique.size} delivered, ${receiver.duplicates} duplicates before dedup, 0 lost; ${gaps} gaps in the windows (the agent was down or had no tick)\n`,
    );
  } finally {
    await agent?.stop();
    await receiver.close();
    rmSync(spool, { recursive: true, force: true });
  }
});

ship.run();
