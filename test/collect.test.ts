import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { distRoot } from '../src/paths.js';
import { needs, skipped } from './helpers/needs.js';
import { waitFor } from './helpers/procs.js';
import type { DiscoveredVm } from '../src/discover/vm.js';
import type { Outcome } from '../src/readers/outcome.js';
import { parseProcStat } from '../src/readers/parse-proc-stat.js';
import { parseStatus } from '../src/readers/parse-status.js';
import { parseSchedstat } from '../src/readers/parse-schedstat.js';
import { parseMeminfo } from '../src/readers/parse-meminfo.js';
import { systemConstants } from '../src/readers/system.js';
import { readVmOnce, VmReader } from '../src/collect/vm-reader.js';
import { toInstanceStats } from '../src/agent/instance-stats.js';
import { NetnsTaps } from '../src/collect/netns-taps.js';
import { cgroup2Mount, ownCgroupPath } from '../src/collect/pressure.js';
import { parsePressure } from '../src/readers/parse-pressure.js';
import { parseCgroupLines } from '../src/readers/parse-cgroup.js';
import type { VmSample } from '../src/collect/vm-sample.js';
import { filesystems, hostFacts, HostReader, physicalInterfaces } from '../src/collect/host.js';
import { parseNetDev } from '../src/readers/parse-net-dev.js';
import { HostSampler } from '../src/agent/host-sampler.js';

const constants = systemConstants();
const tick = 1 / constants.clockTicksPerSecond;

function value<T>(o: Outcome<T>): T {
  if (!o.ok) assert.unreachable(`expected ok, got ${o.kind}: ${o.detail}`);
  return (o as { value: T }).value;
}
const kindOf = (o: Outcome<unknown>): string => (o.ok ? 'ok' : o.kind);

function kernelStat(pid: number) {
  return value(parseProcStat(readFileSync(`/proc/${pid}/stat`)));
}

function vmFor(pid: number, over: Partial<DiscoveredVm> = {}): DiscoveredVm {
  const starttime = over.starttime ?? kernelStat(pid).starttime;
  return {
    key: `${pid}:${starttime}`,
    pid,
    starttime,
    hypervisor: 'qemu',
    instanceId: `test-${pid}`,
    instanceName: `name-${pid}`,
    idSource: 'pid-fallback',
    allocatedVcpus: 1,
    allocatedMemoryBytes: 0,
    taps: [],
    vcpuTids: [pid],
    apiSocket: null,
    cpuCgroupDir: null,
    cgroupVersion: null,
    argv: [],
    discoveredAt: Date.now(),
    ...over,
  };
}

