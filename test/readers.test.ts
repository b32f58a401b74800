import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';
import type { Outcome } from '../src/readers/outcome.js';
import { KeptFile, readOnce } from '../src/readers/kept-file.js';
import { parseProcStat } from '../src/readers/parse-proc-stat.js';
import { parseStatm } from '../src/readers/parse-statm.js';
import { parseStatus } from '../src/readers/parse-status.js';
import { parseIo } from '../src/readers/parse-io.js';
import { parseCmdline } from '../src/readers/parse-cmdline.js';
import { parseComm } from '../src/readers/parse-comm.js';
import { parseSchedstat } from '../src/readers/parse-schedstat.js';
import { parseFdinfo } from '../src/readers/parse-fdinfo.js';
import { parseNetDev } from '../src/readers/parse-net-dev.js';
import { parsePressure } from '../src/readers/parse-pressure.js';
import { parseCounter } from '../src/readers/parse-counter.js';
import { cpuCgroupLines, parseCgroup, parseCgroupLines } from '../src/readers/parse-cgroup.js';
import { parseCgroupCpuStat, parseCpuStatV1, parseCpuStatV2 } from '../src/readers/parse-cpu-stat.js';
import { parseHostStat, parseStatCounters } from '../src/readers/parse-host-stat.js';
import { parseMeminfo } from '../src/readers/parse-meminfo.js';
import { parseLoadavg } from '../src/readers/parse-loadavg.js';
import { parseUptime } from '../src/readers/parse-uptime.js';
import { parseCpuinfo } from '../src/readers/parse-cpuinfo.js';
import { parseMounts, parseRealMounts } from '../src/readers/parse-mounts.js';
import { parseOsRelease } from '../src/readers/parse-os-release.js';
import { rootsFromEnv } from '../src/readers/roots.js';

const fixture = (name: string): Buffer => readFileSync(join(repoRoot, 'test', 'fixtures', 'readers', name));

function value<T>(o: Outcome<T>): T {
  if (!o.ok) assert.unreachable(`expected ok, got ${o.kind}: ${o.detail}`);
  return (o as { value: T }).value;
}

function isMalformed(o: Outcome<unknown>, label: string): void {
  assert.is(o.ok ? 'ok' : o.kind, 'malformed', label);
}

const TOO_BIG = '9007199254740993'; // 2^53 + 1: not exactly representable

test('stat: comm with spaces and ")" is split after the last ")"', () => {
  const line = '4242 (a) b (c) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 567 0 0 20 0 5 0 98765 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n';
  const s = value(parseProcStat(Buffer.from(line)));
  assert.is(s.pid, 4242);
  assert.is(s.comm, 'a) b (c) d');
  assert.is(s.state, 'S');
  assert.is(s.ppid, 1);
  assert.is(s.utime, 1234);
  assert.is(s.stime, 567);
  assert.is(s.numThreads, 5);
  assert.is(s.starttime, 98765);
  assert.is(s.vsize, 123456789);
  assert.is(s.rssPages, 2048);
  isMalformed(parseProcStat(line.slice(0, 60)), 'truncated');
  isMalformed(parseProcStat('garbage'), 'garbage');
  isMalformed(parseProcStat(line.replace(' 1234 ', ' 12x4 ')), 'non-number utime');
  isMalformed(parseProcStat(''), 'empty');
});

test('statm', () => {
  const s = value(parseStatm('265142 5407 2764 5 0 45000 0\n'));
  assert.equal(s, { sizePages: 265142, residentPages: 5407, sharedPages: 2764 });
  isMalformed(parseStatm('265142 5407'), 'truncated');
  isMalformed(parseStatm('265142 -5 2764 5 0 45000 0\n'), 'negative');
  isMalformed(parseStatm(`${TOO_BIG} 1 1 1 0 1 0\n`), 'huge');
  isMalformed(parseStatm('1.5 1 1 1 0 1 0\n'), 'non-integer');
  isMalformed(parseStatm('\x00\x01garbage'), 'garbage');
});

