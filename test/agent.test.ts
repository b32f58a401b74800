// The agent's sampling path against ground truth: real stand-in processes burning CPU and writing
// into real TAPs, windows of a few seconds, VMs coming and going, a sampler worker killed mid-tick.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, type WindowReport } from '../src/agent/agent.js';
import { hostWindow, instanceWindow } from '../src/agent/wire-window.js';
import type { InstanceWindow } from '../src/ship/payload.js';
import type { AgentConfig } from '../src/agent/config.js';
import { systemConstants } from '../src/readers/system.js';
import { needs } from './helpers/needs.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { createTap, deleteTap, uniqueTapName } from './helpers/tap.js';
import { fdCount, sleep, waitFor } from './helpers/procs.js';

const log = pino({ level: 'silent' });

type InstanceWin = InstanceWindow;

function config(over: Partial<AgentConfig> = {}): AgentConfig {
  return { procRoot: '/proc', sysRoot: '/sys', intervalMs: 500, windowSeconds: 3, discoveryIntervalMs: 1000, workers: 2, apiTimeoutMs: 300, ...over };
}

/** Runs an agent and records every window it hands on. */
async function withAgent<T>(cfg: AgentConfig, fn: (agent: Agent, reports: WindowReport[]) => Promise<T>): Promise<T> {
  const agent = new Agent(cfg, systemConstants(), log);
  const reports: WindowReport[] = [];
  agent.onWindow((r) => void reports.push(r));
  await agent.start();
  try {
    return await fn(agent, reports);
  } finally {
    await agent.stop();
  }
}

/**
 * The first window that started after `afterMs` and holds `key` with a full set of ticks, plus the
 * VM's raw reads that bound it (the last read of the window before and of this one): the kernel's
 * own counters at the agent's own read instants, the ground truth for the window's figures.
 */
async function fullWindowOf(reports: WindowReport[], key: string, afterMs: number, cfg: AgentConfig, timeoutMs = 20_000) {
  const ticks = (cfg.windowSeconds * 1000) / cfg.intervalMs;
  const i = await waitFor(
    () => {
      const j = reports.findIndex((r, n) => n > 0 && r.window.startMs >= afterMs && (r.window.instances.get(key)?.samples ?? 0) >= ticks);
      return j > 0 ? j : null;
    },
    timeoutMs,
    `a full window for ${key}`,
    50,
  );
  const before = reports[i - 1]!.vms.get(key)?.latest;
  const end = reports[i]!.vms.get(key)?.latest;
  assert.ok(before && end, 'bounding reads');
  return { w: instanceWindow(reports[i]!.window.instances.get(key)!), host: hostWindow(reports[i]!.window.host), before: before!, end: end!, seconds: (end!.tMs - before!.tMs) / 1000 };
}

const s = suite('agent sampling');