function kill(child: ChildProcess | undefined): void {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function killAndReap(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  kill(child);
  if (child.exitCode === null && child.signalCode === null) await exited;
}

test('cpu_seconds equals the kernel utime+stime; statm RSS equals status VmRSS; schedstat sums', async () => {
  const child = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
  const reader = new VmReader(vmFor(child.pid!), { constants });
  try {
    const pid = child.pid!;
    await waitFor(() => {
      const s = kernelStat(pid);
      return (s.utime + s.stime) * tick >= 0.3;
    }, 20_000, 'the child to burn 0.3 s of CPU');
    // While running: the reader's value lies between two independent reads around it.
    const before = kernelStat(pid);
    const running = value(reader.read());
    const after = kernelStat(pid);
    assert.ok(running.utimeTicks + running.stimeTicks >= before.utime + before.stime);
    assert.ok(running.utimeTicks + running.stimeTicks <= after.utime + after.stime);

    process.kill(pid, 'SIGSTOP');
    await waitFor(() => kernelStat(pid).state === 'T', 5000, 'the child to stop');
    const sample = value(reader.read());
    const k = kernelStat(pid);
    const stats = toInstanceStats(sample, reader.vm, constants.clockTicksPerSecond);
    assert.ok(stats.cpu_seconds >= 0.3, `cpu_seconds ${stats.cpu_seconds}`);
    assert.ok(Math.abs(stats.cpu_seconds - (k.utime + k.stime) * tick) <= tick, `${stats.cpu_seconds} vs ${(k.utime + k.stime) * tick}`);

    const status = value(parseStatus(readFileSync(`/proc/${pid}/status`)));
    assert.is(sample.rssBytes, status.vmRssBytes);
    assert.is(stats.memory_rss_bytes, status.vmRssBytes);
    assert.ok(sample.rssBytes > 0);
    assert.is(sample.peakRssBytes, status.vmHwmBytes);
    assert.is(sample.swapBytes, status.vmSwapBytes);
    assert.is(sample.vmsBytes, k.vsize);

    const sched = value(parseSchedstat(readFileSync(`/proc/${pid}/task/${pid}/schedstat`)));
    assert.is(sample.vcpuRunNs, sched.runNs);
    assert.is(sample.vcpuWaitNs, sched.waitNs);
    assert.ok(sample.vcpuRunNs! >= 0.3e9);
    // No cgroup, no TAPs were given: throttle is null with a reason, never 0; the child shares
    // the test's cgroup, so it has no pressure of its own either.
    assert.is(sample.throttle, null);
    assert.is(sample.pressure, null);
    assert.equal(sample.errors.map((e) => [e.field, e.kind]), [['throttle', 'missing'], ['pressure', 'missing']]);
  } finally {
    reader.close();
    kill(child);
  }
});

test('io write_bytes moves by at least what the child wrote and fsynced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-io-'));
  const n = 1 << 20;
  const script = `
    const fs = require('fs');
    process.stdin.once('data', () => {
      const fd = fs.openSync(${JSON.stringify(join(dir, 'out'))}, 'w');
      fs.writeSync(fd, Buffer.alloc(${n}, 7));
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      process.stdout.write('done\\n');
    });
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let reader: VmReader | undefined;
  try {
    await waitFor(() => readFileSync(`/proc/${child.pid}/cmdline`).includes('-e'), 5000, 'the child to exec');
    reader = new VmReader(vmFor(child.pid!), { constants });
    const w0 = value(reader.read()).diskWriteBytes;
    assert.type(w0, 'number');
    const done = new Promise((r) => child.stdout!.once('data', r));
    child.stdin!.write('go\n');
    await done;
    const s1 = value(reader.read());
    assert.ok(s1.diskWriteBytes! - w0! >= n, `write_bytes moved by ${s1.diskWriteBytes! - w0!}, wrote ${n}`);
    assert.is(toInstanceStats(s1, reader.vm, constants.clockTicksPerSecond).disk_write_bytes, s1.diskWriteBytes);
  } finally {
    reader?.close();
    kill(child);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a process that exits between open and read is gone, and stays gone', async () => {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  await waitFor(() => kernelStat(child.pid!).comm === 'sleep', 5000, 'sleep to exec');
  const reader = new VmReader(vmFor(child.pid!), { constants });
  try {
    assert.is(kindOf(reader.read()), 'ok');
    await killAndReap(child);
    assert.is(kindOf(reader.read()), 'gone');
    assert.is(kindOf(reader.read()), 'gone');
    assert.is(kindOf(readVmOnce(vmFor(process.pid, { pid: child.pid! }), { constants })), 'gone');
  } finally {
    reader.close();
    kill(child);
  }
});

test('a reader for the right pid but another starttime (PID reuse) is gone', async () => {
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  try {
    const st = kernelStat(child.pid!);
    const r = readVmOnce(vmFor(child.pid!, { starttime: st.starttime + 1 }), { constants });
    assert.is(kindOf(r), 'gone');
    assert.match((r as { detail: string }).detail, /reused/);
    assert.is(kindOf(readVmOnce(vmFor(child.pid!, { starttime: st.starttime }), { constants })), 'ok');
  } finally {
    kill(child);
  }
});

test('toInstanceStats: VM view of TAP counters, ratio only with allocation', () => {
  const vm = vmFor(process.pid, { taps: ['vpta', 'vptb'], vcpuTids: [1, 2, 3], allocatedMemoryBytes: 1000, allocatedVcpus: 3 });
  const sample: VmSample = {
    key: vm.key, tMs: 0, utimeTicks: 3 * constants.clockTicksPerSecond, stimeTicks: constants.clockTicksPerSecond,
    numThreads: 9, rssBytes: 250, vmsBytes: 4000, swapBytes: 8, peakRssBytes: 300, diskReadBytes: 11, diskWriteBytes: 22,
    vcpuRunNs: 5, vcpuWaitNs: 6,
    taps: [
      { name: 'vpta', rxBytes: 10, txBytes: 100, rxPackets: 1, txPackets: 2, rxErrors: 3, txErrors: 0, rxDropped: 5, txDropped: 7 },
      { name: 'vptb', rxBytes: 20, txBytes: 200, rxPackets: 1, txPackets: 2, rxErrors: 0, txErrors: 1, rxDropped: 0, txDropped: 2 },
    ],
    throttle: null, pressure: null, errors: [],
  };
  const s = toInstanceStats(sample, vm, constants.clockTicksPerSecond);
  assert.equal(s, {
    instance_id: vm.instanceId, instance_name: vm.instanceName, cpu_seconds: 4, memory_rss_bytes: 250, memory_vms_bytes: 4000,
    network_rx_bytes: 300, network_tx_bytes: 30, allocated_vcpus: 3, allocated_memory_bytes: 1000, memory_utilization_ratio: 0.25,
    hypervisor: 'qemu', pid: process.pid, tap_devices: ['vpta', 'vptb'], vcpu_threads: 3, memory_swap_bytes: 8,
    memory_peak_rss_bytes: 300, disk_read_bytes: 11, disk_write_bytes: 22,
    network_rx_packets: 4, network_tx_packets: 2, network_rx_errors: 1, network_tx_errors: 3, network_rx_dropped: 9, network_tx_dropped: 5,
    taps: [
      { name: 'vpta', rx_bytes: 100, tx_bytes: 10, rx_packets: 2, tx_packets: 1, rx_errors: 0, tx_errors: 3, rx_dropped: 7, tx_dropped: 5 },
      { name: 'vptb', rx_bytes: 200, tx_bytes: 20, rx_packets: 2, tx_packets: 1, rx_errors: 1, tx_errors: 0, rx_dropped: 2, tx_dropped: 0 },
    ],
    pressure: null, pressure_unavailable: 'not measured',
  });
  const noAlloc = toInstanceStats(sample, { ...vm, allocatedMemoryBytes: 0 }, constants.clockTicksPerSecond);
  assert.not.ok('memory_utilization_ratio' in noAlloc);
  const oneMissing = toInstanceStats({ ...sample, taps: [sample.taps[0]!, null] }, vm, constants.clockTicksPerSecond);
  assert.is(oneMissing.network_rx_bytes, null);
  assert.is(oneMissing.network_tx_bytes, null);
});

test('cgroup cpu.stat is re-read through the kept fd (v1 and v2 formats)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-cg-'));
  const reader = new VmReader(vmFor(process.pid, { cpuCgroupDir: dir, cgroupVersion: 1 }), { constants });
  try {
    writeFileSync(join(dir, 'cpu.stat'), 'nr_periods 10\nnr_throttled 2\nthrottled_time 5000\n');
    assert.equal(value(reader.read()).throttle, { periods: 10, throttledPeriods: 2, throttledNs: 5000 });
    writeFileSync(join(dir, 'cpu.stat'), 'nr_periods 11\nnr_throttled 3\nthrottled_time 7000\n');
    assert.equal(value(reader.read()).throttle, { periods: 11, throttledPeriods: 3, throttledNs: 7000 });
    const v2 = readVmOnce(vmFor(process.pid, { cpuCgroupDir: dir, cgroupVersion: 2 }), { constants });
    assert.is(value(v2).throttle, null);
    assert.equal(value(v2).errors.find((e) => e.field === 'throttle')?.kind, 'malformed');
    writeFileSync(join(dir, 'cpu.stat'), 'usage_usec 1\nuser_usec 1\nsystem_usec 0\nnr_periods 4\nnr_throttled 1\nthrottled_usec 3\n');
    assert.equal(value(readVmOnce(vmFor(process.pid, { cpuCgroupDir: dir, cgroupVersion: 2 }), { constants })).throttle, {
      periods: 4, throttledPeriods: 1, throttledNs: 3000,
    });
  } finally {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('denied: uid 65534 reading a root process io', async () => {
  if (!(await needs('denied: uid 65534 reading a root process io', 'root'))) return;
  const mod = (p: string) => JSON.stringify(`file://${join(distRoot, 'src', p)}`);
  const script = `
    const r = await import(${mod('readers/index.js')});
    const c = await import(${mod('collect/vm-reader.js')});
    const st = r.parseProcStat(r.readOnce('/proc/1/stat', true).value).value;
    const once = r.readOnce('/proc/1/io', true);
    const kept = r.KeptFile.open('/proc/1/io', true);
    const vm = { key: 'x', pid: 1, starttime: st.starttime, hypervisor: 'qemu', instanceId: 'x', instanceName: 'x',
      idSource: 'pid-fallback', allocatedVcpus: 0, allocatedMemoryBytes: 0, taps: [], vcpuTids: [], apiSocket: null,
      cpuCgroupDir: null, cgroupVersion: null, argv: [], discoveredAt: 0 };
    const s = c.readVmOnce(vm, { constants: { clockTicksPerSecond: 100, pageSize: 4096 } });
    console.log(JSON.stringify({ uid: process.getuid(), once: once.ok ? 'ok' : once.kind, kept: kept.ok ? 'ok' : kept.kind,
      sample: s.ok ? 'ok' : s.kind, disk: s.ok ? s.value.diskWriteBytes : 'n/a',
      diskError: s.ok ? s.value.errors.find((e) => e.field === 'diskWriteBytes')?.kind : 'n/a' }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out, { uid: 65534, once: 'denied', kept: 'denied', sample: 'ok', disk: null, diskError: 'denied' });
});

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function makeTap(name: string): void {
  ip('tuntap', 'add', 'dev', name, 'mode', 'tap');
  // Without this the kernel sends its own IPv6 solicitations and the counters move by themselves.
  execFileSync('sysctl', ['-q', '-w', `net.ipv6.conf.${name}.disable_ipv6=1`]);
  ip('link', 'set', name, 'up');
}
function delTap(name: string): void {
  try {
    ip('link', 'del', name);
  } catch {
    // not there
  }
}
const sysCounter = (tap: string, c: string): number => Number(readFileSync(`/sys/class/net/${tap}/statistics/${c}`, 'utf8'));

test('pressure: the PSI totals of the VM\'s own cgroup v2, equal to its files; v1-only, root and shared cgroups say why not', async () => {
  // The rule for "the VM's own cgroup", pure.
  const lines = (v2: string) => value(parseCgroupLines(`4:memory:/x\n0::${v2}\n`));
  const never = () => false;
  assert.equal(ownCgroupPath(lines('/machine.slice/machine-qemu\\x2d1\\x2dweb.scope/libvirt/emulator'), 7, never), { ok: true, value: '/machine.slice/machine-qemu\\x2d1\\x2dweb.scope' });
  assert.equal(ownCgroupPath(lines('/vms/web'), 7, (p) => p === '/vms/web'), { ok: true, value: '/vms/web' });
  assert.match((ownCgroupPath(lines('/user.slice/session-1.scope'), 7, never) as { detail: string }).detail, /holds other processes/);
  assert.match((ownCgroupPath(lines('/'), 7, never) as { detail: string }).detail, /root cgroup/);
  assert.match((ownCgroupPath(value(parseCgroupLines('4:memory:/x\n')), 7, never) as { detail: string }).detail, /cgroup v1 only/);
  // A host with cgroup v1 alone (a /sys without a v2 mount): not available, and said so.
  const v1sys = mkdtempSync(join(tmpdir(), 'vpt-v1sys-'));
  try {
    const r = value(readVmOnce(vmFor(process.pid), { constants, sysRoot: v1sys }));
    assert.is(r.pressure, null);
    assert.match(r.errors.find((e) => e.field === 'pressure')!.detail, /cgroup v2 is not mounted/);
    assert.match(toInstanceStats(r, vmFor(process.pid), constants.clockTicksPerSecond).pressure_unavailable!, /cgroup v1 host/);
  } finally {
    rmSync(v1sys, { recursive: true, force: true });
  }
  if (!(await needs('pressure of a real cgroup v2', 'root'))) return;
  const mount = cgroup2Mount('/sys');
  if (mount === null) {
    skipped.push('pressure of a real cgroup v2: no cgroup2 hierarchy is mounted on this host');
    return;
  }
  const dir = join(mount, `vpt-psi-${process.pid}`);
  mkdirSync(dir);
  const child = spawn('sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 600'], { stdio: 'ignore' });
  let reader: VmReader | undefined;
  try {
    writeFileSync(join(dir, 'cgroup.procs'), String(child.pid));
    const st = kernelStat(child.pid!);
    reader = new VmReader(vmFor(child.pid!, { starttime: st.starttime }), { constants });
    const file = (r: string) => value(parsePressure(readFileSync(join(dir, `${r}.pressure`))));
    const before = { cpu: file('cpu'), memory: file('memory'), io: file('io') };
    const p = value(reader.read()).pressure!;
    const after = { cpu: file('cpu'), memory: file('memory'), io: file('io') };
    assert.ok(p, 'the cgroup holds only this process: its pressure is the VM\'s');
    for (const r of ['cpu', 'memory', 'io'] as const) {
      assert.ok(p[r].someUs >= before[r].someUs && p[r].someUs <= after[r].someUs, `${r} some ${p[r].someUs} in [${before[r].someUs}, ${after[r].someUs}]`);
      assert.ok(after[r].fullUs === null || (p[r].fullUs! >= before[r].fullUs! && p[r].fullUs! <= after[r].fullUs!), `${r} full`);
    }
  } finally {
    reader?.close();
    kill(child);
    await waitFor(() => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '', 5000, 'the cgroup to empty');
    rmdirSync(dir);
  }
});

test('TAP: counters read, a deleted TAP is missing (not 0), a recreated or late TAP is picked up', async () => {
  if (!(await needs('TAP counters', 'root', 'tun'))) return;
  const tap = `vpt${randomBytes(4).toString('hex')}`; // 11 chars
  const reader = new VmReader(vmFor(process.pid, { taps: [tap] }), { constants });
  try {
    // Not there yet: missing, never 0.
    const early = value(reader.read());
    assert.equal(early.taps, [null]);
    assert.equal(early.errors.filter((e) => e.field === `taps:${tap}`).map((e) => e.kind), ['missing']);
    assert.is(toInstanceStats(early, reader.vm, constants.clockTicksPerSecond).network_rx_bytes, null);

    makeTap(tap);
    const s1 = value(reader.read());
    const t = s1.taps[0]!;
    assert.ok(t !== null, 'TAP read once it exists');
    assert.equal(t, { name: tap, rxBytes: sysCounter(tap, 'rx_bytes'), txBytes: sysCounter(tap, 'tx_bytes'),
      rxPackets: sysCounter(tap, 'rx_packets'), txPackets: sysCounter(tap, 'tx_packets'),
      rxErrors: sysCounter(tap, 'rx_errors'), txErrors: sysCounter(tap, 'tx_errors'),
      rxDropped: sysCounter(tap, 'rx_dropped'), txDropped: sysCounter(tap, 'tx_dropped') });
    assert.not.ok(s1.errors.some((e) => e.field.startsWith('taps:')));
    assert.is(toInstanceStats(s1, reader.vm, constants.clockTicksPerSecond).network_rx_bytes, t.txBytes);

    delTap(tap);
    const s2 = value(reader.read());
    assert.equal(s2.taps, [null]);
    assert.equal(s2.errors.filter((e) => e.field === `taps:${tap}`).map((e) => e.kind), ['missing']);

    makeTap(tap);
    assert.equal(value(reader.read()).taps[0]?.name, tap);
  } finally {
    reader.close();
    delTap(tap);
  }
});

test('TAP: frames the host could not hand to the VM (its queue full) are tx_dropped, the VM\'s rx_dropped; errors are the kernel\'s', async () => {
  if (!(await needs('TAP drops', 'root', 'tun', 'python3'))) return;
  const tap = `vpt${randomBytes(4).toString('hex')}`;
  let holder: ChildProcess | undefined;
  const reader = new VmReader(vmFor(process.pid, { taps: [tap] }), { constants });
  try {
    makeTap(tap);
    // A queue of 20 frames: the holder attaches and never reads, so of 100 frames the host sends
    // into the TAP (AF_PACKET bound to it) 20 wait in the queue and 80 are dropped by the kernel.
    ip('link', 'set', tap, 'txqueuelen', '20');
    const code = `