test('status: kB to bytes, kernel thread has no Vm lines', () => {
  const s = value(parseStatus(fixture('status.txt')));
  assert.is(s.name, 'cp');
  assert.is(s.pid, 15679);
  assert.is(s.vmRssBytes, 2156 * 1024);
  assert.is(s.vmHwmBytes, 2156 * 1024);
  assert.is(s.vmSwapBytes, 0);
  const k = value(parseStatus(fixture('status-kthread.txt')));
  assert.is(k.pid, 2);
  assert.is(k.vmRssBytes, null);
  assert.is(k.vmSwapBytes, null);
  assert.is(k.vmHwmBytes, null);
  isMalformed(parseStatus('Name:\tx\nPid:\t5\nVmRSS:\t-4 kB\n'), 'negative');
  isMalformed(parseStatus('Name:\tx\nPid:\t5\nVmRSS:\t12 MB\n'), 'wrong unit');
  isMalformed(parseStatus(`Name:\tx\nPid:\t5\nVmSwap:\t${TOO_BIG} kB\n`), 'huge');
  isMalformed(parseStatus(`Name:\tx\nPid:\t5\nVmSwap:\t9007199254740 kB\n`), 'kB*1024 beyond 2^53');
  isMalformed(parseStatus('Name:\tx\n'), 'truncated before Pid');
});

test('io', () => {
  const text = 'rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 1\nread_bytes: 12288\nwrite_bytes: 4096\ncancelled_write_bytes: 512\n';
  assert.equal(value(parseIo(text)), { rchar: 6976, wchar: 12, readBytes: 12288, writeBytes: 4096, cancelledWriteBytes: 512 });
  isMalformed(parseIo(text.slice(0, 40)), 'truncated');
  isMalformed(parseIo(text.replace('4096', '-4096')), 'negative');
  isMalformed(parseIo(text.replace('4096', TOO_BIG)), 'huge');
  isMalformed(parseIo('hello'), 'garbage');
});

test('cmdline and comm', () => {
  assert.equal(value(parseCmdline(Buffer.from('qemu-system-x86_64\0-name\0guest=a b,debug-threads=on\0'))), [
    'qemu-system-x86_64',
    '-name',
    'guest=a b,debug-threads=on',
  ]);
  assert.equal(value(parseCmdline(Buffer.alloc(0))), []);
  assert.equal(value(parseCmdline('rewritten title')), ['rewritten title']);
  assert.is(value(parseComm('CPU 0/KVM\n')), 'CPU 0/KVM');
  assert.is(value(parseComm('cloud-hyperviso\n')), 'cloud-hyperviso');
  isMalformed(parseComm('\n'), 'empty');
  isMalformed(parseComm('a\nb\n'), 'two lines');
});

test('schedstat', () => {
  assert.equal(value(parseSchedstat('1123700 158136 1\n')), { runNs: 1123700, waitNs: 158136, timeslices: 1 });
  isMalformed(parseSchedstat('1123700 158136'), 'truncated');
  isMalformed(parseSchedstat('1123700 -1 1'), 'negative');
  isMalformed(parseSchedstat(`${TOO_BIG} 1 1`), 'huge');
  isMalformed(parseSchedstat('x y z'), 'garbage');
});

test('fdinfo: tun iff line, flags octal', () => {
  const tun = value(parseFdinfo('pos:\t0\nflags:\t0104002\nmnt_id:\t26\nino:\t1066\niff:\tvnet12\n'));
  assert.equal(tun, { pos: 0, flags: 0o104002, iff: 'vnet12' });
  const plain = value(parseFdinfo('pos:\t4096\nflags:\t0100000\nmnt_id:\t24\nino:\t3\n'));
  assert.equal(plain, { pos: 4096, flags: 0o100000, iff: null });
  isMalformed(parseFdinfo('pos:\t0\nflags:\t0109\n'), 'non-octal flags');
  isMalformed(parseFdinfo('flags:\t02\n'), 'no pos');
  isMalformed(parseFdinfo('pos:\t0\nflags:\t02\niff:\tname-that-is-too-long\n'), 'iff > 15 chars');
});

test('net/dev: every interface', () => {
  const devs = [...value(parseNetDev(fixture('net-dev.txt'), null)).values()];
  assert.equal(devs.map((d) => d.name), ['lo', 'ifb0', 'ifb1', 'eth0']);
  const eth0 = devs.find((d) => d.name === 'eth0')!;
  assert.equal(eth0, { name: 'eth0', rxBytes: 251012859, rxPackets: 9558, rxErrs: 0, rxDrop: 0, txBytes: 703668, txPackets: 6812, txErrs: 0, txDrop: 0 });
  const text = fixture('net-dev.txt').toString();
  isMalformed(parseNetDev(text.slice(0, text.length - 30), null), 'truncated last line');
  isMalformed(parseNetDev('eth0: 1 2 3\n', null), 'no header');
  isMalformed(parseNetDev(text.replace('251012859', '-251012859'), null), 'negative');
  isMalformed(parseNetDev(text.replace('251012859', TOO_BIG), null), 'huge');
  // Only eth0 asked for: the same counters, the other lines not parsed.
  assert.equal([...value(parseNetDev(fixture('net-dev.txt'), new Set(['eth0']))).values()], [eth0]);
});

