// Per-disk I/O and the guest's balloon figures (issue 19, items 1 and 4): the parsers on the
// sources' real formats, Firecracker's metrics file followed across rounds (and a FIFO never
// opened), a real libvirt domain whose disk counters `vmpulse snapshot` must report exactly as
// `virsh domstats --block` reads them around it, and Cloud Hypervisor / Firecracker stand-ins
// serving vm.counters and /balloon/statistics on their API sockets and writing a metrics file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import { appendFileSync, constants, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distRoot } from '../src/paths.js';
import { needs } from './helpers/needs.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { waitFor } from './helpers/procs.js';
import { createDomain, domstats, ensureLibvirtd, type Domain, type LibvirtDaemons } from './helpers/libvirt.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { Receiver, schemaErrors } from './helpers/receiver.js';
import { parseDomstats } from '../src/collect/disks/parse-domstats.js';
import { parseChCounters } from '../src/collect/disks/parse-ch-counters.js';
import { parseFcBalloonStats, parseFcMetricsLine } from '../src/collect/disks/parse-fc.js';
import { FcMetricsFile } from '../src/collect/disks/fc-metrics-file.js';
import type { DevicesJson } from '../src/collect/disks/present.js';
import { diskDeltas } from '../src/collect/disks/device-poller.js';
import { mergeInstanceWindows } from '../src/ship/window-merge.js';
import { ENGINES, engineReady, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, startTestServer } from './helpers/server.js';

const cli = join(distRoot, 'src', 'cli.js');
const MiB = 1024 * 1024;

interface SnapVm extends DevicesJson {
  pid: number;
  instance_id: string;
  instance_name: string;
  memory_rss_bytes: number;
}

