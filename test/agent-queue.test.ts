// The agent's tick schedule and the queue between sampling and the outbox: a tick that runs past
// the next boundary makes that boundary's tick counted (not silently lost), and a consumer that
// falls behind holds sampling back (counted) without a window being dropped.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, type WindowReport } from '../src/agent/agent.js';
import { TickScheduler } from '../src/agent/scheduler.js';
import { ReportQueue } from '../src/agent/report-queue.js';
import { systemConstants } from '../src/readers/system.js';
import { needs } from './helpers/needs.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { waitFor, within } from './helpers/procs.js';

const log = pino({ level: 'silent' });

const s = suite('agent tick schedule and report queue');

s('a tick slower than the interval: the boundaries it runs over are counted as overrun, never run concurrently', async () => {
  const interval = 50;
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const started: number[] = [];
  const overrun: number[] = [];
  let running = 0;
  let maxRunning = 0;
  const sched = new TickScheduler({
    intervalMs: interval,
    tick: async (nominal) => {
      started.push(nominal);
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (started.length === 1) await gate; // the first tick is slow for real: it waits
      running--;
    },
    overrun: (nominal) => overrun.push(nominal),
  });
  sched.start();
  try {
    await waitFor(() => overrun.length >= 3, 5000, 'three boundaries passed during the slow tick');
    open();
    await waitFor(() => started.length >= 3, 5000, 'ticks again after the slow one');
  } finally {
    await sched.stop();
  }
  assert.is(sched.overruns, overrun.length, 'every boundary passed is counted once');
  assert.is(maxRunning, 1, 'ticks never overlap');
  // The counted boundaries follow the slow tick's own, one interval apart, and none of them ran.
  for (const [i, n] of overrun.entries()) {
    assert.is(n % interval, 0);
    if (i > 0) assert.ok(n > overrun[i - 1]!, 'boundaries in order');
    assert.ok(!started.includes(n), `boundary ${n} was not ticked`);
  }
  assert.ok(overrun[0]! > started[0]!, 'the first counted boundary is after the slow tick began');
  assert.is(overrun.length, overrun.filter((n) => n < started[1]!).length, 'every counted boundary came before the next tick ran');
});

s('timers that fire before the wall clock reaches the boundary: each boundary ticks once', async () => {
  // Node's timers run on the monotonic clock; Date.now() can read a few ms behind when one fires.
  // A clock that reads 7 ms behind every other time does that at every boundary.
  const interval = 20;
  const seen: number[] = [];
  let reads = 0;
  const now = () => Date.now() - (reads++ % 2 === 1 ? 7 : 0);
  const sched = new TickScheduler({ intervalMs: interval, tick: async (n) => void seen.push(n), now });
  sched.start();
  try {
    await waitFor(() => seen.length >= 6, 5000, 'six ticks');
  } finally {
    await sched.stop();
  }
  assert.equal(seen.length, new Set(seen).size, `no boundary ticked twice: ${seen.join(',')}`);
  for (let i = 1; i < seen.length; i++) assert.is(seen[i]! - seen[i - 1]!, interval, 'consecutive boundaries');
});

s('a full report queue makes push wait (counted), then delivers every report in order', async () => {
  const got: number[] = [];
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  const q = new ReportQueue(2, (err) => {
    throw err;
  });
  q.onReport(async (r) => {
    got.push(r.window.startMs);
    if (r.window.startMs === 0) await gate;
  });
  const report = (startMs: number) => ({ window: { startMs } }) as unknown as WindowReport;
  await q.push(report(0)); // being consumed, held at the gate
  await q.push(report(1)); // room for one more
  let thirdIn = false;
  const third = q.push(report(2)).then(() => (thirdIn = true));
  await Promise.resolve();
  assert.is(q.stats().queued, 2);
  assert.is(q.stats().fullWaits, 1, 'the push that found the queue full is counted');
  assert.is(thirdIn, false, 'and waits for room');
  open();
  await within(third, 2000, 'the waiting push');
  await within(q.idle(), 2000, 'the queue to drain');
  assert.equal(got, [0, 1, 2], 'nothing dropped, oldest first');
  assert.equal(q.stats(), { queued: 0, capacity: 2, delivered: 3, fullWaits: 1 });
});

s('an outbox that falls behind holds sampling back: overrun ticks are counted as Missed, no window is lost', async () => {
  if (!(await needs('agent back-pressure', 'root', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-queue-'));
  mkdirSync(join(dir, 'slow-1'));
  let st: Standin | undefined;
  const agent = new Agent(
    { procRoot: '/proc', sysRoot: '/sys', intervalMs: 100, windowSeconds: 1, discoveryIntervalMs: 60_000, workers: 1, apiTimeoutMs: 300 },
    systemConstants(),
    log,
    undefined,
    { reportQueueCapacity: 1 },
  );
  const reports: WindowReport[] = [];
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => (open = r));
  try {
    st = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '32', '--socket', `${dir}/slow-1/c.sock`, '/k'], threads: 1 });
    // The first report's consumer is stuck (a disk that does not answer): the next tick finds the
    // queue full and waits, and the boundaries that pass meanwhile are overrun.
    agent.onWindow(async (r) => {
      reports.push(r);
      if (reports.length === 1) await gate;
    });
    await agent.start();
    const key = agent.instances().find((i) => i.vm.pid === st!.pid)?.vm.key;
    assert.ok(key, 'the stand-in is discovered before the first tick');
    await waitFor(() => agent.health().overrunTicks >= 15, 20_000, 'ticks overrun while the consumer is stuck');
    assert.is(agent.health().reportQueue.fullWaits, 1, 'one tick waits for room');
    assert.is(reports.length, 1, 'nothing more was consumed');
    open();
    await waitFor(() => reports.length >= 4, 20_000, 'reports flowing again');
    const overrunAtStop = agent.health().overrunTicks;
    await agent.stop();
    assert.is(agent.health().overrunTicks, overrunAtStop);
    // Every window reached the consumer: one record a second, none missing.
    const starts = reports.flatMap((r) => r.windows.map((w) => w.startMs));
    for (let i = 1; i < starts.length; i++) assert.is(starts[i]! - starts[i - 1]!, 1000, `window after ${starts[i - 1]}`);
    // Each boundary not ticked is a Missed tick of the running VM, in the windows handed on.
    let missed = 0;
    for (const r of reports) for (const w of r.windows) missed += w.instances.get(key!)?.missed ?? 0;
    assert.is(missed, overrunAtStop, 'Missed counts every overrun tick');
    // The checkpoint of a report holds the readings as they were at its close, not the agent's
    // current ones: the stuck report's readings precede everything read after it.
    const first = reports[0]!.readings.find((x) => x.key === key)!;
    assert.ok(first, 'the first report carries the VM reading');
    assert.ok(first.sample.tMs < reports[1]!.readings.find((x) => x.key === key)!.sample.tMs, 'each report has its own readings');
  } finally {
    open();
    await agent.stop();
    await st?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