test('net/dev into the previous map: entries refilled in place; one gone or no longer wanted leaves the map', () => {
  const text = fixture('net-dev.txt').toString();
  const first = value(parseNetDev(text, null));
  const eth0 = first.get('eth0')!;
  const moved = text.replace('251012859', '251012999').replace(' 703668 ', ' 703700 ');
  const again = value(parseNetDev(moved, null, first));
  assert.ok(again === first && again.get('eth0') === eth0, 'same map, same entry');
  assert.equal(again.get('eth0'), { ...eth0, rxBytes: 251012999, txBytes: 703700 });
  assert.equal([...again.values()], [...value(parseNetDev(moved, null)).values()]);
  // ifb1 removed from the file, then lo no longer wanted: the same answers as a fresh parse.
  const without = moved.split('\n').filter((l) => !l.includes('ifb1:')).join('\n');
  assert.equal([...value(parseNetDev(without, null, again)).entries()], [...value(parseNetDev(without, null)).entries()]);
  const wanted = new Set(['ifb0', 'eth0']);
  const fewer = value(parseNetDev(without, wanted, again));
  assert.equal([...fewer.keys()], ['ifb0', 'eth0']);
  assert.equal([...fewer.values()], [...value(parseNetDev(without, wanted)).values()]);
  // A malformed file is an error, and the next good one still answers exactly.
  isMalformed(parseNetDev(without.replace('703700', '-1'), null, fewer), 'negative');
  // Interfaces back: added to the map (lookups are by name; its order is not the file's then).
  assert.equal(Object.fromEntries(value(parseNetDev(text, null, fewer))), Object.fromEntries(value(parseNetDev(text, null))));
});

test('sysfs counter', () => {
  assert.is(value(parseCounter('251012859\n')), 251012859);
  assert.is(value(parseCounter('0\n')), 0);
  isMalformed(parseCounter(''), 'empty');
  isMalformed(parseCounter('-1\n'), 'negative');
  isMalformed(parseCounter(`${TOO_BIG}\n`), 'huge');
  isMalformed(parseCounter('12 34\n'), 'two numbers');
  isMalformed(parseCounter('1e5\n'), 'exponent');
});

test('cgroup: v1, v2 and hybrid', () => {
  const hybrid = '9:name=systemd:/\n4:memory:/machine/qemu-1.scope\n2:cpu,cpuacct:/machine/qemu-1.scope/emulator\n0::/machine.slice/x:y\n';
  assert.equal(value(parseCgroup(hybrid)), { v1Cpu: '/machine/qemu-1.scope/emulator', v2: '/machine.slice/x:y' });
  assert.equal(value(parseCgroup('0::/system.slice/vm.service\n')), { v1Cpu: null, v2: '/system.slice/vm.service' });
  // cpuacct alone is not the cpu controller
  assert.equal(value(parseCgroup('2:cpuacct:/a\n1:cpu:/b\n')), { v1Cpu: '/b', v2: null });
  isMalformed(parseCgroup(''), 'empty');
  isMalformed(parseCgroup('garbage\n'), 'garbage');
  isMalformed(parseCgroup('x:cpu:/a\n'), 'bad hierarchy id');
  isMalformed(parseCgroup('1:cpu:relative\n'), 'relative path');
});

