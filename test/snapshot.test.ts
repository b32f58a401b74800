// `vmpulse snapshot --json` end to end against real processes: two real QEMUs (TAP by name, and
// by fd as libvirt does it) and stand-ins for Cloud Hypervisor, Firecracker (config file; API
// socket only) and crosvm that hold real TAPs and push known byte counts through them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { distRoot } from '../src/paths.js';
import { needs } from './helpers/needs.js';
import { startStandin, waitWritersDone, type Standin } from './helpers/standin.js';
import { createTap, deleteTap, sendFramesToTap, tapCounters, uniqueTapName } from './helpers/tap.js';
import { startQemu, type Qemu } from './helpers/qemu.js';
import { clockTicks, cpuTicks, pageSize, startOddComm, waitFor } from './helpers/procs.js';
import { INSTANCE_STATS_KEYS } from '../src/agent/instance-stats.js';
import { Discovery } from '../src/discover/scan.js';
import { VmReader } from '../src/collect/vm-reader.js';
import type { InstanceStats } from '../src/agent/instance-stats.js';
import { systemConstants } from '../src/readers/system.js';

const cli = join(distRoot, 'src', 'cli.js');

/** What `snapshot --json` prints per VM: the reader's InstanceStats plus the read errors. */
interface SnapInstance extends InstanceStats {
  starttime: number;
  read_errors: { field: string; kind: string }[];
}