s('a thread burning one core reads as ~100 % of one core and 50 % of 2 allocated vCPUs', async () => {
  if (!(await needs('agent CPU ground truth', 'root', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-agent-'));
  mkdirSync(join(dir, 'burn-1'));
  let st: Standin | undefined;
  try {
    st = await startStandin({ kind: 'cloud-hypervisor', argv: ['--api-socket', `path=${dir}/burn-1/api.sock`, '--cpus', 'boot=2', '--memory', 'size=128M'], threads: 2, burn: [0] });
    const cfg = config();
    await withAgent(cfg, async (agent, reports) => {
      const key = await waitFor(() => agent.instances().find((i) => i.vm.pid === st!.pid)?.vm.key, 10_000, 'discovery of the stand-in');
      const { w, host, before, end, seconds } = await fullWindowOf(reports, key, Date.now(), cfg);
      assert.ok(w.CPUCore, 'CPUCore measured');
      // The kernel's utime+stime between the two reads that bound the window.
      const kernelPct = ((end.utimeTicks + end.stimeTicks - before.utimeTicks - before.stimeTicks) / systemConstants().clockTicksPerSecond / seconds) * 100;
      assert.ok(Math.abs(w.CPUCore!.Avg - kernelPct) <= 2, `CPUCore avg ${w.CPUCore!.Avg} vs kernel ${kernelPct}`);
      assert.ok(Math.abs(w.CPU!.Avg - w.CPUCore!.Avg / 2) < 1e-9, `CPU ${w.CPU!.Avg} is half of CPUCore`);
      // A busy loop is always runnable: every moment of the window it ran, waited in the runqueue,
      // or was taken by the hypervisor under this machine (the host's steal, which accrues only on
      // CPUs that want to run, so its whole share — × CPUs — falls on the busy one). vCPU 0 of 2
      // burns, so run + wait of the vCPU threads is at most half their wall time, and with the
      // host's steal at least about half.
      const hostSteal = (host.Steal?.Avg ?? 0) * cpus().length;
      assert.ok(w.VcpuBusy!.Avg + w.Steal!.Avg <= 52, `VcpuBusy ${w.VcpuBusy!.Avg} + Steal ${w.Steal!.Avg}`);
      assert.ok(w.VcpuBusy!.Avg + w.Steal!.Avg + hostSteal / 2 >= 45, `VcpuBusy ${w.VcpuBusy!.Avg} + Steal ${w.Steal!.Avg} + host steal ${hostSteal}/2`);
      if (w.Steal!.Avg < 2.5) {
        // Uncontended here: the thread had its core, ~100 % of one core, less the host's steal.
        assert.ok(w.CPUCore!.Avg <= 102 && w.CPUCore!.Avg + hostSteal >= 95, `CPUCore avg ${w.CPUCore!.Avg}, host steal ${hostSteal} % of a core`);
        assert.ok(w.VcpuBusy!.Avg <= 51 && w.VcpuBusy!.Avg + hostSteal / 2 >= 45, `VcpuBusy ${w.VcpuBusy!.Avg}`);
      } else {
        process.stdout.write(`\n  the host was contended: the burning vCPU waited ${(2 * w.Steal!.Avg).toFixed(1)} % of the window (steal), and the agent shows it\n`);
      }
      assert.is(w.CPUCore!.Count, w.Samples, 'every tick of a full window has a rate');
      assert.is(w.Missed, 0);
      assert.is(w.MemoryUtilization!.Count, w.Samples);
    });
  } finally {
    await st?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s('a VM writing K bytes per second into its TAP shows K × window seconds within 1 %', async () => {
  if (!(await needs('agent network ground truth', 'root', 'tun', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  const dir = mkdtempSync(join(tmpdir(), 'vpt-agent-'));
  mkdirSync(join(dir, 'net-1'));
  let st: Standin | undefined;
  try {
    const K = 250_000;
    st = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '64', '--socket', `${dir}/net-1/c.sock`, '--net', `tap-name=${tap}`, '/k'], threads: 1, taps: [tap], txBytesPerSec: K });
    // 10 s windows: the stand-in paces its writes by the wall clock and catches up after a stall
    // in bursts; over a longer window those average out of the 1 % bound.
    const cfg = config({ intervalMs: 1000, windowSeconds: 10 });
    await withAgent(cfg, async (agent, reports) => {
      const key = await waitFor(() => agent.instances().find((i) => i.vm.pid === st!.pid)?.vm.key, 10_000, 'discovery');
      const { w, before, end, seconds } = await fullWindowOf(reports, key, Date.now(), cfg, 40_000);
      // Byte-exact: the window holds exactly what the TAP counted between its bounding reads.
      assert.is(w.NetOut, end.taps[0]!.rxBytes - before.taps[0]!.rxBytes);
      // And that is K per second of the time it covers, within 1 %.
      const expected = K * seconds;
      assert.ok(Math.abs(w.NetOut! - expected) / expected <= 0.01, `NetOut ${w.NetOut} over ${seconds} s vs ${expected}`);
      assert.is(w.NetIn, 0, 'nothing was sent to the VM');
      assert.ok(Math.abs(w.NetOutPackets! - expected / 1000) <= expected / 1000 / 100 + 1, `packets ${w.NetOutPackets}`);
    });
  } finally {
    await st?.stop();
    deleteTap(tap);
    rmSync(dir, { recursive: true, force: true });
  }
});

s('200 stand-ins coming and going while ticks run: no fd leak, vanished VMs close their windows', async () => {
  if (!(await needs('agent churn', 'root', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-churn-'));
  const running: Standin[] = [];
  const start = async (i: number) => {
    mkdirSync(join(dir, `churn-${i}`));
    const st = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '32', '--socket', `${dir}/churn-${i}/c.sock`, '/k'], threads: 1 });
    running.push(st);
  };
  try {
    const fdsBefore = fdCount();
    // One worker per 80 VMs, at most 3: the pool starts with one and grows while the 200 arrive.
    const cfg = config({ intervalMs: 250, windowSeconds: 1, discoveryIntervalMs: 300, workers: 3, vmsPerWorker: 80 });
    let goneKeys: string[] = [];
    let goneAt = 0;
    await withAgent(cfg, async (agent, reports) => {
      const othersAtStart = agent.instances().length;
      if (othersAtStart <= 80) assert.is(agent.samplerPool.size, 1, `${othersAtStart} VMs at start`);
      for (let i = 0; i < 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => start(i + j)));
      const mine = () => new Set(running.map((r) => r.pid));
      await waitFor(() => agent.instances().filter((v) => mine().has(v.vm.pid) && v.latest).length === 200, 30_000, 'all 200 sampled', 100);
      const sizes = agent.samplerPool.shardSizes();
      assert.is(sizes.length, 3);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced shards ${sizes}`);
      // Half of them go away while ticks run.
      const leaving = running.splice(0, 100);
      goneKeys = agent.instances().filter((v) => leaving.some((l) => l.pid === v.vm.pid)).map((v) => v.vm.key);
      assert.is(goneKeys.length, 100);
      await Promise.all(leaving.map((l) => l.stop()));
      goneAt = Date.now();
      await waitFor(() => agent.instances().filter((v) => goneKeys.includes(v.vm.key)).length === 0, 15_000, 'gone VMs dropped after their window', 100);
      const after = agent.samplerPool.shardSizes();
      const ourPids = new Set(running.map((r) => r.pid));
      assert.is(agent.instances().filter((v) => ourPids.has(v.vm.pid)).length, 100);
      assert.ok(Math.max(...after) - Math.min(...after) <= 1, `rebalanced ${after}`);
      // Each vanished VM: windows with its true sample counts while it lived, and one last window
      // recording its end (Running false), holding only the ticks it was still alive for
      // (a partial window), none counted as missed; nothing after that.
      const overruns = agent.health().overrunTicks;
      for (const key of goneKeys) {
        const mine = reports.filter((r) => r.window.instances.has(key));
        assert.ok(mine.length >= 1, `${key} had windows`);
        const last = mine[mine.length - 1]!;
        const lived = mine.slice(0, -1);
        assert.is(last.vms.get(key)!.running, false, `${key}: its last window says it ended`);
        const lw = last.window.instances.get(key)!;
        assert.ok(lw.samples + lw.missed < 4, 'a partial window at most');
        // No tick after its end counts as missed. A tick the agent could not run at all (its
        // boundary passed while the previous tick still ran: an overrun, under load) is Missed for
        // the VMs the next tick still found running, so only overrun ticks can be Missed here.
        assert.ok(lw.missed <= overruns, `${key}: Missed ${lw.missed}, overrun ticks ${overruns}`);
        assert.ok(last.window.startMs <= goneAt + 1000, `${key}: recorded in the window it left in`);
        for (const r of lived) {
          assert.is(r.vms.get(key)!.running, true);
          // Every tick of a window it lived through was run (a sample) or overrun (Missed).
          const w = r.window.instances.get(key)!;
          assert.ok(w.samples + w.missed >= 1);
          assert.ok(w.samples + w.missed <= 4);
          assert.ok(w.missed <= overruns, `${key}: Missed ${w.missed}, overrun ticks ${overruns}`);
        }
        assert.ok(reports.at(-1)!.window.startMs >= last.window.startMs);
      }
    });
    // The agent closed every fd it opened: pools, kept files, sockets. (The test's own pipes to
    // the stand-ins go with them.)
    await Promise.all(running.splice(0).map((r) => r.stop()));
    await waitFor(() => fdCount() <= fdsBefore + 2, 5000, `the fds to close (before ${fdsBefore})`).catch(() => undefined);
    assert.ok(fdCount() <= fdsBefore + 2, `fds before ${fdsBefore}, after ${fdCount()}`);
  } finally {
    await Promise.all(running.map((r) => r.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

s('a sampler worker killed mid-tick: the VMs of that tick are not sampled (not zero), the next tick is complete', async () => {
  if (!(await needs('worker crash', 'root', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-crash-'));
  const sts: Standin[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      mkdirSync(join(dir, `crash-${i}`));
      sts.push(await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '32', '--socket', `${dir}/crash-${i}/c.sock`, '/k'], threads: 1 }));
    }
    // A long interval: the test drives ticks itself.
    const cfg = config({ intervalMs: 60_000, windowSeconds: 60, discoveryIntervalMs: 60_000 });
    // The agent's own account of a lost tick is its warning; collect its warnings.
    const warnings: { failedShards?: number; notSampled?: number }[] = [];
    const warnLog = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const agent = new Agent(cfg, systemConstants(), warnLog);
    const reports: WindowReport[] = [];
    agent.onWindow((r) => void reports.push(r));
    await agent.start();
    try {
      const pool = agent.samplerPool;
      const first = await pool.tick();
      const ours = new Set(agent.instances().filter((v) => sts.some((x) => x.pid === v.vm.pid)).map((v) => v.vm.key));
      assert.is(ours.size, 6);
      for (const k of ours) assert.ok(first.samples.get(k)?.ok, `sampled ${k}`);
      // Kill shard 0's thread while a tick is in flight. The kill races the worker's quick read
      // (a tick whose read finished first is complete): repeat, a complete tick between, until
      // one is lost.
      const crashed = await waitFor(
        async () => {
          await pool.tick();
          const inflight = pool.tick();
          await pool.threadsOf(0)[0]!.terminate();
          const r = await inflight;
          return r.failedShards > 0 ? r : null;
        },
        20_000,
        'a pool tick that lost its shard 0 read',
        0,
      );
      const lost = [...crashed.notSampled];
      assert.is(crashed.failedShards, 1);
      assert.ok(lost.length > 0, 'the crashed shard had VMs');
      for (const k of lost) assert.not.ok(crashed.samples.has(k), 'no sample invented for a lost VM');
      const next = await pool.tick();
      assert.is(next.failedShards, 0);
      assert.is(next.notSampled.size, 0);
      for (const k of ours) assert.ok(next.samples.get(k)?.ok, `sampled again ${k}`);
      // Through the agent: the lost tick counts as Missed in the window, not as a zero sample.
      // Ticks into one future window T (no real tick lands there, and a closed window never
      // reopens, so a past one would take nothing): one, then pairs of a complete
      // tick and a tick with shard 0's worker killed while in flight, until one is lost (the kill
      // races the worker's quick read: a tick whose read finished first is complete), one more,
      // then a tick in the next window to close T. A tick counts for the interval before it, so T's ticks come at T+60 s on.
      // Rates need reads more than 50 ms apart (agent/rates.ts): each tick waits for that.
      const readsAged = () =>
        waitFor(() => agent.instances().every((v) => !ours.has(v.vm.key) || (v.latest !== null && Date.now() - v.latest.tMs > 60)), 5000, 'the last reads to age');
      // The agent's own ticks come at minute boundaries (interval 60 s): start just after one, so
      // that none comes while the test ticks (it would land in the test's open window).
      if (Date.now() % 60_000 > 25_000) await sleep(60_000 - (Date.now() % 60_000) + 1500);
      const T = Math.floor(Date.now() / 60_000) * 60_000 + 10 * 60_000;
      // Only the lost ticks of what follows count (a tick of the agent's own may have met the
      // worker killed above).
      warnings.length = 0;
      let n = 0;
      // A VM the agent read before (a tick of its own) gets a CPU figure from the first test tick.
      const readBefore = new Set(agent.instances().filter((v) => ours.has(v.vm.key) && v.latest !== null).map((v) => v.vm.key));
      await agent.tickAt(T + 60_000 + n++ * 100);
      await waitFor(async () => {
        // A complete tick first: it runs on the worker that replaced the last one killed, so the
        // next kill finds that worker started and idle rather than still starting (a task queued
        // for a starting worker just moves to its replacement).
        await readsAged();
        await agent.tickAt(T + 60_000 + n++ * 100);
        await readsAged();
        const lostTick = agent.tickAt(T + 60_000 + n++ * 100);
        await pool.threadsOf(0)[0]!.terminate();
        await lostTick;
        return warnings.some((w) => (w.failedShards ?? 0) > 0);
      }, 20_000, 'a tick that lost its shard 0 read', 0);
      const lostWarnings = warnings.filter((w) => (w.failedShards ?? 0) > 0);
      assert.is(lostWarnings.length, 1);
      assert.ok(lostWarnings[0]!.notSampled! > 0);
      await readsAged();
      await agent.tickAt(T + 60_000 + n++ * 100);
      // Closes the window after T from outside it (this tick folds into the one after).
      await agent.tickAt(T + 180_000);
      // The first tick closes T (it ends at that tick's nominal time) and a closed window never
      // reopens: the later ticks fold into the next window. Sum both, from every report (one
      // report may hand on several windows).
      const inT = reports.flatMap((r) => r.windows).filter((w) => w.startMs === T || w.startMs === T + 60_000);
      assert.ok(inT.some((w) => w.startMs === T), 'window T was handed on');
      const sum = (key: string, pick: (w: InstanceWin) => number) => inT.reduce((a, w) => a + (w.instances.has(key) ? pick(instanceWindow(w.instances.get(key)!)) : 0), 0);
      // The agent sees every VM on this host (other test runs' too), spread over both shards:
      // what the killed worker lost is any key with a Missed tick; ours are checked exactly.
      const keys = new Set(inT.flatMap((w) => [...w.instances.keys()]));
      const lostInAgent = [...keys].filter((k) => sum(k, (w) => w.Missed) === 1);
      // (A VM of another run that ended before the lost tick was not expected, so not Missed.)
      assert.ok(lostInAgent.length >= 1 && lostInAgent.length <= lostWarnings[0]!.notSampled!, `${lostInAgent.length} Missed, ${lostWarnings[0]!.notSampled} not sampled`);
      for (const k of ours) {
        const missed = sum(k, (w) => w.Missed);
        const samples = sum(k, (w) => w.Samples);
        // A CPU figure needs two reads: the first tick gives none (unless the agent had read the
        // VM before), the lost tick none either.
        const cpuCount = sum(k, (w) => w.CPU?.Count ?? 0);
        const first = readBefore.has(k) ? 0 : 1;
        if (missed === 1) {
          assert.is(samples, n - 1, `${k}: ${n - 1} ticks read, one lost`);
          assert.is(cpuCount, n - 1 - first, `${k}: no CPU figure made up for the lost tick`);
        } else {
          assert.is(missed, 0, k);
          assert.is(samples, n, `${k}: ${n} ticks read`);
          assert.is(cpuCount, n - first, k);
        }
      }
    } finally {
      await agent.stop();
    }
  } finally {
    await Promise.all(sts.map((x) => x.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