test('what discovery reads: cgroup lines, UTF-8 names, btime and forks without the cpu line', () => {
  // The v1 controller list names the mount; there is one cpu line at most.
  const lines = value(parseCgroupLines('12:pids:/x\n3:cpu,cpuacct:/m/vm\n0::/u\n'));
  assert.equal(lines, [
    { hierarchyId: 12, controllers: ['pids'], path: '/x' },
    { hierarchyId: 3, controllers: ['cpu', 'cpuacct'], path: '/m/vm' },
    { hierarchyId: 0, controllers: [], path: '/u' },
  ]);
  assert.equal(cpuCgroupLines(lines), { v1: lines[1], v2: lines[2] });
  isMalformed(parseCgroupLines(''), 'empty');
  // Directory and interface names are UTF-8 in the bytes as read.
  assert.equal(value(parseCgroup(Buffer.from('0::/machine.slice/vm-\u00e9\n'))), { v1Cpu: null, v2: '/machine.slice/vm-\u00e9' });
  assert.is(value(parseFdinfo(Buffer.from('pos:\t0\nflags:\t0104002\niff:\ttap-\u00e9\n'))).iff, 'tap-\u00e9');
  // btime and processes stand on their own lines: a truncated cpu line stops the host reader only.
  const stat = 'cpu 1 2\nbtime 1700000000\nprocesses 12416\n';
  assert.equal(value(parseStatCounters(stat)), { btime: 1700000000, processes: 12416 });
  isMalformed(parseHostStat(stat), 'truncated cpu line');
  assert.equal(value(parseStatCounters('intr 0\n')), { btime: null, processes: null });
  isMalformed(parseStatCounters('processes -1\n'), 'negative forks');
  isMalformed(parseStatCounters('btime x\nprocesses 1\n'), 'bad btime');
  const host = value(parseStatCounters(fixture('stat-host.txt')));
  assert.equal(host, { btime: 1795312206, processes: 15687 });
  assert.is(host.btime, value(parseHostStat(fixture('stat-host.txt'))).btime);
});

test('cgroup cpu.stat v1 (ns) and v2 (usec -> ns)', () => {
  const v1 = 'nr_periods 120\nnr_throttled 7\nthrottled_time 350000000\n';
  assert.equal(value(parseCpuStatV1(v1)), { periods: 120, throttledPeriods: 7, throttledNs: 350000000 });
  const v2 = 'usage_usec 9000\nuser_usec 6000\nsystem_usec 3000\nnr_periods 120\nnr_throttled 7\nthrottled_usec 350000\n';
  assert.equal(value(parseCpuStatV2(v2)), { periods: 120, throttledPeriods: 7, throttledNs: 350000000 });
  assert.equal(value(parseCgroupCpuStat(v2, 2)), value(parseCgroupCpuStat(v1, 1)));
  const noCtl = parseCpuStatV2('usage_usec 9000\nuser_usec 6000\nsystem_usec 3000\n');
  assert.is(noCtl.ok ? 'ok' : noCtl.kind, 'missing');
  isMalformed(parseCpuStatV1('nr_periods 120\n'), 'truncated');
  isMalformed(parseCpuStatV1('nr_periods -1\nnr_throttled 7\nthrottled_time 3\n'), 'negative');
  isMalformed(parseCpuStatV2(`nr_periods 1\nnr_throttled 1\nthrottled_usec ${2 ** 50}\n`), 'usec*1000 beyond 2^53');
  isMalformed(parseCpuStatV1('blah'), 'garbage');
});

test('host /proc/stat', () => {
  const s = value(parseHostStat(fixture('stat-host.txt')));
  assert.equal(s.cpu, { user: 41218, nice: 0, system: 7140, idle: 113261, iowait: 842, irq: 0, softirq: 243, steal: 1587, guest: 0, guestNice: 0 });
  assert.is(s.cpuCount, 2);
  assert.type(s.btime, 'number');
  assert.ok(s.btime! > 1_500_000_000);
  isMalformed(parseHostStat('cpu  1 2 3\n'), 'truncated cpu line');
  isMalformed(parseHostStat('cpu  1 2 3 -4 5 6 7 8 9 10\n'), 'negative');
  isMalformed(parseHostStat(`cpu  1 2 3 ${TOO_BIG} 5 6 7 8 9 10\n`), 'huge');
  isMalformed(parseHostStat('intr 0\n'), 'no cpu line');
});

test('meminfo: kB to bytes', () => {
  const m = value(parseMeminfo(fixture('meminfo.txt')));
  assert.is(m.memTotalBytes, 24684096 * 1024);
  assert.is(m.memFreeBytes, 23758952 * 1024);
  assert.is(m.memAvailableBytes, 24001104 * 1024);
  assert.is(m.buffersBytes, 4804 * 1024);
  assert.is(m.cachedBytes, 413544 * 1024);
  assert.is(m.swapTotalBytes, 0);
  assert.is(m.swapFreeBytes, 0);
  assert.is(m.all.MemTotal, m.memTotalBytes);
  assert.not.ok('HugePages_Total' in m.all);
  const old = value(parseMeminfo('MemTotal: 100 kB\nMemFree: 50 kB\nBuffers: 1 kB\nCached: 2 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n'));
  assert.is(old.memAvailableBytes, null);
  isMalformed(parseMeminfo('MemTotal: 100 kB\n'), 'truncated');
  isMalformed(parseMeminfo('MemTotal: -100 kB\nMemFree: 50 kB\n'), 'negative');
  isMalformed(parseMeminfo(`MemTotal: ${TOO_BIG} kB\n`), 'huge');
});