import fcntl, os, socket, struct, sys, time
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'${tap}', 0x0002 | 0x1000))
# The carrier is on once attached, but the kernel's linkwatch (rate-limited to about a second
# between events) activates the TAP's qdisc later: frames sent before that are all dropped. It
# sets operstate in the same step.
t0 = time.time()
while open('/sys/class/net/${tap}/operstate').read().strip() != 'up':
    if time.time() - t0 > 10: sys.exit('operstate never came up')
    time.sleep(0.01)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${tap}', 0))
frame = b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + b'\\x00' * 86
for _ in range(100): s.send(frame)
print('done', flush=True)
time.sleep(600)`;
    holder = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const before = value(reader.read()).taps[0]!;
    await new Promise((r) => holder!.stdout!.once('data', r));
    await waitFor(() => sysCounter(tap, 'tx_dropped') - before.txDropped >= 80, 5000, 'the kernel to count the drops');
    const s = value(reader.read());
    const t = s.taps[0]!;
    assert.is(t.txDropped - before.txDropped, 80);
    assert.is(t.txDropped, sysCounter(tap, 'tx_dropped'));
    assert.is(t.rxDropped, sysCounter(tap, 'rx_dropped'));
    assert.is(t.rxErrors, sysCounter(tap, 'rx_errors'));
    assert.is(t.txErrors, sysCounter(tap, 'tx_errors'));
    assert.is(t.txPackets, sysCounter(tap, 'tx_packets'), 'queued frames are not sent until the holder reads them');
    const st = toInstanceStats(s, reader.vm, constants.clockTicksPerSecond);
    assert.is(st.network_rx_dropped, t.txDropped, 'VM view: what the VM did not receive');
    assert.is(st.network_tx_dropped, t.rxDropped);
    assert.equal(st.taps.map((x) => [x.name, x.rx_dropped, x.rx_errors]), [[tap, t.txDropped, t.txErrors]]);
  } finally {
    if (holder?.pid) holder.kill('SIGKILL');
    reader.close();
    delTap(tap);
  }
});

test('TAP: the readers of one namespace share one /proc/<pid>/net/dev read per tick, exact against sysfs', async () => {
  if (!(await needs('TAP shared netns read', 'root', 'tun'))) return;
  const a = `vpt${randomBytes(4).toString('hex')}`;
  const b = `vpt${randomBytes(4).toString('hex')}`;
  const netns = new NetnsTaps('/proc');
  const child = spawn('sleep', ['600'], { stdio: 'ignore' });
  const st = kernelStat(child.pid!);
  const ra = new VmReader(vmFor(process.pid, { taps: [a] }), { constants, netns });
  const rb = new VmReader(vmFor(child.pid!, { starttime: st.starttime, taps: [b] }), { constants, netns });
  try {
    makeTap(a);
    makeTap(b);
    assert.is(netns.namespaces, 1, 'this process and its child share the host namespace');
    netns.beginTick();
    const sa = value(ra.read()).taps[0]!;
    const sb = value(rb.read()).taps[0]!;
    for (const [t, name] of [[sa, a], [sb, b]] as const) {
      assert.equal([t.rxBytes, t.txBytes, t.rxPackets, t.txPackets, t.rxErrors, t.txErrors, t.rxDropped, t.txDropped],
        ['rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets', 'rx_errors', 'tx_errors', 'rx_dropped', 'tx_dropped'].map((c) => sysCounter(name, c)));
    }
    // The member the file is read through exits: the next member's file takes over.
    rb.close();
    netns.beginTick();
    assert.is(value(ra.read()).taps[0]!.name, a);
    assert.is(netns.namespaces, 1);
  } finally {
    ra.close();
    rb.close();
    kill(child);
    delTap(a);
    delTap(b);
  }
  assert.is(netns.namespaces, 0, 'no fd kept once every member left');
});

test('TAP: bytes a process writes into its TAP fd show as rx_bytes', async () => {
  if (!(await needs('TAP rx_bytes', 'root', 'tun', 'python3'))) return;
  const tap = `vpt${randomBytes(4).toString('hex')}`;
  let holder: ChildProcess | undefined;
  const reader = new VmReader(vmFor(process.pid, { taps: [tap] }), { constants });
  try {
    makeTap(tap);
    // TUNSETIFF with IFF_TAP|IFF_NO_PI, then 10 broadcast frames of 100 bytes, then hold the fd.
    const code = `
