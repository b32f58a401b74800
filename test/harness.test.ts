// The test harness proved against the kernel: stand-ins look like the real hypervisors in /proc,
// their TAP traffic shows exactly in the TAP counters, their CPU burn is real CPU, and QEMU starts
// with its vCPU threads and TAP (by name, and by fd as libvirt does it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { needs } from './helpers/needs.js';
import { ccBinary, standinBinary } from './helpers/cc.js';
import { startStandin, vcpuName, waitWritersDone, type Standin, type StandinKind } from './helpers/standin.js';
import { createTap, deleteTap, sendFramesToTap, tapCounters, tapExists, uniqueTapName } from './helpers/tap.js';
import { startQemu, TAP_FD, type Qemu } from './helpers/qemu.js';
import {
  alive,
  cmdline,
  cpuSeconds,
  cpuTicks,
  exeOf,
  fdCount,
  hostStealSeconds,
  rssBytes,
  schedstat,
  sleep,
  startExitOnDemand,
  startOddComm,
  statComm,
  threadNames,
  tunFds,
  waitFor,
} from './helpers/procs.js';

function apiGet(socketPath: string, path: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers: { Accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('cc builds a helper once and caches it by source hash', async () => {
  if (!(await needs('cc cache', 'cc'))) return;
  const a = standinBinary();
  const mtime = statSync(a).mtimeMs;
  assert.is(ccBinary('standin.c'), a);
  assert.is(statSync(a).mtimeMs, mtime);
  assert.match(a, /vmpulse-cc-[0-9a-f]{16}\/standin$/);
});

test('uniqueTapName gives short, distinct vpt names', () => {
  const names = new Set(Array.from({ length: 50 }, () => uniqueTapName()));
  assert.is(names.size, 50);
  for (const n of names) {
    assert.ok(n.startsWith('vpt') && n.length <= 15, n);
  }
});

const realArgv: Record<StandinKind, (tap: string, dir: string) => string[]> = {
  'cloud-hypervisor': (tap, dir) => [
    '--api-socket', `path=${dir}/api.sock`,
    '--cpus', 'boot=3', '--memory', 'size=256M',
    '--kernel', '/var/lib/ch/vmlinux', '--net', `tap=${tap},mac=02:00:00:00:00:01`,
  ],
  firecracker: (_tap, dir) => ['--api-sock', `${dir}/firecracker.socket`, '--id', 'web-1'],
  crosvm: (tap, dir) => ['run', '--cpus', '3', '--mem', '256', '--socket', `${dir}/crosvm.sock`, '--tap-name', tap, '/boot/vmlinux'],
};

for (const kind of ['cloud-hypervisor', 'firecracker', 'crosvm'] as StandinKind[]) {
  test(`${kind} stand-in: exe name, argv, vCPU thread names and a held TAP, as /proc shows them`, async () => {
    if (!(await needs(`${kind} stand-in in /proc`, 'root', 'tun', 'cc'))) return;
    const tap = createTap(uniqueTapName());
    const dir = mkdtempSync(join(tmpdir(), 'vpt-argv-'));
    let s: Standin | undefined;
    try {
      const argv = realArgv[kind](tap, dir);
      s = await startStandin({ kind, argv, threads: 3, extraThreads: ['vmm'], taps: [tap] });
      assert.is(basename(exeOf(s.pid)), kind);
      assert.is(exeOf(s.pid), s.exePath);
      assert.equal(cmdline(s.pid), [s.exePath, ...argv]);
      assert.is(readFileSync(`/proc/${s.pid}/comm`, 'utf8').trimEnd(), kind.slice(0, 15));
      const names = threadNames(s.pid);
      for (let i = 0; i < 3; i++) assert.is(names.get(s.tids[i]), vcpuName(kind, i));
      assert.is(names.get(s.tids[3]), 'vmm');
      const fds = tunFds(s.pid);
      assert.equal([...fds.values()], [tap]);
      const fd = [...fds.keys()][0];
      assert.is(s.ready.taps[0].fd, fd);
      assert.match(readFileSync(`/proc/${s.pid}/fdinfo/${fd}`, 'utf8'), `iff:\t${tap}\n`);
      const sdir = s.dir;
      await s.stop();
      assert.not.ok(alive(s.pid));
      assert.not.ok(existsSync(sdir));
    } finally {
      await s?.stop();
      deleteTap(tap);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('bytes the stand-in writes into its TAPs show exactly as the TAPs rx_bytes', async () => {
  if (!(await needs('stand-in TAP writes', 'root', 'tun', 'cc'))) return;
  const taps = [createTap(uniqueTapName()), createTap(uniqueTapName())];
  let s: Standin | undefined;
  try {
    const before = taps.map(tapCounters);
    // 20 507 bytes: 20 frames of 1000 and a last one of 507, at 40 kB/s (about half a second).
    s = await startStandin({ kind: 'cloud-hypervisor', argv: ['--net', `tap=${taps[0]}`, '--net', `tap=${taps[1]}`], taps, txBytesPerSec: 40_000, txTotal: 20_507 });
    const st = await waitWritersDone(s);
    for (let i = 0; i < 2; i++) {
      const after = tapCounters(taps[i]);
      assert.is(st.taps[i].written_bytes, 20_507);
      assert.is(st.taps[i].written_frames, 21);
      assert.is(st.taps[i].write_errors, 0);
      assert.is(after.rx_bytes - before[i].rx_bytes, 20_507);
      assert.is(after.rx_packets - before[i].rx_packets, 21);
      assert.is(after.tx_bytes - before[i].tx_bytes, 0);
    }
  } finally {
    await s?.stop();
    taps.forEach(deleteTap);
  }
});

test('the paced writer never runs ahead of its rate and keeps writing', async () => {
  if (!(await needs('stand-in TAP rate', 'root', 'tun', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  let s: Standin | undefined;
  try {
    const rate = 100_000;
    const c0 = tapCounters(tap).rx_bytes;
    // The writer's clock starts after this instant, and it writes a frame only once the bytes so
    // far plus that frame are due: whatever the load, the count stays at or below rate × elapsed.
    const t0 = performance.now();
    s = await startStandin({ kind: 'firecracker', argv: ['--api-sock', '/tmp/none'], taps: [tap], txBytesPerSec: rate });
    const ahead = (): string | null => {
      const bytes = tapCounters(tap).rx_bytes - c0;
      const due = (rate * (performance.now() - t0)) / 1000;
      return bytes > due ? `${bytes} bytes after ${(performance.now() - t0).toFixed(0)} ms` : null;
    };
    let ran = ahead();
    await waitFor(() => {
      ran ??= ahead();
      return tapCounters(tap).rx_bytes - c0 >= 150_000;
    }, 20_000, '150 kB written');
    ran ??= ahead();
    assert.is(ran, null, 'the writer ran ahead of its rate');
  } finally {
    await s?.stop();
    deleteTap(tap);
  }
});

test('frames the host sends show as tx_bytes only once the stand-in has read them', async () => {
  if (!(await needs('host frames into TAP', 'root', 'tun', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  let s: Standin | undefined;
  try {
    s = await startStandin({ kind: 'crosvm', argv: ['run', '--tap-name', tap], taps: [tap], readPaused: true });
    const before = tapCounters(tap);
    // The frames are queued in the TAP when the sender returns; a count taken on queueing would
    // show now.
    assert.is(await sendFramesToTap(tap, 10, 1000), 10_000);
    const queued = tapCounters(tap);
    assert.is(queued.tx_bytes - before.tx_bytes, 0);
    assert.is((await s.status()).taps[0].read_bytes, 0);
    await s.setReading(true);
    const after = await waitFor(() => {
      const c = tapCounters(tap);
      return c.tx_bytes - before.tx_bytes === 10_000 ? c : undefined;
    }, 5000, 'tx_bytes to reach 10000');
    assert.is(after.tx_packets - before.tx_packets, 10);
    const st = await waitFor(async () => {
      const x = await s!.status();
      return x.taps[0].read_frames === 10 ? x : undefined;
    }, 5000, 'the stand-in to count 10 frames');
    assert.is(st.taps[0].read_bytes, 10_000);
    assert.is(after.rx_bytes - before.rx_bytes, 0);
  } finally {
    await s?.stop();
    deleteTap(tap);
  }
});

test('a TAP the stand-in creates itself is up, counts, and vanishes with it', async () => {
  if (!(await needs('stand-in-created TAP', 'root', 'tun', 'cc'))) return;
  const tap = uniqueTapName();
  let s: Standin | undefined;
  try {
    s = await startStandin({ kind: 'firecracker', argv: ['--api-sock', '/tmp/none'], taps: [tap], txTotal: 5000 });
    assert.ok(s.ready.taps[0].created);
    assert.ok(tapExists(tap));
    assert.match(readFileSync(`/sys/class/net/${tap}/operstate`, 'utf8'), /up|unknown/);
    await waitWritersDone(s);
    assert.is(tapCounters(tap).rx_bytes, 5000);
    await s.stop();
    await waitFor(() => !tapExists(tap), 5000, `${tap} to disappear`);
  } finally {
    await s?.stop();
    deleteTap(tap);
  }
});

test('a burning thread accumulates about 1 s of CPU per second in the kernel accounting', async () => {
  if (!(await needs('stand-in CPU burn', 'cc'))) return;
  let s: Standin | undefined;
  try {
    s = await startStandin({ kind: 'cloud-hypervisor', argv: ['--cpus', 'boot=2'], threads: 2, burn: [0] });
    const [burner, idle] = s.tids;
    const b0 = cpuSeconds(s.pid, burner);
    const i0 = cpuSeconds(s.pid, idle);
    const p0 = cpuSeconds(s.pid);
    const q0 = schedstat(s.pid, burner);
    const st0 = hostStealSeconds();
    const t0 = performance.now();
    await sleep(1500); // the measurement window
    const wall = (performance.now() - t0) / 1000;
    const burnt = (cpuSeconds(s.pid, burner) - b0) / wall;
    const q1 = schedstat(s.pid, burner);
    const stolen = (hostStealSeconds() - st0) / wall;
    const waited = (q1.waitS - q0.waitS) / wall;
    const ran = (q1.runS - q0.runS) / wall;
    // A burner is always running, waiting for a CPU (on a busy host: other test runs on 2 cores),
    // or robbed by the hypervisor under this machine (the host's steal, at most all of it).
    assert.ok(ran + waited < 1.1 && ran + waited + stolen > 0.9, `run+wait ${ran}+${waited}, host steal ${stolen}`);
    assert.ok(burnt + waited < 1.15 && burnt + waited + stolen > 0.85, `burning thread used ${burnt} s/s, waited ${waited} s/s, host steal ${stolen}`);
    if (waited < 0.05) assert.ok(burnt + stolen > 0.85, `burning thread used ${burnt} s/s on an idle host (steal ${stolen})`);
    assert.ok(cpuSeconds(s.pid, idle) - i0 <= 0.02, 'idle thread used CPU');
    const whole = (cpuSeconds(s.pid) - p0) / wall;
    assert.ok(Math.abs(whole - burnt) < 0.1, `process used ${whole} s/s, the burner ${burnt} s/s`);
  } finally {
    await s?.stop();
  }
});

test('VPT_BURN_DUTY=50 burns about half a CPU', async () => {
  if (!(await needs('stand-in CPU duty', 'cc'))) return;
  let s: Standin | undefined;
  try {
    s = await startStandin({ kind: 'crosvm', argv: ['run'], threads: 1, burn: 'all', burnDuty: 50 });
    const t = s.tids[0];
    const c0 = cpuSeconds(s.pid, t);
    const w0 = schedstat(s.pid, t).waitS;
    const st0 = hostStealSeconds();
    const t0 = performance.now();
    await sleep(1500); // the measurement window
    const wall = (performance.now() - t0) / 1000;
    const share = (cpuSeconds(s.pid, t) - c0) / wall;
    const waited = (schedstat(s.pid, t).waitS - w0) / wall;
    const stolen = (hostStealSeconds() - st0) / wall;
    // Busy phases are timed by the wall clock, so waiting for a CPU (or the hypervisor's steal)
    // shortens them, never lengthens.
    assert.ok(share < 0.65 && share + waited + stolen > 0.35, `duty 50 thread used ${share} s/s, waited ${waited} s/s, host steal ${stolen}`);
  } finally {
    await s?.stop();
  }
});

/** voluntary_ctxt_switches of one thread: how often it blocked and was woken. */
function voluntarySwitches(pid: number, tid: number): number {
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]);
}

test('pulse mode: each pulse burns real CPU on the burner and writes into the TAP; nothing else wakes', async () => {
  if (!(await needs('stand-in pulses', 'root', 'tun', 'cc'))) return;
  const tap = uniqueTapName();
  let s: Standin | undefined;
  try {
    // 2,500 bytes a pulse: frames of 1000, 1000 and 500.
    s = await startStandin({ kind: 'crosvm', argv: ['run', '--net', `tap-name=${tap}`], threads: 2, burn: [0], taps: [tap], pulseMs: 50, pulseBurnUs: 2000, pulseTxBytes: 2500 });
    const [burner, idle] = s.tids;
    const reader = [...threadNames(s.pid)].find(([, name]) => name === 'vpt-tap-rx')![0];
    const st0 = await s.status();
    const q0 = schedstat(s.pid, burner);
    const steal0 = hostStealSeconds();
    const v0 = [burner, idle, reader].map((t) => voluntarySwitches(s!.pid, t));
    const st1 = await waitFor(async () => {
      const x = await s!.status();
      return x.pulses >= st0.pulses + 20 ? x : undefined;
    }, 20_000, '20 pulses', 100);
    const q1 = schedstat(s.pid, burner);
    const stolen = hostStealSeconds() - steal0;
    const v1 = [burner, idle, reader].map((t) => voluntarySwitches(s!.pid, t));
    // Written by the main thread before it dumps the status: the TAP has exactly what it counts.
    // Pulses go on meanwhile (every 50 ms), so the kernel's counters are read between two statuses
    // of the same pulse count.
    const [c, st2] = await waitFor(async () => {
      const a = await s!.status();
      const counters = tapCounters(tap);
      const b = await s!.status();
      return a.pulses === b.pulses ? ([counters, b] as const) : undefined;
    }, 10_000, 'TAP counters read between two pulses', 5);
    assert.is(st2.taps[0].written_bytes, st2.pulses * 2500);
    assert.is(st2.taps[0].written_frames, st2.pulses * 3);
    assert.is(st2.taps[0].write_errors, 0);
    assert.is(c.rx_bytes, st2.taps[0].written_bytes);
    assert.is(c.rx_packets, st2.taps[0].written_frames);
    // Each burst is busy for 2 ms of wall clock: running, waiting for a CPU, or stolen.
    const pulses = st1.pulses - st0.pulses;
    const busy = q1.runS - q0.runS + (q1.waitS - q0.waitS) + stolen;
    assert.ok(busy >= (pulses - 1) * 0.002 * 0.9, `burner busy ${busy} s over ${pulses} pulses`);
    assert.ok(q1.runS - q0.runS > 0, 'the burner ran');
    // The burner blocks once per pulse; the idle vCPU and the TAP reader never wake.
    assert.ok(v1[0]! - v0[0]! >= pulses - 2 && v1[0]! - v0[0]! <= pulses + 2, `burner woke ${v1[0]! - v0[0]!} times in ${pulses} pulses`);
    assert.is(v1[1]! - v0[1]!, 0, 'the idle vCPU thread woke');
    assert.is(v1[2]! - v0[2]!, 0, 'the TAP reader woke with no frame to read');
  } finally {
    await s?.stop();
  }
});

/** Resident and anonymous kB of each mapping of a process, from /proc/<pid>/smaps. */
function mappings(pid: number): { rssKiB: number; anonKiB: number; sizeKiB: number }[] {
  const out: { rssKiB: number; anonKiB: number; sizeKiB: number }[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^(Size|Rss|Anonymous):\s+(\d+) kB$/.exec(line);
    if (!m) continue;
    if (m[1] === 'Size') out.push({ sizeKiB: Number(m[2]), rssKiB: 0, anonKiB: 0 });
    else if (m[1] === 'Rss') out[out.length - 1]!.rssKiB = Number(m[2]);
    else out[out.length - 1]!.anonKiB = Number(m[2]);
  }
  return out;
}

test('VPT_TOUCH_MB makes that many MiB resident before READY', async () => {
  if (!(await needs('stand-in memory', 'cc'))) return;
  let a: Standin | undefined;
  let b: Standin | undefined;
  try {
    a = await startStandin({ kind: 'firecracker', argv: ['--api-sock', '/tmp/none'] });
    b = await startStandin({ kind: 'firecracker', argv: ['--api-sock', '/tmp/none'], touchMiB: 48 });
    // One anonymous mapping of 48 MiB (plus malloc's few header pages), every touched page resident.
    const big = mappings(b.pid).filter((m) => m.sizeKiB >= 48 * 1024);
    assert.is(big.length, 1, JSON.stringify(big));
    assert.ok(big[0]!.rssKiB >= 48 * 1024 && big[0]!.rssKiB <= big[0]!.sizeKiB, `${big[0]!.rssKiB} kB resident`);
    assert.is(big[0]!.anonKiB, big[0]!.rssKiB);
    assert.equal(mappings(a.pid).filter((m) => m.sizeKiB >= 48 * 1024), [], 'without VPT_TOUCH_MB no such mapping');
    assert.ok(rssBytes(b.pid) >= 48 * 1048576);
    assert.is(b.ready.touched_mb, 48);
    assert.is(a.ready.touched_mb, 0);
  } finally {
    await a?.stop();
    await b?.stop();
  }
});

test('the API socket answers every GET with the configured body; a hanging one never answers', async () => {
  if (!(await needs('stand-in API socket', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-api-'));
  let ch: Standin | undefined;
  let fc: Standin | undefined;
  try {
    const info = { config: { cpus: { boot_vcpus: 2 }, memory: { size: 268435456 }, net: [{ tap: 'vpt0' }] }, state: 'Running' };
    const chSock = join(dir, 'ch.sock');
    ch = await startStandin({ kind: 'cloud-hypervisor', argv: ['--api-socket', `path=${chSock}`], apiSocket: chSock, apiBody: info });
    const r = await apiGet(chSock, '/api/v1/vm.info');
    assert.is(r.status, 200);
    assert.equal(JSON.parse(r.body), info);
    assert.is((await apiGet(chSock, '/api/v1/vmm.ping')).status, 200);
    assert.is((await ch.status()).api_requests, 2);
    ch.setApiBody({ state: 'Shutdown' });
    assert.equal(JSON.parse((await apiGet(chSock, '/api/v1/vm.info')).body), { state: 'Shutdown' });

    const fcSock = join(dir, 'fc.sock');
    fc = await startStandin({ kind: 'firecracker', argv: ['--api-sock', fcSock], apiSocket: fcSock, apiHang: true });
    // Connected, then no answer: the idle timeout (not a refused or reset connection) ends it.
    const err = await apiGet(fcSock, '/vm/config', 400).then(() => null, (e: Error) => e);
    assert.ok(err, 'the hanging socket answered');
    assert.is(err!.message, 'timeout');
    const fcPid = fc.pid;
    await fc.stop();
    assert.not.ok(existsSync(fcSock), 'the stand-in removes its socket on SIGTERM');
    assert.not.ok(alive(fcPid));
  } finally {
    await ch?.stop();
    await fc?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('QEMU starts with 2 named vCPU threads and holds its TAP by ifname', async () => {
  if (!(await needs('QEMU with TAP by name', 'root', 'tun', 'qemu'))) return;
  const tap = createTap(uniqueTapName());
  let q: Qemu | undefined;
  try {
    q = await startQemu({ name: 'vpt-guest-a', smp: 2, memMiB: 64, tap });
    assert.is(basename(exeOf(q.pid)), 'qemu-system-x86_64');
    const names = threadNames(q.pid);
    assert.is(q.vcpuTids.length, 2);
    assert.is(names.get(q.vcpuTids[0]), `CPU 0/${q.accel}`);
    assert.is(names.get(q.vcpuTids[1]), `CPU 1/${q.accel}`);
    const argv = cmdline(q.pid);
    assert.ok(argv.includes(`guest=vpt-guest-a,debug-threads=on`));
    assert.ok(argv.includes(q.uuid));
    assert.ok(argv.some((a) => a.includes(`ifname=${tap}`)));
    assert.equal([...tunFds(q.pid).values()], [tap]);
    const pid = q.pid;
    await q.stop();
    assert.not.ok(alive(pid));
  } finally {
    await q?.stop();
    deleteTap(tap);
  }
});

test('QEMU given its TAP as an fd (libvirt style): only fdinfo names the TAP', async () => {
  if (!(await needs('QEMU with TAP by fd', 'root', 'tun', 'qemu', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  let q: Qemu | undefined;
  try {
    q = await startQemu({ name: 'vpt-guest-b', smp: 2, tapByFd: tap });
    assert.is(basename(exeOf(q.pid)), 'qemu-system-x86_64');
    assert.is(q.vcpuTids.length, 2);
    const argv = cmdline(q.pid);
    assert.not.ok(argv.some((a) => a.includes(tap)), 'the TAP name leaked into argv');
    assert.ok(argv.includes(JSON.stringify({ type: 'tap', fd: String(TAP_FD), id: 'hostnet0' })));
    assert.is(readlinkSync(`/proc/${q.pid}/fd/${TAP_FD}`), '/dev/net/tun');
    assert.match(readFileSync(`/proc/${q.pid}/fdinfo/${TAP_FD}`, 'utf8'), `iff:\t${tap}\n`);
    assert.equal([...tunFds(q.pid).entries()], [[TAP_FD, tap]]);
  } finally {
    await q?.stop();
    deleteTap(tap);
  }
});

test('procs: a comm with spaces and parentheses; a process that exits on demand; fd count', async () => {
  const fds = fdCount();
  const odd = await startOddComm();
  try {
    const stat = readFileSync(`/proc/${odd.pid}/stat`, 'utf8');
    assert.is(statComm(stat), 'a) b (c');
    assert.ok(stat.startsWith(`${odd.pid} (a) b (c) `), stat);
    assert.ok(cpuTicks(odd.pid) >= 0);
  } finally {
    await odd.stop();
  }
  assert.not.ok(alive(odd.pid));
  const p = startExitOnDemand();
  assert.ok(alive(p.pid));
  assert.is(await p.exit(7), 7);
  assert.not.ok(alive(p.pid));
  assert.ok(fdCount() <= fds + 1, `fds ${fds} -> ${fdCount()}`);
});

test.run();