test('loadavg and uptime', () => {
  assert.equal(value(parseLoadavg('0.12 0.49 0.36 2/140 10726\n')), { load1: 0.12, load5: 0.49, load15: 0.36, runnable: 2, entities: 140, lastPid: 10726 });
  isMalformed(parseLoadavg('0.12 0.49\n'), 'truncated');
  isMalformed(parseLoadavg('0.12 -0.49 0.36 2/140 10726\n'), 'negative');
  isMalformed(parseLoadavg('0.12 0.49 0.36 2-140 10726\n'), 'garbage');
  assert.equal(value(parseUptime('632.12 846.92\n')), { uptimeSeconds: 632.12, idleSeconds: 846.92 });
  isMalformed(parseUptime('632.12\n'), 'truncated');
  isMalformed(parseUptime('abc def\n'), 'garbage');
  isMalformed(parseUptime('-5.00 1.00\n'), 'negative');
});

test('cpuinfo', () => {
  const c = value(parseCpuinfo(fixture('cpuinfo.txt')));
  assert.is(c.count, 2);
  assert.is(c.modelName, 'Intel(R) Xeon(R) Processor @ 2.50GHz');
  assert.is(c.mhz, 2499.998);
  const arm = value(parseCpuinfo('processor\t: 0\nBogoMIPS\t: 50.00\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n'));
  assert.equal(arm, { modelName: null, mhz: null, count: 2 });
  isMalformed(parseCpuinfo('garbage'), 'no processors');
  isMalformed(parseCpuinfo('processor\t: 0\ncpu MHz\t\t: fast\n'), 'bad MHz');
});

test('mounts: pseudo and network filesystems filtered, octal escapes decoded', () => {
  const all = value(parseMounts(fixture('mounts.txt')));
  assert.is(all.length, 13);
  const real = value(parseRealMounts(fixture('mounts.txt')));
  assert.equal(real.map((m) => m.mountPoint), ['/', '/boot/efi', '/var/lib/libvirt/images', '/srv/vm images']);
  assert.is(real[0]!.device, '/dev/nvme0n1p2');
  assert.is(real[0]!.fsType, 'ext4');
  isMalformed(parseMounts('/dev/sda1 / ext4\n'), 'truncated');
  isMalformed(parseMounts('/dev/sda1 relative ext4 rw 0 0\n'), 'relative mount point');
});

test('os-release', () => {
  assert.is(value(parseOsRelease(fixture('os-release.txt'))).prettyName, 'Debian GNU/Linux 12 (bookworm)');
  assert.is(value(parseOsRelease("NAME=Foo\nPRETTY_NAME='Foo 1'\n")).prettyName, 'Foo 1');
  assert.is(value(parseOsRelease('PRETTY_NAME="Say \\"hi\\""\n')).prettyName, 'Say "hi"');
  assert.is(value(parseOsRelease('# nothing\nNAME=Bar\n')).prettyName, 'Linux');
});

test('KeptFile: pread at 0 sees new content, grows the shared buffer, close is idempotent', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-kept-'));
  try {
    const path = join(dir, 'f');
    const other = join(dir, 'g');
    // Larger than the thread's read buffer (16 KiB at first): it grows, and the content is whole.
    const big = 'x'.repeat(100_000) + 'END';
    writeFileSync(path, 'first');
    writeFileSync(other, 'aaaa1');
    const kf = value(KeptFile.open(path, false));
    const kg = value(KeptFile.open(other, false));
    assert.is(value(kf.read()).toString(), 'first');
    assert.is(value(kg.read()).toString(), 'aaaa1');
    writeFileSync(path, big);
    assert.is(value(kf.read()).toString(), big);
    // Same length as g's last answer, read after the buffer grew: a view kept from before the
    // growth would still say aaaa1.
    writeFileSync(other, 'bbbb2');
    assert.is(value(kg.read()).toString(), 'bbbb2');
    writeFileSync(path, 'short');
    assert.is(value(kf.read()).toString(), 'short');
    assert.is(value(kg.read()).toString(), 'bbbb2', 'files read in turn through one buffer each get their own content');
    kf.close();
    kf.close();
    kg.close();
    const after = kf.read();
    assert.is(after.ok ? 'ok' : after.kind, 'io');

    // A real procfs file comes back whole.
    const status = value(KeptFile.open('/proc/self/status', true));
    const text = value(status.read()).toString();
    assert.ok(text.startsWith('Name:'));
    assert.ok(text.includes('\nVmRSS:'), 'complete status');
    status.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors map to kinds: /proc ENOENT is gone, sysfs ENOENT is missing', () => {
  const gone = KeptFile.open('/proc/999999999/stat', true);
  assert.is(gone.ok ? 'ok' : gone.kind, 'gone');
  const missing = KeptFile.open('/sys/class/net/vpt-none-xyz/statistics/rx_bytes', false);
  assert.is(missing.ok ? 'ok' : missing.kind, 'missing');
  const once = readOnce('/proc/999999999/status', true);
  assert.is(once.ok ? 'ok' : once.kind, 'gone');
  assert.ok(value(readOnce('/proc/self/stat', true)).toString().startsWith(`${process.pid} (`));
});