import fcntl, os, struct, sys, time
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', b'${tap}', 0x0002 | 0x1000))
time.sleep(0.2)
frame = b'\\xff' * 6 + b'\\x02\\x00\\x00\\x00\\x00\\x01' + b'\\x88\\xb5' + b'\\x00' * 86
for _ in range(10): os.write(fd, frame)
print('done', flush=True)
time.sleep(600)`;
    holder = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const before = value(reader.read()).taps[0]!;
    await new Promise((r) => holder!.stdout!.once('data', r));
    const after = value(reader.read()).taps[0]!;
    assert.is(after.rxBytes - before.rxBytes, 1000);
    assert.is(after.rxPackets - before.rxPackets, 10);
    assert.is(toInstanceStats(value(reader.read()), reader.vm, constants.clockTicksPerSecond).network_tx_bytes, after.rxBytes);
  } finally {
    reader.close();
    kill(holder);
    delTap(tap);
  }
});

test('HostReader and hostFacts agree with the kernel and node:os', () => {
  const h = new HostReader();
  const lo = new Set(['lo', 'vmpulse-none0']);
  const loBytes = () => value(parseNetDev(readFileSync('/proc/net/dev'), new Set(['lo']))).get('lo')!;
  try {
    const before = loBytes();
    const c = value(h.read(lo));
    const after = loBytes();
    assert.is(c.stat.cpuCount, cpus().length);
    const mem = value(parseMeminfo(readFileSync('/proc/meminfo')));
    assert.is(c.memory.memTotalBytes, mem.memTotalBytes);
    // Asked for lo and an interface that does not exist: lo alone, its bytes from sysfs between
    // two reads of the kernel's /proc/net/dev.
    assert.equal(c.net.map((d) => d.name), ['lo']);
    assert.ok(before.rxBytes <= c.net[0]!.rxBytes && c.net[0]!.rxBytes <= after.rxBytes, `${before.rxBytes} <= ${c.net[0]!.rxBytes} <= ${after.rxBytes}`);
    assert.ok(before.txBytes <= c.net[0]!.txBytes && c.net[0]!.txBytes <= after.txBytes);
    const c2 = value(h.read(lo));
    assert.ok(c2.uptime.uptimeSeconds >= c.uptime.uptimeSeconds);
    assert.ok(c2.stat.cpu.idle + c2.stat.cpu.user >= c.stat.cpu.idle + c.stat.cpu.user);
    assert.equal(value(h.read(new Set())).net, []);
  } finally {
    h.close();
  }
  assert.is(kindOf(h.read(lo)), 'io');
  const f = hostFacts();
  assert.is(f.Hostname, hostname());
  assert.is(f.Kernel, release());
  assert.is(f.CPUCores, cpus().length);
  assert.is(f.RAM, totalmem());
  assert.ok(f.SystemUptime! > 0);
  assert.type(f.OperatingSystem, 'string');
});

test('HostReader: interface bytes from sysfs, rx and tx apart; one gone is left out, a bad counter fails the read', () => {
  const sys = mkdtempSync(join(tmpdir(), 'vmpulse-sys-'));
  const nic = (name: string, rx: string, tx: string) => {
    const dir = join(sys, 'class', 'net', name, 'statistics');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'rx_bytes'), rx);
    writeFileSync(join(dir, 'tx_bytes'), tx);
  };
  const h = new HostReader({ sysRoot: sys });
  try {
    nic('eth0', '123\n', '4567\n');
    nic('eno1', '18446744073709\n', '0\n');
    const want = new Set(['eno1', 'eth0', 'eth9']);
    assert.equal(value(h.read(want)).net, [
      { name: 'eno1', rxBytes: 18446744073709, txBytes: 0 },
      { name: 'eth0', rxBytes: 123, txBytes: 4567 },
    ]);
    // Kept fds: new content is read on the next tick; eth9 appears once it exists.
    nic('eth0', '200\n', '5000\n');
    nic('eth9', '1\n', '2\n');
    assert.equal(value(h.read(want)).net.map((n) => [n.name, n.rxBytes, n.txBytes]), [['eno1', 18446744073709, 0], ['eth0', 200, 5000], ['eth9', 1, 2]]);
    // A new set closes what is no longer asked for and reads only what is.
    assert.equal(value(h.read(new Set(['eth9']))).net.map((n) => n.name), ['eth9']);
    nic('eth9', 'garbage\n', '2\n');
    const bad = h.read(new Set(['eth9']));
    assert.is(kindOf(bad), 'malformed');
    assert.match(bad.ok ? '' : bad.detail, 'eth9/statistics/rx_bytes');
  } finally {
    h.close();
    rmSync(sys, { recursive: true, force: true });
  }
});

test('HostReader: an interface deleted under its kept fds is left out and the host read goes on; recreated, it is read again', async () => {
  if (!(await needs('a real interface under HostReader', 'root', 'tun'))) return;
  const tap = `vpt${randomBytes(4).toString('hex')}`;
  const h = new HostReader();
  const want = new Set([tap]);
  try {
    makeTap(tap);
    const names = () => value(h.read(want)).net.map((n) => [n.name, n.rxBytes, n.txBytes]);
    assert.equal(names(), [[tap, sysCounter(tap, 'rx_bytes'), sysCounter(tap, 'tx_bytes')]]);
    // The kernel answers ENODEV on the kept fds of a deleted device: missing, not a failed read.
    delTap(tap);
    assert.equal(names(), []);
    assert.equal(names(), []);
    makeTap(tap);
    assert.equal(names(), [[tap, sysCounter(tap, 'rx_bytes'), sysCounter(tap, 'tx_bytes')]]);
  } finally {
    h.close();
    delTap(tap);
  }
});

test('filesystems: real mounts only, deduplicated by device; statfs figures', () => {
  const real = filesystems();
  const root = real.find((m) => m.Mount === '/');
  assert.ok(root, JSON.stringify(real));
  const s = statfsSync('/');
  assert.is(root!.Size, s.blocks * s.bsize);
  assert.ok(root!.Used > 0 && root!.Used <= root!.Size);
  assert.not.ok(real.some((m) => ['tmpfs', 'proc', 'sysfs', 'cgroup', 'cgroup2', 'devtmpfs'].includes(m.FsType)));
  assert.is(new Set(real.map((m) => m.Device)).size, real.length);

  const proc = mkdtempSync(join(tmpdir(), 'vmpulse-proc-'));
  try {
    mkdirSync(join(proc, 'self'));
    writeFileSync(join(proc, 'self', 'mounts'), '/dev/fake / ext4 rw 0 0\n/dev/fake /tmp ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/gone /no/such/dir ext4 rw 0 0\n');
    assert.equal(filesystems({ procRoot: proc }).map((m) => [m.Mount, m.Device]), [['/', '/dev/fake']]);
  } finally {
    rmSync(proc, { recursive: true, force: true });
  }
});

test('HostSampler: the mount table is read at start and on refreshMounts; statfs of those mounts every tick', () => {
  const proc = mkdtempSync(join(tmpdir(), 'vmpulse-proc-'));
  const hs = (() => {
    for (const f of ['stat', 'meminfo', 'loadavg', 'uptime', 'cpuinfo']) writeFileSync(join(proc, f), readFileSync(`/proc/${f}`));
    mkdirSync(join(proc, 'self'));
    writeFileSync(join(proc, 'self', 'mounts'), '/dev/fake / ext4 rw 0 0\n');
    return new HostSampler(proc, '/sys');
  })();
  try {
    const pct = () => hs.sample(new Set(), (kind, detail) => assert.unreachable(`${kind}: ${detail}`))!.diskPct;
    const rootPct = () => {
      const r = statfsSync('/');
      return ((r.blocks - r.bfree) / r.blocks) * 100;
    };
    // Other writers move the root's usage between the two statfs calls: within 0.1 point.
    assert.ok(Math.abs(pct()! - rootPct()) < 0.1);
    // The table changes (nothing in it can be statfs'ed): the list read before answers until refreshed.
    writeFileSync(join(proc, 'self', 'mounts'), '/dev/gone /no/such/dir ext4 rw 0 0\n');
    assert.ok(Math.abs(pct()! - rootPct()) < 0.1);
    hs.refreshMounts();
    assert.is(pct(), null);
  } finally {
    hs.close();
    rmSync(proc, { recursive: true, force: true });
  }
});

test('physicalInterfaces: links under /devices/virtual/ are excluded', () => {
  const sys = mkdtempSync(join(tmpdir(), 'vmpulse-sys-'));
  try {
    const net = join(sys, 'class', 'net');
    mkdirSync(net, { recursive: true });
    symlinkSync('../../devices/pci0000:00/0000:00:03.0/virtio2/net/eth0', join(net, 'eth0'));
    symlinkSync('../../devices/pci0000:00/0000:00:1f.6/net/eno1', join(net, 'eno1'));
    symlinkSync('../../devices/virtual/net/lo', join(net, 'lo'));
    symlinkSync('../../devices/virtual/net/vpt0', join(net, 'vpt0'));
    symlinkSync('../../devices/virtual/net/br0', join(net, 'br0'));
    writeFileSync(join(net, 'bonding_masters'), 'bond0\n');
    assert.equal(physicalInterfaces(sys), ['eno1', 'eth0']);
  } finally {
    rmSync(sys, { recursive: true, force: true });
  }
  const live = physicalInterfaces('/sys');
  assert.not.ok(live.includes('lo'));
});

test.run();