function snapshot(env: Record<string, string> = {}): Promise<{ instances: SnapVm[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, 'snapshot', '--json'], { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`snapshot failed: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (e) {
        reject(new Error(`snapshot printed no JSON: ${String(e)}`));
      }
    });
  });
}

const s = suite('disks');

s('virsh domstats --raw: disks by target dev, backing chain once, balloon KiB → bytes', () => {
  const text = `Domain: 'web1'
  balloon.current=1048576
  balloon.maximum=1048576
  balloon.swap_in=8
  balloon.swap_out=16
  balloon.major_fault=3
  balloon.minor_fault=400
  balloon.unused=524288
  balloon.available=1000000
  balloon.usable=700000
  balloon.disk_caches=1000
  balloon.last-update=1700000000
  block.count=3
  block.0.name=vda
  block.0.backingIndex=1
  block.0.rd.reqs=10
  block.0.rd.bytes=40960
  block.0.rd.times=123
  block.0.wr.reqs=2
  block.0.wr.bytes=8192
  block.0.wr.times=45
  block.0.fl.reqs=1
  block.0.fl.times=6
  block.1.name=vda
  block.1.backingIndex=2
  block.1.rd.reqs=99
  block.1.rd.bytes=99
  block.1.wr.reqs=99
  block.1.wr.bytes=99
  block.2.name=sdb
  block.2.path=/dev/cdrom

Domain: 'idle'
  balloon.current=65536
`;
  const r = parseDomstats(text);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.is(r.value.length, 2);
  const [web, idle] = r.value;
  assert.equal(web!.disks, [{ device: 'vda', readBytes: 40960, writeBytes: 8192, readOps: 10, writeOps: 2, flushOps: 1, readTimeNs: 123, writeTimeNs: 45, flushTimeNs: 6 }]);
  assert.equal(web!.balloon, {
    actualBytes: 1048576 * 1024,
    availableBytes: 1000000 * 1024,
    usableBytes: 700000 * 1024,
    unusedBytes: 524288 * 1024,
    diskCachesBytes: 1000 * 1024,
    swapInBytes: 8 * 1024,
    swapOutBytes: 16 * 1024,
    majorFaults: 3,
    minorFaults: 400,
  });
  assert.equal(idle!.disks, []);
  assert.is(idle!.balloon.actualBytes, 65536 * 1024);
  assert.is(idle!.balloon.usableBytes, null);
  assert.is(parseDomstats('block.count=1\n').ok, false);
});

s('Cloud Hypervisor vm.counters: block devices only, net devices left out', () => {
  const r = parseChCounters({
    _disk0: { read_bytes: 1536, write_bytes: 4096, read_ops: 3, write_ops: 1 },
    _net1: { rx_bytes: 10, tx_bytes: 20, rx_frames: 1, tx_frames: 2 },
    data: { read_bytes: 7, write_bytes: 0, read_ops: 1, write_ops: 0, read_latency_min: 5 },
  });
  assert.ok(r.ok);
  if (r.ok) {
    assert.equal(r.value.map((d) => [d.device, d.readBytes, d.writeBytes, d.readOps, d.writeOps]), [
      ['_disk0', 1536, 4096, 3, 1],
      ['data', 7, 0, 1, 0],
    ]);
  }
  assert.is(parseChCounters([]).ok, false);
});

s('Firecracker: metrics lines are deltas per drive; balloon statistics in bytes', () => {
  const r = parseFcMetricsLine(JSON.stringify({ utc_timestamp_ms: 1, block: { read_bytes: 9 }, block_rootfs: { read_bytes: 4096, write_bytes: 512, read_count: 2, write_count: 1, flush_count: 1 } }));
  assert.ok(r.ok);
  if (r.ok) assert.equal(r.value, [{ device: 'rootfs', readBytes: 4096, writeBytes: 512, readOps: 2, writeOps: 1, flushOps: 1 }]);
  const agg = parseFcMetricsLine(JSON.stringify({ block: { read_bytes: 9, write_bytes: 0, read_count: 1, write_count: 0 } }));
  assert.ok(agg.ok);
  if (agg.ok) assert.equal(agg.value.map((d) => [d.device, d.readBytes]), [['block', 9]]);
  const b = parseFcBalloonStats({ target_mib: 64, actual_mib: 64, swap_in: 4096, swap_out: 8192, major_faults: 2, minor_faults: 30, free_memory: 10 * MiB, total_memory: 190 * MiB, available_memory: 100 * MiB, disk_caches: 5 * MiB }, 256 * MiB);
  assert.ok(b.ok);
  if (b.ok) {
    assert.equal(b.value, { actualBytes: 192 * MiB, availableBytes: 190 * MiB, usableBytes: 100 * MiB, unusedBytes: 10 * MiB, diskCachesBytes: 5 * MiB, swapInBytes: 4096, swapOutBytes: 8192, majorFaults: 2, minorFaults: 30 });
  }
});

s('Firecracker metrics file: sums every line once across rounds, waits for a partial line, restarts on truncation; a FIFO is never opened', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-fcm-'));
  try {
    const path = join(dir, 'metrics.json');
    const line = (rb: number, wb: number) => JSON.stringify({ block_rootfs: { read_bytes: rb, write_bytes: wb, read_count: 1, write_count: 1, flush_count: 0 } }) + '\n';
    writeFileSync(path, line(100, 10) + line(200, 20));
    const f = new FcMetricsFile(path);
    const totals = () => {
      const r = f.read();
      assert.ok(r.ok, r.ok ? '' : r.detail);
      return r.ok ? r.value.map((d) => [d.device, d.readBytes, d.writeBytes, d.readOps, d.writeOps]) : [];
    };
    assert.equal(totals(), [['rootfs', 300, 30, 2, 2]]);
    assert.equal(totals(), [['rootfs', 300, 30, 2, 2]]);
    const next = line(5, 1);
    appendFileSync(path, next.slice(0, 20));
    assert.equal(totals(), [['rootfs', 300, 30, 2, 2]]);
    appendFileSync(path, next.slice(20));
    assert.equal(totals(), [['rootfs', 305, 31, 3, 3]]);
    truncateSync(path, 0);
    appendFileSync(path, line(7, 0));
    assert.equal(totals(), [['rootfs', 7, 0, 1, 1]]);

    const fifo = join(dir, 'metrics.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = new FcMetricsFile(fifo).read();
    assert.is(r.ok, false);
    if (!r.ok) assert.match(r.detail, /not a regular file/);
    // No reader holds the FIFO: a non-blocking writer's open fails with ENXIO.
    assert.throws(() => closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)), /ENXIO/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

s('deltas between readings: new disks set a baseline, a counter that went down restarts; windows merge per device', () => {
  const d = (device: string, rb: number, wb = 0) => ({ device, readBytes: rb, writeBytes: wb, readOps: 1, writeOps: 0, flushOps: null, readTimeNs: null, writeTimeNs: null, flushTimeNs: null });
  assert.equal(diskDeltas(null, [d('vda', 5)]), []);
  assert.equal(diskDeltas([d('vda', 100, 10)], [d('vda', 150, 10), d('vdb', 7)]), [{ device: 'vda', readBytes: 50, writeBytes: 0, readOps: 0, writeOps: 0 }]);
  assert.equal(diskDeltas([d('vda', 100)], [d('vda', 30)]), [{ device: 'vda', readBytes: 30, writeBytes: 0, readOps: 0, writeOps: 0 }]);
  const base = { Minute: 60, Seconds: 30, Samples: 1, Missed: 0, CPU: null, CPUCore: null, CPUUser: null, CPUSystem: null, VcpuBusy: null, Steal: null, MemoryRSS: null, MemorySwap: null, MemoryUtilization: null, NetIn: 0, NetOut: 0, NetInPackets: 0, NetOutPackets: 0, DiskRead: 0, DiskWrite: 0, ThrottledPeriods: 0, ThrottledTimeNs: 0 };
  const w = (disks?: { Device: string; ReadBytes: number }[]) => ({ ...base, ...(disks ? { Disks: disks.map((x) => ({ ...x, WriteBytes: 1, ReadOps: 2, WriteOps: 3 })) } : {}) });
  assert.equal(mergeInstanceWindows(w([{ Device: 'vda', ReadBytes: 10 }]), w([{ Device: 'vda', ReadBytes: 5 }, { Device: 'sdb', ReadBytes: 1 }])).Disks, [
    { Device: 'sdb', ReadBytes: 1, WriteBytes: 1, ReadOps: 2, WriteOps: 3 },
    { Device: 'vda', ReadBytes: 15, WriteBytes: 2, ReadOps: 4, WriteOps: 6 },
  ]);
  assert.equal(mergeInstanceWindows(w(), w()).Disks, undefined);
  assert.equal(mergeInstanceWindows(w(), w([{ Device: 'vda', ReadBytes: 4 }])).Disks, [{ Device: 'vda', ReadBytes: 4, WriteBytes: 1, ReadOps: 2, WriteOps: 3 }]);
});

const DISK_KEYS = ['rd.bytes', 'wr.bytes', 'rd.reqs', 'wr.reqs', 'fl.reqs', 'rd.times', 'wr.times', 'fl.times'] as const;

s('a real libvirt domain: per-disk bytes and ops equal virsh domstats --block read around the snapshot', async () => {
  if (!(await needs('libvirt domain disks', 'root', 'qemu', 'libvirt'))) return;
  let daemons: LibvirtDaemons | undefined;
  let dom: Domain | undefined;
  try {
    daemons = await ensureLibvirtd();
    dom = await createDomain('vpt-disk');
    // SeaBIOS reads the boot sector of vda, then the guest spins in it: the reads are real.
    await waitFor(async () => Number((await domstats(dom!.name)).get('block.0.rd.bytes')) > 0, 60_000, 'SeaBIOS to read the boot sector', 200);
    let checked = false;
    for (let attempt = 0; attempt < 5 && !checked; attempt++) {
      const before = await domstats(dom.name);
      const snap = await snapshot();
      const after = await domstats(dom.name);
      if (DISK_KEYS.some((k) => before.get(`block.0.${k}`) !== after.get(`block.0.${k}`))) continue; // I/O during the snapshot: read again
      const vm = snap.instances.find((i) => i.pid === dom!.pid);
      assert.ok(vm, `domain pid ${dom.pid} not in the snapshot`);
      assert.is(vm.instance_id, dom.uuid);
      assert.is(vm.instance_name, dom.name);
      assert.equal(vm.device_sources, ['libvirt']);
      const n = (k: string) => Number(after.get(`block.0.${k}`));
      assert.equal(vm.disks, [
        {
          device: 'vda',
          read_bytes: n('rd.bytes'),
          write_bytes: n('wr.bytes'),
          read_ops: n('rd.reqs'),
          write_ops: n('wr.reqs'),
          flush_ops: n('fl.reqs'),
          read_time_ns: n('rd.times'),
          write_time_ns: n('wr.times'),
          flush_time_ns: n('fl.times'),
        },
      ]);
      assert.ok(vm.disks![0]!.read_bytes >= 512);
      // No guest driver reports memory here: the balloon's size only, and Measured says why.
      assert.is(vm.balloon?.actual_bytes, Number(after.get('balloon.current')) * 1024);
      assert.is(vm.balloon?.usable_bytes, null);
      assert.ok(vm.device_measured.some((m) => /no balloon statistics/.test(m)), vm.device_measured.join('; '));
      checked = true;
    }
    assert.ok(checked, 'the domain kept doing I/O during every snapshot');

    // Another libvirt URI answers nothing: Measured names libvirt's failure, disks stay null.
    const other = await snapshot({ VMPULSE_LIBVIRT_URI: 'qemu:///nonexistent-vpt' });
    const vm = other.instances.find((i) => i.pid === dom!.pid);
    assert.ok(vm);
    assert.is(vm.disks, null);
    assert.ok(vm.device_measured.some((m) => m.startsWith('libvirt: ')), vm.device_measured.join('; '));
    // No virsh at all: said as much.
    const noVirsh = (await snapshot({ VMPULSE_VIRSH: '/nonexistent/virsh' })).instances.find((i) => i.pid === dom!.pid);
    assert.is(noVirsh?.disks, null);
    assert.equal(noVirsh?.device_measured, ['libvirt: /nonexistent/virsh is not installed (apt-get install libvirt-clients)']);
  } finally {
    await dom?.destroy();
    await daemons?.stop();
  }
});

s('Cloud Hypervisor and Firecracker stand-ins: vm.counters, the metrics file and /balloon/statistics, exactly', async () => {
  if (!(await needs('hypervisor device counters', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-devs-'));
  const standins: Standin[] = [];
  try {
    mkdirSync(join(dir, 'ch-dsk-1'));
    mkdirSync(join(dir, 'fc-dsk-1'));
    mkdirSync(join(dir, 'fc-fifo-1'));
    const chSock = join(dir, 'ch-dsk-1', 'api.sock');
    const counters = {
      _disk0: { read_bytes: 1048576, write_bytes: 4096, read_ops: 256, write_ops: 1 },
      data1: { read_bytes: 3, write_bytes: 5, read_ops: 7, write_ops: 11 },
      _net2: { rx_bytes: 1, tx_bytes: 2, rx_frames: 3, tx_frames: 4 },
    };
    const ch = await startStandin({
      kind: 'cloud-hypervisor',
      argv: ['--api-socket', `path=${chSock}`, '--cpus', 'boot=1', '--memory', 'size=128M', '--kernel', '/k'],
      threads: 1,
      apiSocket: chSock,
      apiBodies: { '/api/v1/vm.counters': counters },
    });
    standins.push(ch);

    const fcSock = join(dir, 'fc-dsk-1', 'firecracker.socket');
    const metrics = join(dir, 'fc-dsk-1', 'metrics.json');
    const lines = [
      { utc_timestamp_ms: 1, block: { read_bytes: 4608 }, block_rootfs: { read_bytes: 4096, write_bytes: 0, read_count: 8, write_count: 0, flush_count: 0 }, block_scratch: { read_bytes: 512, write_bytes: 1024, read_count: 1, write_count: 2, flush_count: 1 } },
      { utc_timestamp_ms: 2, block_rootfs: { read_bytes: 8192, write_bytes: 512, read_count: 2, write_count: 1, flush_count: 3 }, block_scratch: { read_bytes: 0, write_bytes: 0, read_count: 0, write_count: 0, flush_count: 0 } },
    ];
    writeFileSync(metrics, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(join(dir, 'vm.json'), JSON.stringify({ 'machine-config': { vcpu_count: 1, mem_size_mib: 256 } }));
    const balloon = { target_pages: 16384, actual_pages: 16384, target_mib: 64, actual_mib: 64, swap_in: 4096, swap_out: 0, major_faults: 12, minor_faults: 3400, free_memory: 50 * MiB, total_memory: 188 * MiB, available_memory: 120 * MiB, disk_caches: 30 * MiB };
    const fc = await startStandin({
      kind: 'firecracker',
      argv: ['--id', 'fc-dsk-1', '--api-sock', fcSock, '--config-file', join(dir, 'vm.json'), '--metrics-path', metrics],
      threads: 1,
      apiSocket: fcSock,
      apiBodies: { '/balloon/statistics': balloon },
    });
    standins.push(fc);

    // A Firecracker whose metrics go to a FIFO (the orchestrator reads it): never opened.
    const fifo = join(dir, 'fc-fifo-1', 'metrics.fifo');
    execFileSync('mkfifo', [fifo]);
    const fcFifo = await startStandin({ kind: 'firecracker', argv: ['--id', 'fc-fifo-1', '--no-api', '--metrics-path', fifo], threads: 1 });
    standins.push(fcFifo);

    const snap = await snapshot();
    const chVm = snap.instances.find((i) => i.pid === ch.pid);
    assert.ok(chVm, 'cloud-hypervisor stand-in not found');
    assert.equal(chVm.device_sources, ['cloud-hypervisor']);
    assert.equal(chVm.disks, [
      { device: '_disk0', read_bytes: 1048576, write_bytes: 4096, read_ops: 256, write_ops: 1, flush_ops: null, read_time_ns: null, write_time_ns: null, flush_time_ns: null },
      { device: 'data1', read_bytes: 3, write_bytes: 5, read_ops: 7, write_ops: 11, flush_ops: null, read_time_ns: null, write_time_ns: null, flush_time_ns: null },
    ]);
    assert.is(chVm.balloon, null);
    assert.ok(chVm.device_measured.some((m) => /no balloon statistics/.test(m)));

    const fcVm = snap.instances.find((i) => i.pid === fc.pid);
    assert.ok(fcVm, 'firecracker stand-in not found');
    assert.equal(fcVm.device_sources, ['firecracker']);
    assert.equal(fcVm.disks, [
      { device: 'rootfs', read_bytes: 12288, write_bytes: 512, read_ops: 10, write_ops: 1, flush_ops: 3, read_time_ns: null, write_time_ns: null, flush_time_ns: null },
      { device: 'scratch', read_bytes: 512, write_bytes: 1024, read_ops: 1, write_ops: 2, flush_ops: 1, read_time_ns: null, write_time_ns: null, flush_time_ns: null },
    ]);
    assert.equal(fcVm.balloon, {
      actual_bytes: 192 * MiB,
      available_bytes: 188 * MiB,
      usable_bytes: 120 * MiB,
      unused_bytes: 50 * MiB,
      disk_caches_bytes: 30 * MiB,
      swap_in_bytes: 4096,
      swap_out_bytes: 0,
      major_faults: 12,
      minor_faults: 3400,
    });
    assert.equal(fcVm.device_measured, []);

    const fifoVm = snap.instances.find((i) => i.pid === fcFifo.pid);
    assert.ok(fifoVm, 'firecracker (FIFO) stand-in not found');
    assert.is(fifoVm.disks, null);
    assert.ok(fifoVm.device_measured.some((m) => /not a regular file/.test(m)), fifoVm.device_measured.join('; '));
    assert.throws(() => closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)), /ENXIO/);
  } finally {
    for (const st of standins) await st.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s('the agent: device rounds into /instances, /metrics, and per-disk window deltas and the balloon in the payload, exactly', async () => {
  if (!(await needs('agent device rounds', 'cc'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-devagent-'));
  const standins: Standin[] = [];
  const receiver = await Receiver.start({ token: 'disk-token' });
  let agent: AgentProcess | undefined;
  try {
    mkdirSync(join(dir, 'ch-agt-1'));
    mkdirSync(join(dir, 'fc-agt-1'));
    const chSock = join(dir, 'ch-agt-1', 'api.sock');
    const c0 = { _disk0: { read_bytes: 1000, write_bytes: 2000, read_ops: 3, write_ops: 4 } };
    const ch = await startStandin({ kind: 'cloud-hypervisor', argv: ['--api-socket', `path=${chSock}`, '--cpus', 'boot=1', '--memory', 'size=128M', '--kernel', '/k'], threads: 1, apiSocket: chSock, apiBodies: { '/api/v1/vm.counters': c0 } });
    standins.push(ch);
    const fcSock = join(dir, 'fc-agt-1', 'firecracker.socket');
    const metrics = join(dir, 'fc-agt-1', 'metrics.json');
    const fcLine = (rb: number, wb: number) => JSON.stringify({ block_rootfs: { read_bytes: rb, write_bytes: wb, read_count: 1, write_count: 1, flush_count: 0 } }) + '\n';
    writeFileSync(metrics, fcLine(4096, 0));
    writeFileSync(join(dir, 'vm.json'), JSON.stringify({ 'machine-config': { vcpu_count: 1, mem_size_mib: 128 } }));
    const balloon = { actual_mib: 0, swap_in: 0, swap_out: 0, major_faults: 1, minor_faults: 2, free_memory: 40 * MiB, total_memory: 120 * MiB, available_memory: 90 * MiB, disk_caches: 10 * MiB };
    const fc = await startStandin({ kind: 'firecracker', argv: ['--id', 'fc-agt-1', '--api-sock', fcSock, '--config-file', join(dir, 'vm.json'), '--metrics-path', metrics], threads: 1, apiSocket: fcSock, apiBodies: { '/balloon/statistics': balloon } });
    standins.push(fc);

    agent = await startAgentProcess({
      VMPULSE_SAMPLE_INTERVAL_MS: '500',
      VMPULSE_WINDOW_SECONDS: '1',
      VMPULSE_DISCOVERY_INTERVAL_MS: '1000',
      VMPULSE_DEVICE_INTERVAL_MS: '1000',
      VMPULSE_ENDPOINT: receiver.url,
      VMPULSE_TOKEN: 'disk-token',
      VMPULSE_SPOOL_DIR: join(dir, 'spool'),
      VMPULSE_AGENT_ID: `disks-${process.pid}`,
    });
    type Inst = SnapVm & { disk_rates: unknown[] };
    const instances = async (): Promise<Inst[]> => (await (await fetch(`${agent!.url}/instances`)).json()) as Inst[];
    const diskOf = async (id: string) => (await instances()).find((i) => i.instance_id === id)?.disks?.[0];
    // The first reading is the baseline; what changes after it must reach the windows exactly.
    await waitFor(async () => (await diskOf('ch-agt-1'))?.read_bytes === 1000 && (await diskOf('fc-agt-1'))?.read_bytes === 4096, 20_000, 'first device round', 100);
    ch.setApiBody({ _disk0: { read_bytes: 1000 + 65536, write_bytes: 2000 + 512, read_ops: 3 + 16, write_ops: 4 + 1 } }, '/api/v1/vm.counters');
    appendFileSync(metrics, fcLine(8192, 1024) + fcLine(512, 0));
    await waitFor(async () => (await diskOf('ch-agt-1'))?.read_bytes === 66536 && (await diskOf('fc-agt-1'))?.read_bytes === 12800, 20_000, 'second device round', 100);

    const sums = (id: string) => {
      const t = { ReadBytes: 0, WriteBytes: 0, ReadOps: 0, WriteOps: 0 };
      for (const p of receiver.unique.values())
        for (const r of p.Instances.filter((x) => x.InstanceID === id))
          for (const w of r.Stats) for (const d of w.Disks ?? []) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += d[k];
      return t;
    };
    await waitFor(() => sums('ch-agt-1').ReadBytes === 65536 && sums('fc-agt-1').ReadBytes === 8704, 20_000, 'the deltas in shipped windows', 100);
    assert.equal(sums('ch-agt-1'), { ReadBytes: 65536, WriteBytes: 512, ReadOps: 16, WriteOps: 1 });
    assert.equal(sums('fc-agt-1'), { ReadBytes: 8704, WriteBytes: 1024, ReadOps: 2, WriteOps: 2 });
    assert.equal(receiver.problems, []);
    for (const p of receiver.unique.values()) assert.is(schemaErrors(p), '');
    const fcRecord = [...receiver.unique.values()].flatMap((p) => p.Instances).filter((r) => r.InstanceID === 'fc-agt-1').at(-1);
    assert.equal(fcRecord?.Balloon, { ActualBytes: 128 * MiB, AvailableBytes: 120 * MiB, UsableBytes: 90 * MiB, UnusedBytes: 40 * MiB, DiskCachesBytes: 10 * MiB, SwapInBytes: 0, SwapOutBytes: 0, MajorFaults: 1, MinorFaults: 2 });

    const text = await (await fetch(`${agent.url}/metrics`)).text();
    assert.match(text, /vmpulse_vm_block_read_bytes_total\{instance_id="ch-agt-1",instance_name="ch-agt-1",device="_disk0",source="cloud-hypervisor"\} 66536\n/);
    assert.match(text, /vmpulse_vm_block_write_ops_total\{instance_id="fc-agt-1",instance_name="fc-agt-1",device="rootfs",source="firecracker"\} 3\n/);
    assert.match(text, new RegExp(`vmpulse_vm_balloon_usable_bytes\\{instance_id="fc-agt-1",instance_name="fc-agt-1"\\} ${90 * MiB}\\n`));

    const dev = (await (await fetch(`${agent.url}/instances/fc-agt-1/devices`)).json()) as Inst;
    assert.is(dev.balloon?.usable_bytes, 90 * MiB);
    assert.ok(typeof dev.memory_rss_bytes === 'number' && dev.memory_rss_bytes > 0);
  } finally {
    await agent?.stop('SIGTERM');
    for (const st of standins) await st.stop();
    await receiver.down();
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const engine of ENGINES) {
  s(`server [${engine}]: per-disk minutes merge like every counter, a replayed batch adds nothing, old payloads stay valid`, async () => {
    if (!(await engineReady(engine, `disk minutes on ${engine}`))) return;
    const srv = await startTestServer(engine);
    try {
      const m = nowMinute(-5);
      const disk = (Device: string, n: number) => ({ Device, ReadBytes: 1000 * n, WriteBytes: 10 * n, ReadOps: n, WriteOps: 2 * n });
      const p1 = payload({ Instances: [instanceRecord('dddd0001', { Stats: [instanceWindow(m, { Disks: [disk('vda', 1), disk('vdb', 5)] }), instanceWindow(m + 60, { Disks: [disk('vda', 2)] })] })] });
      const r1 = await ingest(srv.url, srv.agent.secret, p1);
      assert.is(r1.status, 200, r1.text);
      assert.is((await ingest(srv.url, srv.agent.secret, p1)).body.status, 'duplicate');
      // The same minute again in another batch (a window shorter than a minute): counters add.
      const p2 = payload({ Instances: [instanceRecord('dddd0001', { Stats: [instanceWindow(m, { Disks: [disk('vda', 3)] })] })] });
      assert.is((await ingest(srv.url, srv.agent.secret, p2)).status, 200);
      // An agent without device rounds: no Disks at all, still valid, nothing stored for disks.
      const p3 = payload({ Instances: [instanceRecord('dddd0002', { Stats: [instanceWindow(m)] })] });
      assert.is((await ingest(srv.url, srv.agent.secret, p3)).status, 200);
      const r = await request(`${srv.url}/v1/instances/dddd0001/disks?start=${m}&end=${m + 120}`, { secret: srv.reader.secret });
      assert.is(r.status, 200, r.text);
      assert.equal(r.body.minutes, [
        { minute: m, device: 'vda', read_bytes: 4000, write_bytes: 40, read_ops: 4, write_ops: 8 },
        { minute: m, device: 'vdb', read_bytes: 5000, write_bytes: 50, read_ops: 5, write_ops: 10 },
        { minute: m + 60, device: 'vda', read_bytes: 2000, write_bytes: 20, read_ops: 2, write_ops: 4 },
      ]);
      const none = await request(`${srv.url}/v1/instances/dddd0002/disks?start=${m}&end=${m + 120}`, { secret: srv.reader.secret });
      assert.equal(none.body.minutes, []);
      assert.is((await request(`${srv.url}/v1/instances/dddd0001/disks?start=x`, { secret: srv.reader.secret })).status, 400);
      assert.is(await srv.db.count('instance_disk_minutes'), 3);
      // Retention drops disk minutes with the other minutes.
      await srv.server.store.retain(m + 3600 * 2);
      assert.is(await srv.db.count('instance_disk_minutes'), 0);
    } finally {
      await srv.close();
    }
  });
}

s.run();