test('roots come from the environment', () => {
  assert.equal(rootsFromEnv({}), { procRoot: '/proc', sysRoot: '/sys' });
  assert.equal(rootsFromEnv({ VMPULSE_PROC_ROOT: '/tmp/p', VMPULSE_SYS_ROOT: '/tmp/s' }), { procRoot: '/tmp/p', sysRoot: '/tmp/s' });
});

test('net/dev: only the wanted interfaces, odd names (UTF-8, long, punctuation), exact counters', () => {
  const head = 'Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';
  const line = (name: string, base: number) =>
    `${name.padStart(6)}: ${Array.from({ length: 16 }, (_, i) => String(base + i).padStart(7)).join(' ')}\n`;
  const tapü = 'tap-\u00fc\u00df#1'; // UTF-8 bytes in the name, as a kernel name may hold
  const long15 = 'vm.a-b_c@d+e=fx'; // 15 bytes: no padding left, counters right after ': '
  const text = head + line('lo', 0) + line(tapü, 100) + line(long15, 200) + '  eth0: 9007199254740991 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n' + line('x', 300);
  const buf = Buffer.from(text, 'utf8');
  const got = value(parseNetDev(buf, new Set([tapü, long15, 'eth0', 'absent0'])));
  assert.equal([...got.keys()], [tapü, long15, 'eth0']);
  assert.equal(got.get(tapü), { name: tapü, rxBytes: 100, rxPackets: 101, rxErrs: 102, rxDrop: 103, txBytes: 108, txPackets: 109, txErrs: 110, txDrop: 111 });
  assert.equal(got.get(long15)!.txDrop, 211);
  assert.is(got.get('eth0')!.rxBytes, 9007199254740991, '2^53 - 1 exactly');
  // An unwanted bad line is not parsed; a wanted one makes the read malformed, never a 0.
  const bad = head + line('lo', 0) + 'vpt9: 1 2 3\n';
  assert.equal([...value(parseNetDev(bad, new Set(['lo']))).keys()], ['lo']);
  isMalformed(parseNetDev(bad, new Set(['vpt9'])), 'short wanted line');
  isMalformed(parseNetDev(head + line('vpt9', 0).replace('      3 ', ` ${TOO_BIG} `), new Set(['vpt9'])), 'huge drop counter');
  isMalformed(parseNetDev(head + line('vpt9', 0).replace('      9 ', ' -9 '), new Set(['vpt9'])), 'negative tx packets');
  isMalformed(parseNetDev('vpt9: 1 2\n', null), 'no header');
});

test('parsePressure: some and full totals in µs; a cpu.pressure without full (before 5.13) is null, never 0', () => {
  const text = 'some avg10=1.50 avg60=0.20 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=789\n';
  assert.equal(value(parsePressure(text)), { someUs: 123456, fullUs: 789 });
  assert.equal(value(parsePressure('some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n')), { someUs: 5, fullUs: null });
  assert.is(value(parsePressure(`some avg10=0.00 avg60=0.00 avg300=0.00 total=9007199254740991\n`)).someUs, 9007199254740991);
  isMalformed(parsePressure(`some avg10=0.00 avg60=0.00 avg300=0.00 total=${TOO_BIG}\n`), 'huge');
  isMalformed(parsePressure('full avg10=0.00 avg60=0.00 avg300=0.00 total=1\n'), 'no some');
  isMalformed(parsePressure('some total=1\n'), 'no averages');
});

test.run();