function snapshot(opts: { uid?: number } = {}): Promise<{ host: Record<string, unknown>; instances: SnapInstance[]; errors: unknown[] }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [cli, 'snapshot', '--json'],
      { timeout: 30_000, maxBuffer: 16 << 20, uid: opts.uid, gid: opts.uid },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`snapshot failed: ${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout));
        } catch (e) {
          reject(new Error(`snapshot printed no JSON: ${String(e)}\n${stdout.slice(0, 500)}`));
        }
      },
    );
  });
}

const byPid = (snap: { instances: SnapInstance[] }, pid: number) => snap.instances.find((i) => i.pid === pid);

const s = suite('snapshot');

s('the seed InstanceStats fields and ours, each equal to the kernel\'s value for a known VM; host facts; exits 0', async () => {
  if (!(await needs('snapshot fields of a known VM', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-seed-'));
  const id = `cv-seed-${process.pid}`;
  mkdirSync(join(dir, id));
  let st: Standin | undefined;
  try {
    // An idle crosvm stand-in without TAPs: its counters stand still while the test reads them.
    st = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '2', '--mem', '384', '--socket', `${dir}/${id}/crosvm.sock`, '/boot/vmlinux'], threads: 2 });
    const pid = st.pid;
    const before = cpuTicks(pid);
    const snap = await snapshot();
    const after = cpuTicks(pid);
    assert.is(snap.host.Hostname, hostname());
    assert.is(snap.host.clock_ticks_per_second, clockTicks());
    assert.is(snap.host.page_size, pageSize());
    const vm = byPid(snap, pid);
    assert.ok(vm, `stand-in pid ${pid} not in snapshot`);
    const ours = ['hypervisor', 'pid', 'tap_devices', 'vcpu_threads', 'memory_swap_bytes', 'memory_peak_rss_bytes', 'disk_read_bytes', 'disk_write_bytes', 'id_source', 'starttime', 'read_errors',
      'network_rx_packets', 'network_tx_packets', 'network_rx_errors', 'network_tx_errors', 'network_rx_dropped', 'network_tx_dropped', 'taps', 'pressure', 'pressure_unavailable'];
    // The hypervisor's device view (README "Per-disk I/O and guest memory"): crosvm has none, and says so.
    ours.push('disks', 'balloon', 'device_sources', 'device_measured', 'devices_read_at_ms');
    assert.equal(Object.keys(vm).sort(), [...INSTANCE_STATS_KEYS, ...ours].sort());
    const dv = vm as unknown as { disks: unknown; balloon: unknown; device_measured: string[] };
    assert.is(dv.disks, null);
    assert.is(dv.balloon, null);
    assert.equal(dv.device_measured, ['crosvm: no per-disk or balloon source is read for this hypervisor']);
    assert.is(vm.instance_id, id);
    assert.is(vm.instance_name, id);
    assert.is(vm.hypervisor, 'crosvm');
    assert.is(vm.pid, pid);
    assert.is(vm.allocated_vcpus, 2);
    assert.is(vm.allocated_memory_bytes, 384 * 1048576);
    assert.is(vm.vcpu_threads, 2);
    assert.equal(vm.tap_devices, []);
    assert.is(vm.network_rx_bytes, 0);
    assert.is(vm.network_tx_bytes, 0);
    assert.equal([vm.network_rx_packets, vm.network_tx_packets, vm.network_rx_errors, vm.network_tx_errors, vm.network_rx_dropped, vm.network_tx_dropped], [0, 0, 0, 0, 0, 0]);
    assert.equal(vm.taps, []);
    // The stand-in shares the test's cgroup (or the root one): no pressure of its own, and why.
    assert.is(vm.pressure, null);
    assert.match(vm.pressure_unavailable!, /root cgroup|other processes|not mounted|v1 only/);
    const tick = 1 / clockTicks();
    assert.ok(vm.cpu_seconds >= before * tick - 1e-9 && vm.cpu_seconds <= after * tick + 1e-9, `${vm.cpu_seconds} not in [${before * tick}, ${after * tick}]`);
    const [vmsPages, rssPages] = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ').map(Number);
    assert.is(vm.memory_rss_bytes, rssPages! * pageSize());
    assert.is(vm.memory_vms_bytes, vmsPages! * pageSize());
    assert.is(vm.memory_utilization_ratio, vm.memory_rss_bytes / (384 * 1048576));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)![1]) * 1024;
    assert.is(vm.memory_swap_bytes, kib('VmSwap'));
    assert.is(vm.memory_peak_rss_bytes, kib('VmHWM'));
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const ioField = (field: string) => Number(new RegExp(`^${field}: (\\d+)$`, 'm').exec(io)![1]);
    assert.is(vm.disk_read_bytes, ioField('read_bytes'));
    assert.is(vm.disk_write_bytes, ioField('write_bytes'));
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    assert.is(vm.starttime, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]));
    assert.equal(vm.read_errors, []);
  } finally {
    await st?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s('real QEMU by ifname: id, name, 2 vCPUs, 256 MiB, its TAP, 2 vCPU threads, exact CPU seconds and bytes', async () => {
  if (!(await needs('snapshot of a real QEMU', 'root', 'tun', 'qemu'))) return;
  const tap = createTap(uniqueTapName());
  const uuid = randomUUID();
  const name = `vpt-q-${process.pid}`;
  let q: Qemu | undefined;
  try {
    // Wired (helpers/qemu.ts): QEMU itself reads the TAP and writes into it, whatever the guest does.
    q = await startQemu({ name, uuid, smp: 2, memMiB: 256, tap, running: true, wire: true });
    const wire = q.wire!;
    const k0 = tapCounters(tap);
    const pushed = await sendFramesToTap(tap, 9, 1000);
    const sent = await wire.send(5, 1111);
    await waitFor(() => wire.received().bytes === pushed && tapCounters(tap).rx_bytes - k0.rx_bytes === sent, 10_000, 'QEMU to read and write the frames');
    const before = cpuTicks(q.pid);
    const snap = await snapshot();
    const after = cpuTicks(q.pid);
    const vm = byPid(snap, q.pid);
    assert.ok(vm, `QEMU pid ${q.pid} not in snapshot: ${JSON.stringify(snap.instances.map((i) => i.pid))}`);
    assert.is(vm.hypervisor, 'qemu');
    assert.is(vm.instance_id, uuid);
    assert.is(vm.instance_name, name);
    assert.is(vm.allocated_vcpus, 2);
    assert.is(vm.allocated_memory_bytes, 268435456);
    assert.equal(vm.tap_devices, [tap]);
    assert.is(vm.vcpu_threads, 2);
    // The kernel's own utime+stime, read just before and after: the snapshot lies between them
    // (one tick of slack each side for the read's own instant).
    const tick = 1 / clockTicks();
    assert.ok(vm.cpu_seconds >= before * tick - tick && vm.cpu_seconds <= after * tick + tick, `${vm.cpu_seconds} not in [${before * tick}, ${after * tick}]`);
    assert.ok(vm.memory_rss_bytes > 0 && vm.memory_vms_bytes >= vm.memory_rss_bytes);
    assert.is(vm.memory_utilization_ratio, vm.memory_rss_bytes / 268435456);
    assert.type(vm.disk_read_bytes, 'number');
    // Only the test moves this TAP, so the VM's view is exact: what it received is the TAP's tx.
    const k = tapCounters(tap);
    assert.is(k.tx_bytes - k0.tx_bytes, pushed);
    assert.is(k.rx_bytes - k0.rx_bytes, sent);
    assert.is(vm.network_rx_bytes, k.tx_bytes);
    assert.is(vm.network_tx_bytes, k.rx_bytes);
    const sys = (c: string) => Number(readFileSync(`/sys/class/net/${tap}/statistics/${c}`, 'utf8'));
    assert.is(vm.network_rx_packets, k.tx_packets);
    assert.is(vm.network_tx_packets, k.rx_packets);
    assert.equal([vm.network_rx_errors, vm.network_tx_errors, vm.network_rx_dropped, vm.network_tx_dropped],
      [sys('tx_errors'), sys('rx_errors'), sys('tx_dropped'), sys('rx_dropped')]);
    assert.equal(vm.taps, [{ name: tap, rx_bytes: k.tx_bytes, tx_bytes: k.rx_bytes, rx_packets: k.tx_packets, tx_packets: k.rx_packets,
      rx_errors: sys('tx_errors'), tx_errors: sys('rx_errors'), rx_dropped: sys('tx_dropped'), tx_dropped: sys('rx_dropped') }]);
  } finally {
    await q?.stop();
    deleteTap(tap);
  }
});

s('real QEMU given its TAP by fd (libvirt style): the TAP is found through fdinfo only', async () => {
  if (!(await needs('snapshot of a QEMU with an fd-passed TAP', 'root', 'tun', 'qemu', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  const uuid = randomUUID();
  let q: Qemu | undefined;
  try {
    q = await startQemu({ name: `vpt-fd-${process.pid}`, uuid, smp: 1, memMiB: 128, tapByFd: tap });
    assert.not.ok(q.args.join(' ').includes(tap), 'the TAP name must not be on the command line');
    const vm = byPid(await snapshot(), q.pid);
    assert.ok(vm);
    assert.is(vm.instance_id, uuid);
    assert.equal(vm.tap_devices, [tap]);
    assert.is(vm.allocated_vcpus, 1);
    assert.is(vm.allocated_memory_bytes, 128 * 1048576);
  } finally {
    await q?.stop();
    deleteTap(tap);
  }
});

interface StandinCase {
  kind: 'cloud-hypervisor' | 'firecracker' | 'crosvm';
  label: string;
  argv: (tap: string, dir: string) => string[];
  setup?: (tap: string, dir: string) => { apiSocket?: string; apiBody?: object };
  id: string;
  name: string;
  vcpus: number;
  memory: number;
}

const cases: StandinCase[] = [
  {
    kind: 'cloud-hypervisor',
    label: 'Cloud Hypervisor with its full command line',
    argv: (tap, dir) => ['--api-socket', `path=${dir}/ch-web-1/api.sock`, '--cpus', 'boot=2,max=4', '--memory', 'size=256M,hotplug_size=256M', '--kernel', '/var/lib/ch/vmlinux', '--net', `tap=${tap},mac=02:00:00:00:00:01`],
    setup: (_t, dir) => (mkdirSync(join(dir, 'ch-web-1')), {}),
    id: 'ch-web-1',
    name: 'ch-web-1',
    vcpus: 2,
    memory: 512 * 1048576,
  },
  {
    kind: 'firecracker',
    label: 'Firecracker with a config file',
    // Orchestrators keep a folder per VM; the folder named like --id keeps name = id.
    argv: (_tap, dir) => ['--id', 'fc-cfg-1', '--api-sock', `${dir}/fc-cfg-1/firecracker.socket`, '--config-file', `${dir}/vm.json`],
    setup: (tap, dir) => {
      mkdirSync(join(dir, 'fc-cfg-1'));
      writeFileSync(join(dir, 'vm.json'), JSON.stringify({
        'boot-source': { kernel_image_path: '/var/lib/fc/vmlinux' },
        'machine-config': { vcpu_count: 2, mem_size_mib: 192 },
        'network-interfaces': [{ iface_id: 'eth0', host_dev_name: tap }],
      }));
      return {};
    },
    id: 'fc-cfg-1',
    name: 'fc-cfg-1',
    vcpus: 2,
    memory: 192 * 1048576,
  },
  {
    kind: 'firecracker',
    label: 'Firecracker with only an API socket that answers GET /vm/config',
    argv: (_tap, dir) => ['--api-sock', `${dir}/fc-api-1/firecracker.socket`],
    setup: (tap, dir) => {
      mkdirSync(join(dir, 'fc-api-1'));
      return {
        apiSocket: `${dir}/fc-api-1/firecracker.socket`,
        apiBody: { 'machine-config': { vcpu_count: 3, mem_size_mib: 320 }, 'network-interfaces': [{ iface_id: 'eth0', host_dev_name: tap }] },
      };
    },
    id: 'fc-api-1',
    name: 'fc-api-1',
    vcpus: 3,
    memory: 320 * 1048576,
  },
  {
    kind: 'crosvm',
    label: 'crosvm',
    argv: (tap, dir) => ['run', '--cpus', '2', '--mem', '384', '--socket', `${dir}/cv-1/crosvm.sock`, '--net', `tap-name=${tap}`, '/boot/vmlinux'],
    setup: (_t, dir) => (mkdirSync(join(dir, 'cv-1')), {}),
    id: 'cv-1',
    name: 'cv-1',
    vcpus: 2,
    memory: 384 * 1048576,
  },
];

for (const c of cases) {
  s(`${c.label}: identity, allocation, TAP, vCPU threads, and every byte pushed through the TAP`, async () => {
    if (!(await needs(`snapshot of a ${c.label} stand-in`, 'root', 'tun', 'cc'))) return;
    const tap = createTap(uniqueTapName());
    const dir = mkdtempSync(join(tmpdir(), 'vpt-snap-'));
    let st: Standin | undefined;
    try {
      const extra = c.setup?.(tap, dir) ?? {};
      const sent = 123_457; // the VM's transmit: not a multiple of the frame size on purpose
      const frames = 7;
      st = await startStandin({ kind: c.kind, argv: c.argv(tap, dir), threads: c.vcpus, taps: [tap], txTotal: sent, txBytesPerSec: 1_000_000, ...extra });
      await waitWritersDone(st);
      const pushed = await sendFramesToTap(tap, frames, 1000);
      await waitFor(async () => (await st!.status()).taps[0]!.read_bytes === pushed, 5000, 'stand-in to read every host frame');
      const k = tapCounters(tap);
      const snap = await snapshot();
      const vm = byPid(snap, st.pid);
      assert.ok(vm, `${c.kind} pid ${st.pid} not found`);
      assert.is(vm.hypervisor, c.kind);
      assert.is(vm.instance_id, c.id);
      assert.is(vm.instance_name, c.name);
      assert.is(vm.allocated_vcpus, c.vcpus);
      assert.is(vm.allocated_memory_bytes, c.memory);
      assert.equal(vm.tap_devices, [tap]);
      assert.is(vm.vcpu_threads, c.vcpus);
      // The VM's view: what it sent is the TAP's rx, what it received the TAP's tx — to the byte.
      assert.is(vm.network_tx_bytes, k.rx_bytes);
      assert.is(vm.network_rx_bytes, k.tx_bytes);
      assert.is(vm.network_tx_bytes, sent);
      assert.is(vm.network_rx_bytes, pushed);
    } finally {
      await st?.stop();
      deleteTap(tap);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

s('a VM that exits between discovery and the read is reported gone, never as zeros', async () => {
  if (!(await needs('VM exiting between discovery and read', 'root', 'tun', 'cc'))) return;
  const tap = createTap(uniqueTapName());
  const dir = mkdtempSync(join(tmpdir(), 'vpt-gone-'));
  mkdirSync(join(dir, 'cv-gone'));
  let st: Standin | undefined;
  try {
    st = await startStandin({ kind: 'crosvm', argv: ['run', '--cpus', '1', '--mem', '64', '--socket', `${dir}/cv-gone/c.sock`, '--net', `tap-name=${tap}`, '/k'], threads: 1, taps: [tap] });
    const scan = await new Discovery({}).scan();
    const vm = scan.all.find((v) => v.pid === st!.pid);
    assert.ok(vm);
    const reader = new VmReader(vm, { constants: systemConstants() });
    assert.ok(reader.read().ok);
    await st.stop();
    const r = reader.read();
    assert.is(r.ok, false);
    if (!r.ok) assert.is(r.kind, 'gone');
    reader.close();
    // A reused PID: the same pid with another starttime is another process.
    const alive = await startOddComm();
    try {
      const impostor = { ...vm, pid: alive.pid, key: `${alive.pid}:${vm.starttime}` };
      const r2 = new VmReader(impostor, { constants: systemConstants() }).read();
      assert.is(r2.ok, false);
      if (!r2.ok) assert.is(r2.kind, 'gone');
    } finally {
      await alive.stop();
    }
    assert.not.ok(byPid(await snapshot(), st.pid));
  } finally {
    await st?.stop();
    deleteTap(tap);
    rmSync(dir, { recursive: true, force: true });
  }
});

s('an unprivileged snapshot still finds QEMU; what it may not read is null with "denied", not 0', async () => {
  if (!(await needs('unprivileged snapshot', 'root', 'qemu'))) return;
  const uuid = randomUUID();
  let q: Qemu | undefined;
  const odd = await startOddComm();
  try {
    q = await startQemu({ name: `vpt-np-${process.pid}`, uuid, smp: 1, memMiB: 64 });
    const vm = byPid(await snapshot({ uid: 65534 }), q.pid);
    assert.ok(vm, 'QEMU found by argv[0] even when its exe link is unreadable');
    assert.is(vm.instance_id, uuid);
    assert.is(vm.disk_read_bytes, null);
    assert.is(vm.disk_write_bytes, null);
    assert.ok(vm.read_errors.some((e) => e.field === 'diskReadBytes' && e.kind === 'denied'), JSON.stringify(vm.read_errors));
    assert.ok(vm.cpu_seconds >= 0 && vm.memory_rss_bytes > 0);
  } finally {
    await q?.stop();
    await odd.stop();
  }
});

s.run();
