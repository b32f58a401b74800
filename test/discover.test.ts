import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getJson } from '../src/discover/api-client.js';
import { cpuCgroupCandidates } from '../src/discover/cgroup.js';
import { classify } from '../src/discover/classify.js';
import { parseCloudHypervisorArgv, parseVmInfo } from '../src/discover/hypervisors/cloud-hypervisor.js';
import { parseCrosvmArgv } from '../src/discover/hypervisors/crosvm.js';
import { parseFirecrackerArgv, parseFirecrackerConfig } from '../src/discover/hypervisors/firecracker.js';
import { nameFromSocketPath, resolveIdentity } from '../src/discover/identity.js';
import { parseCounters, reuseWindow } from '../src/discover/pid-reuse.js';
import { parseQemuOpts } from '../src/discover/hypervisors/qemu-opts.js';
import { parseQemuArgv, parseQemuMemory, parseSmp, type QemuConfig } from '../src/discover/hypervisors/qemu.js';
import { Discovery, scanOnce } from '../src/discover/scan.js';
import { mergeTaps } from '../src/discover/taps.js';
import { vcpuIndex } from '../src/discover/threads.js';
import { GiB, MiB, parseSize } from '../src/discover/hypervisors/units.js';
import type { Outcome } from '../src/readers/outcome.js';
import { parseCgroupLines } from '../src/readers/parse-cgroup.js';
import { parseCmdline } from '../src/readers/parse-cmdline.js';
import { parseFdinfo } from '../src/readers/parse-fdinfo.js';
import { fakeTree, type FakeProcess } from './fixtures/proc/tree.js';
import { within } from './helpers/procs.js';

function value<T>(o: Outcome<T>): T {
  if (!o.ok) throw new Error(`expected ok, got ${o.kind}: ${o.detail}`);
  return o.value;
}
const qemu = (...args: string[]): QemuConfig => value(parseQemuArgv(['qemu-system-x86_64', ...args]));

// ---------------------------------------------------------------- pure parsers

test('sizes: binary suffixes, caller-chosen unit for bare numbers', () => {
  assert.is(parseSize('512', MiB), 512 * MiB);
  assert.is(parseSize('512', 1), 512);
  assert.is(parseSize('2G', MiB), 2 * GiB);
  assert.is(parseSize('512M', 1), 512 * MiB);
  assert.is(parseSize('219136k', MiB), 219136 * 1024);
  assert.is(parseSize('1T', 1), 1024 * GiB);
  assert.is(parseSize('1.5G', 1), 1.5 * GiB);
  assert.is(parseSize('12x', 1), null);
  assert.is(parseSize('', 1), null);
});

test('QEMU option syntax: implied key, ",," escape, flags, JSON', () => {
  assert.equal([...parseQemuOpts('foo,,bar', 'guest')!], [['guest', 'foo,bar']]);
  assert.equal([...parseQemuOpts('guest=a,,b,debug-threads=on', 'guest')!], [
    ['guest', 'a,b'],
    ['debug-threads', 'on'],
  ]);
  assert.equal([...parseQemuOpts('a,,b=c', 'guest')!], [['guest', 'a,b=c']]);
  assert.equal(parseQemuOpts('tap,id=n0,vhost', 'type')!.get('vhost'), 'on');
  assert.equal(parseQemuOpts('{"qom-type":"memory-backend-ram","id":"pc.ram","size":268435456}', null)!.get('size'), '268435456');
  assert.is(parseQemuOpts('{broken', null), null);
});

test('QEMU -name and -uuid', () => {
  assert.is(qemu('-name', 'web').name, 'web');
  const c = qemu('-name', 'guest=db-1,debug-threads=on', '-uuid', 'AAAAAAAA-0000-0000-0000-000000000001');
  assert.is(c.name, 'db-1');
  assert.ok(c.debugThreads);
  assert.is(c.uuid, 'aaaaaaaa-0000-0000-0000-000000000001');
  assert.is(qemu('-name', 'guest=a,,b').name, 'a,b');
  assert.is(qemu('--name', 'dashes').name, 'dashes');
  assert.not.ok(qemu('-name', 'plain').debugThreads);
});

test('QEMU -smp in all forms', () => {
  assert.is(parseSmp('4'), 4);
  assert.is(parseSmp('cpus=4'), 4);
  assert.is(parseSmp('4,sockets=2,cores=2,threads=1,maxcpus=8'), 4);
  assert.is(parseSmp('sockets=2,cores=2'), 4);
  assert.is(parseSmp('sockets=2,dies=2,cores=2,threads=2'), 16);
  assert.is(parseSmp('maxcpus=6,sockets=1,cores=6'), 6);
  assert.is(parseSmp('nonsense'), null);
  assert.is(qemu('-smp', '2', '-m', '1G').vcpus, 2);
});

test('QEMU -m in all forms', () => {
  assert.is(parseQemuMemory('512'), 512 * MiB);
  assert.is(parseQemuMemory('2G'), 2 * GiB);
  assert.is(parseQemuMemory('512M'), 512 * MiB);
  assert.is(parseQemuMemory('size=219136k,slots=16,maxmem=8G'), 219136 * 1024);
  assert.is(parseQemuMemory('1024,slots=4,maxmem=4G'), 1024 * MiB);
  assert.is(parseQemuMemory('size=256'), 256 * MiB);
  assert.is(qemu('-smp', '1', '-m', '2G').memoryBytes, 2 * GiB);
});

test('QEMU memory backends: -machine memory-backend, JSON objects, plugged pc-dimms only', () => {
  const libvirt = qemu(
    '-machine', 'pc-q35-8.2,usb=off,memory-backend=pc.ram',
    '-m', 'size=262144k,slots=4,maxmem=4G',
    '-object', '{"qom-type":"memory-backend-ram","id":"pc.ram","size":268435456}',
    '-smp', '1',
  );
  assert.is(libvirt.memoryBytes, 256 * MiB);
  const onlyBackend = qemu('-machine', 'memory-backend=ram0', '-object', 'memory-backend-ram,id=ram0,size=1G', '-smp', '1');
  assert.is(onlyBackend.memoryBytes, GiB);
  const hot = qemu(
    '-m', '1G,slots=4,maxmem=8G',
    '-object', 'memory-backend-ram,id=mem1,size=512M',
    '-object', 'memory-backend-ram,id=unplugged,size=2G',
    '-object', 'memory-backend-file,id=mem2,size=268435456,mem-path=/dev/shm/x',
    '-device', 'pc-dimm,id=dimm1,memdev=mem1',
    '-device', '{"driver":"pc-dimm","id":"dimm2","memdev":"mem2"}',
    '-smp', '1',
  );
  assert.is(hot.memoryBytes, GiB + 512 * MiB + 256 * MiB);
});

test('QEMU TAPs: -netdev ifname / fd / JSON, -net, -nic; -device ignored', () => {
  const c = qemu(
    '-netdev', 'tap,id=n0,ifname=tap0,script=no',
    '-netdev', 'tap,id=n1,fd=29',
    '-netdev', '{"type":"tap","fd":"30","id":"hostnet0"}',
    '-netdev', '{"type":"tap","ifname":"vnet7","id":"hostnet1"}',
    '-net', 'tap,ifname=tap1',
    '-nic', 'tap,ifname=tap2,model=virtio',
    '-netdev', 'user,id=u0',
    '-device', 'virtio-net-pci,netdev=n0,ifname=nope',
    '-smp', '1', '-m', '1G',
  );
  assert.equal(c.taps, ['tap0', 'vnet7', 'tap1', 'tap2']);
});

test('QEMU defaults: 1 vCPU / 128 MiB unless -readconfig; flags do not eat the next option', () => {
  const d = qemu('-nographic', '-name', 'x');
  assert.is(d.vcpus, 1);
  assert.is(d.memoryBytes, 128 * MiB);
  assert.ok(d.defaulted);
  const r = qemu('-readconfig', '/etc/vm.cfg', '-name', 'x');
  assert.is(r.vcpus, null);
  assert.is(r.memoryBytes, null);
  const f = qemu('-enable-kvm', '-S', '-smp', '3', '-daemonize', '-m', '64');
  assert.is(f.vcpus, 3);
  assert.is(f.memoryBytes, 64 * MiB);
  assert.is(qemu('-qmp', 'unix:/run/q/web/qmp.sock,server=on,wait=off').apiSocket, '/run/q/web/qmp.sock');
  assert.not.ok(parseQemuArgv([]).ok);
});

test('classify: exe or argv[0] basename; not qemu-img, not crosvm stop', () => {
  assert.is(classify('qemu-system-x86_64', ['/usr/bin/qemu-system-x86_64']), 'qemu');
  assert.is(classify(null, ['/usr/libexec/qemu-kvm', '-m', '1']), 'qemu');
  assert.is(classify('qemu-system-aarch64 (deleted)', ['x']), 'qemu');
  assert.is(classify('qemu-img', ['qemu-img', 'info']), null);
  assert.is(classify('cloud-hypervisor', ['cloud-hypervisor']), 'cloud-hypervisor');
  assert.is(classify('firecracker-v1.7.0-x86_64', ['/firecracker']), 'firecracker');
  assert.is(classify('jailer', ['jailer', '--id', 'a', '--exec-file', '/usr/bin/firecracker']), null);
  assert.is(classify('crosvm', ['crosvm', 'run', '--cpus', '2', 'vmlinux']), 'crosvm');
  assert.is(classify('crosvm', ['crosvm', '--log-level', 'debug', 'run', 'k']), 'crosvm');
  assert.is(classify('crosvm', ['crosvm', '--log-level', 'debug']), null);
  assert.is(classify('crosvm', ['crosvm', 'stop', '/run/crosvm.sock']), null);
  assert.is(classify('bash', ['bash']), null);
  assert.equal(value(parseCmdline(Buffer.from('a\0b c\0\0d\0'))), ['a', 'b c', '', 'd']);
  assert.equal(value(parseCmdline(Buffer.alloc(0))), []);
});

test('Cloud Hypervisor command line', () => {
  const ch = value(
    parseCloudHypervisorArgv([
      'cloud-hypervisor',
      '--api-socket', 'path=/run/ch/web-1/api.sock',
      '--kernel', '/k',
      '--cpus', 'boot=2,max=4,affinity=[0@[0,1],1@[2,3]]',
      '--memory', 'size=1G,hotplug_size=2G,shared=on',
      '--net', 'tap=tapA,mac=12:34:56:78:90:ab', 'tap=tapB',
      '--net', 'tap=tapC,ip=10.0.0.1,mask=255.255.255.0',
      '--net', 'fd=[3,4],mac=aa:bb:cc:dd:ee:ff',
    ]),
  );
  assert.is(ch.vcpus, 2);
  assert.is(ch.memoryBytes, 3 * GiB);
  assert.equal(ch.taps, ['tapA', 'tapB', 'tapC']);
  assert.is(ch.apiSocket, '/run/ch/web-1/api.sock');
  assert.not.ok(ch.defaulted);
  const plain = value(parseCloudHypervisorArgv(['cloud-hypervisor', '--api-socket=/tmp/ch.sock', '--memory', 'size=536870912']));
  assert.is(plain.apiSocket, '/tmp/ch.sock');
  assert.is(plain.memoryBytes, 512 * MiB);
  assert.is(plain.vcpus, null, 'no payload: created over the API');
  const defaults = value(parseCloudHypervisorArgv(['cloud-hypervisor', '--kernel', 'vmlinux']));
  assert.is(defaults.vcpus, 1);
  assert.is(defaults.memoryBytes, 512 * MiB);
  assert.ok(defaults.defaulted);
  const zones = value(
    parseCloudHypervisorArgv([
      'cloud-hypervisor', '--kernel', 'k', '--memory', 'size=0',
      '--memory-zone', 'id=m0,size=1G', 'id=m1,size=512M,hotplug_size=512M',
    ]),
  );
  assert.is(zones.memoryBytes, 2 * GiB);
  const api = value(parseCloudHypervisorArgv(['cloud-hypervisor', '--api-socket', '/run/ch/x/api.sock']));
  assert.is(api.vcpus, null);
  assert.is(api.memoryBytes, null);
});

test('Cloud Hypervisor vm.info answer', () => {
  const info = parseVmInfo({
    config: {
      cpus: { boot_vcpus: 2, max_vcpus: 2 },
      memory: { size: 1073741824, hotplug_size: 536870912 },
      net: [{ tap: 'tapX' }, { tap: '' }],
      platform: { uuid: 'u-1' },
    },
    state: 'Running',
  });
  assert.equal(info, { vcpus: 2, memoryBytes: 1.5 * GiB, taps: ['tapX'], uuid: 'u-1' });
  assert.is(parseVmInfo('nope'), null);
  assert.is(parseVmInfo({ state: 'Created' }), null);
});

test('Firecracker command line and config JSON', () => {
  const fc = value(parseFirecrackerArgv(['firecracker', '--id', 'vm-a', '--api-sock', '/run/fc.sock', '--config-file', 'cfg.json']));
  assert.is(fc.name, 'vm-a');
  assert.is(fc.apiSocket, '/run/fc.sock');
  assert.is(fc.configFile, 'cfg.json');
  assert.is(value(parseFirecrackerArgv(['firecracker'])).apiSocket, '/run/firecracker.socket');
  assert.is(value(parseFirecrackerArgv(['firecracker', '--no-api', '--config-file', 'x'])).apiSocket, null);
  assert.is(value(parseFirecrackerArgv(['firecracker', '--id', 'anonymous-instance'])).name, null);
  const cfg = parseFirecrackerConfig({
    'boot-source': { kernel_image_path: 'vmlinux' },
    'machine-config': { vcpu_count: 2, mem_size_mib: 1024, smt: false },
    'network-interfaces': [{ iface_id: 'eth0', host_dev_name: 'fc-tap0' }],
  });
  assert.equal(cfg, { vcpus: 2, memoryBytes: GiB, taps: ['fc-tap0'], uuid: null });
  assert.is(parseFirecrackerConfig({}), null);
});

test('crosvm command line', () => {
  const c = value(
    parseCrosvmArgv([
      'crosvm', 'run', '--cpus', '4', '--mem', '2048', '--net', 'tap-name=crosvm_tap',
      '--socket', '/run/crosvm/web-2/control.sock', 'vmlinux',
    ]),
  );
  assert.is(c.vcpus, 4);
  assert.is(c.memoryBytes, 2 * GiB);
  assert.equal(c.taps, ['crosvm_tap']);
  assert.is(c.apiSocket, '/run/crosvm/web-2/control.sock');
  const kv = value(parseCrosvmArgv(['crosvm', 'run', '--cpus', 'num-cores=2,clusters=[[0,1]]', '--mem', 'size=512', '--tap-name', 'old0', '-s', '/s.sock', 'k']));
  assert.is(kv.vcpus, 2);
  assert.is(kv.memoryBytes, 512 * MiB);
  assert.equal(kv.taps, ['old0']);
  assert.is(kv.apiSocket, '/s.sock');
  const d = value(parseCrosvmArgv(['crosvm', 'run', 'vmlinux']));
  assert.equal([d.vcpus, d.memoryBytes, d.defaulted], [1, 256 * MiB, true]);
});

test('identity rules', () => {
  const base = { pid: 42, starttime: 9, uuid: null, name: null, socketHostPath: null, apiUuid: null };
  assert.equal(resolveIdentity({ ...base, hypervisor: 'qemu', uuid: 'u', name: 'web' }), {
    instanceId: 'u', instanceName: 'web', idSource: 'qemu-uuid',
  });
  assert.equal(resolveIdentity({ ...base, hypervisor: 'qemu', name: 'web' }), {
    instanceId: 'web', instanceName: 'web', idSource: 'qemu-name',
  });
  assert.equal(resolveIdentity({ ...base, hypervisor: 'qemu', uuid: 'u' }).instanceName, 'u');
  assert.equal(resolveIdentity({ ...base, hypervisor: 'qemu', name: '  ' }), {
    instanceId: 'qemu-42-9', instanceName: 'qemu-42-9', idSource: 'pid-fallback',
  });
  assert.equal(
    resolveIdentity({ ...base, hypervisor: 'firecracker', name: 'vm-a', socketHostPath: '/srv/jailer/firecracker/vm-a/root/run/firecracker.socket' }),
    { instanceId: 'vm-a', instanceName: 'vm-a', idSource: 'firecracker-id' },
  );
  assert.equal(
    resolveIdentity({ ...base, hypervisor: 'firecracker', name: '3f2a-uuid', socketHostPath: '/run/hypeman/web-1/fc.sock' }),
    { instanceId: '3f2a-uuid', instanceName: 'web-1', idSource: 'firecracker-id' },
  );
  assert.equal(resolveIdentity({ ...base, hypervisor: 'firecracker', socketHostPath: '/run/firecracker.socket' }).idSource, 'pid-fallback');
  assert.equal(resolveIdentity({ ...base, hypervisor: 'cloud-hypervisor', socketHostPath: '/run/ch/web-1/api.sock' }), {
    instanceId: 'web-1', instanceName: 'web-1', idSource: 'api-socket',
  });
  assert.equal(
    resolveIdentity({ ...base, hypervisor: 'cloud-hypervisor', socketHostPath: '/run/ch/web-1/api.sock', apiUuid: 'p-uuid' }),
    { instanceId: 'p-uuid', instanceName: 'web-1', idSource: 'vm-info' },
  );
  assert.equal(resolveIdentity({ ...base, hypervisor: 'crosvm', socketHostPath: '/run/crosvm/c1/control.sock' }).instanceId, 'c1');
  assert.is(resolveIdentity({ ...base, hypervisor: 'crosvm' }).instanceId, 'crosvm-42-9');
  assert.is(nameFromSocketPath('/tmp/vm7.sock'), 'vm7');
  assert.is(nameFromSocketPath('/run/api.sock'), null);
  assert.is(nameFromSocketPath('/var/run/qemu-server/101.qmp'), 'qemu-server');
});

test('TAP names: fdinfo iff:, merge order, de-duplication', () => {
  assert.is(value(parseFdinfo('pos:\t0\nflags:\t0104002\nmnt_id:\t25\nino:\t1\niff:\tvnet3\n')).iff, 'vnet3');
  assert.is(value(parseFdinfo('pos:\t0\nflags:\t02\n')).iff, null);
  assert.equal(mergeTaps(['vnet3', 'vnet4'], ['tap0', 'vnet3'], ['tap0', 'tap9']), ['vnet3', 'vnet4', 'tap0', 'tap9']);
});

test('vCPU thread names per hypervisor', () => {
  assert.is(vcpuIndex('qemu', 'CPU 3/KVM\n'), 3);
  assert.is(vcpuIndex('qemu', 'CPU 12/TCG'), 12);
  assert.is(vcpuIndex('qemu', 'qemu-system-x86'), null);
  assert.is(vcpuIndex('cloud-hypervisor', 'vcpu7'), 7);
  assert.is(vcpuIndex('cloud-hypervisor', 'vmm'), null);
  assert.is(vcpuIndex('firecracker', 'fc_vcpu 1'), 1);
  assert.is(vcpuIndex('firecracker', 'fc_vmm'), null);
  assert.is(vcpuIndex('crosvm', 'crosvm_vcpu2'), 2);
  assert.is(vcpuIndex('crosvm', 'crosvm_vcpu 5'), 5);
});

test('cgroup: v1 cpu line, v2 unified, hybrid prefers v1', () => {
  const v1 = value(parseCgroupLines('12:pids:/x\n2:cpu,cpuacct:/machine.slice/vm\n1:name=systemd:/x\n0::/x\n'));
  assert.equal(
    cpuCgroupCandidates(v1, '/sys', true).map((c) => [c.dir, c.version]),
    [
      ['/sys/fs/cgroup/cpu,cpuacct/machine.slice/vm', 1],
      ['/sys/fs/cgroup/cpuacct,cpu/machine.slice/vm', 1],
      ['/sys/fs/cgroup/cpu/machine.slice/vm', 1],
      ['/sys/fs/cgroup/machine.slice/vm', 2],
    ].slice(0, 3).concat([['/sys/fs/cgroup/x', 2]]),
  );
  const v2 = value(parseCgroupLines('0::/machine.slice/machine-qemu.scope/libvirt\n'));
  assert.equal(cpuCgroupCandidates(v2, '/s', true), [{ dir: '/s/fs/cgroup/machine.slice/machine-qemu.scope/libvirt', version: 2 }]);
  assert.equal(cpuCgroupCandidates(v2, '/s', false), []);
  assert.not.ok(parseCgroupLines('garbage').ok);
});

test('PID reuse window from the allocator cursor', () => {
  const c = (lastPid: number, forks: number, tasks = 100, pidMax = 32768) => ({ lastPid, forks, tasks, pidMax });
  assert.is(reuseWindow(null, c(1, 1)), 'all');
  const none = reuseWindow(c(500, 1000), c(500, 1000));
  assert.ok(typeof none === 'function' && !none(500));
  const w = reuseWindow(c(500, 1000), c(520, 1020));
  assert.ok(typeof w === 'function' && w(501) && w(520) && !w(500) && !w(521));
  const wrap = reuseWindow(c(32700, 1000), c(400, 1200));
  assert.ok(typeof wrap === 'function' && wrap(32701) && wrap(350) && !wrap(401) && !wrap(32700));
  assert.is(reuseWindow(c(500, 1000), c(520, 17200)), 'all', 'too many forks for a proof');
  assert.is(reuseWindow(c(500, 1000, 32450), c(520, 1020)), 'all', 'too many tasks for a proof');
  assert.equal(parseCounters('0.83 0.60 0.41 1/145 12414\n', 'cpu 1 2\nprocesses 12416\nbtime 1\n', '32768\n'), {
    tasks: 145, lastPid: 12414, forks: 12416, pidMax: 32768,
  });
  assert.is(parseCounters('junk', '', '1'), null);
});

// ---------------------------------------------------------------- API client

async function listenHttp(path: string, handler: (url: string) => [number, string]): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const [status, body] = handler(req.url ?? '');
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

async function listenSilent(path: string): Promise<{ close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createNetServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

test('API client: JSON answer, HTTP error, size cap, timeout, missing socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpd-api-'));
  try {
    const sock = join(dir, 'api.sock');
    const server = await listenHttp(sock, (url) =>
      url === '/ok' ? [200, '{"a":1}'] : url === '/big' ? [200, JSON.stringify({ x: 'y'.repeat(70_000) })] : url === '/text' ? [200, 'hi'] : [500, '{"e":1}'],
    );
    assert.equal(value(await getJson(sock, '/ok')), { a: 1 });
    const e = await getJson(sock, '/err');
    assert.ok(!e.ok && e.kind === 'io' && e.detail.includes('500'));
    const big = await getJson(sock, '/big');
    assert.ok(!big.ok && big.kind === 'malformed');
    const text = await getJson(sock, '/text');
    assert.ok(!text.ok && text.kind === 'malformed');
    await closeServer(server);
    const missing = await getJson(join(dir, 'none.sock'), '/');
    assert.ok(!missing.ok && missing.kind === 'missing');
    const silentPath = join(dir, 'silent.sock');
    const silent = await listenSilent(silentPath);
    // The socket accepts and never answers: only the client's own timeout ends the call.
    const hung = await within(getJson(silentPath, '/vm/config', { timeoutMs: 150 }), 30_000, 'the API call to give up on a silent socket');
    await silent.close();
    assert.ok(!hung.ok && hung.kind === 'io' && hung.detail.includes('150 ms'), JSON.stringify(hung));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- fixture /proc trees

const KERNEL_THREAD: FakeProcess = { pid: 2, starttime: 0, argv: [], comm: 'kthreadd' };
const SHELL: FakeProcess = { pid: 100, starttime: 50, argv: ['/bin/bash'], exe: '/usr/bin/bash' };

function libvirtQemu(pid: number, starttime: number): FakeProcess {
  return {
    pid,
    starttime,
    exe: '/usr/bin/qemu-system-x86_64',
    argv: [
      '/usr/bin/qemu-system-x86_64',
      '-name', 'guest=web-1,debug-threads=on',
      '-S',
      '-machine', 'pc-q35-8.2,usb=off,dump-guest-core=off,memory-backend=pc.ram',
      '-accel', 'kvm',
      '-m', 'size=1048576k',
      '-object', '{"qom-type":"memory-backend-ram","id":"pc.ram","size":1073741824}',
      '-smp', '2,sockets=2,cores=1,threads=1',
      '-uuid', 'c7a5fdbd-cdaf-9455-926a-d65c16db1809',
      '-no-user-config', '-nodefaults',
      '-netdev', '{"type":"tap","fd":"29","vhost":true,"vhostfd":"31","id":"hostnet0"}',
      '-device', '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:6b:3c:58"}',
      '-netdev', '{"type":"tap","fd":"33","id":"hostnet1"}',
    ],
    threads: { [pid + 3]: 'CPU 1/KVM', [pid + 2]: 'CPU 0/KVM', [pid + 1]: 'qemu-system-x86', [pid + 4]: 'IO mon_iothread' },
    tunFds: { 29: 'vnet0', 33: 'vnet1', 40: null },
    otherFds: { 0: '/dev/null', 31: '/dev/vhost-net', 3: 'socket:[1234]' },
    cgroup: '10:memory:/machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope\n3:cpu,cpuacct:/machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope/libvirt/emulator\n0::/\n',
  };
}

test('fixture: libvirt QEMU with JSON -netdev fd= named by fdinfo iff:, kernel threads and others skipped', async () => {
  const tree = fakeTree([KERNEL_THREAD, SHELL, libvirtQemu(4242, 1000)]);
  try {
    const cg = tree.sysDir('fs/cgroup/cpu,cpuacct/machine.slice/machine-qemu\\x2d1\\x2dweb\\x2d1.scope/libvirt/emulator');
    const r = await scanOnce({ procRoot: tree.procRoot, sysRoot: tree.sysRoot });
    assert.is(r.all.length, 1);
    const vm = r.all[0]!;
    assert.equal(r.added, r.all);
    assert.is(vm.key, '4242:1000');
    assert.is(vm.hypervisor, 'qemu');
    assert.is(vm.instanceId, 'c7a5fdbd-cdaf-9455-926a-d65c16db1809');
    assert.is(vm.instanceName, 'web-1');
    assert.is(vm.idSource, 'qemu-uuid');
    assert.is(vm.allocatedVcpus, 2);
    assert.is(vm.allocatedMemoryBytes, GiB);
    assert.equal(vm.taps, ['vnet0', 'vnet1']);
    assert.equal(vm.vcpuTids, [4244, 4245]);
    assert.is(vm.cpuCgroupDir, cg);
    assert.is(vm.cgroupVersion, 1);
    assert.is(r.stats.scanned, 3);
    assert.is(r.stats.skipped['kernel-thread'], 1);
    assert.is(r.stats.apiCalls, 0);
  } finally {
    tree.cleanup();
  }
});

test('fixture: jailed Firecracker, config file inside the chroot; another answering GET /vm/config', async () => {
  const tree = fakeTree([SHELL]);
  let server: Server | null = null;
  try {
    const jailA = join(tree.dir, 'srv/jailer/firecracker/vm-a/root');
    const jailB = join(tree.dir, 'srv/jailer/firecracker/vm-b/root');
    mkdirSync(join(jailA, 'run'), { recursive: true });
    mkdirSync(join(jailB, 'run'), { recursive: true });
    writeFileSync(
      join(jailA, 'vm_config.json'),
      JSON.stringify({
        'machine-config': { vcpu_count: 2, mem_size_mib: 256 },
        'network-interfaces': [{ iface_id: 'eth0', host_dev_name: 'fc-a-tap' }],
      }),
    );
    let asked = 0;
    server = await listenHttp(join(jailB, 'run/firecracker.socket'), (url) => {
      asked++;
      return url === '/vm/config'
        ? [200, JSON.stringify({ 'machine-config': { vcpu_count: 1, mem_size_mib: 128 }, 'network-interfaces': [] })]
        : [404, '{}'];
    });
    const fc = (pid: number, id: string, root: string, extra: string[]): FakeProcess => ({
      pid,
      starttime: 2000 + pid,
      exe: `${root}/firecracker`,
      argv: ['/firecracker', '--id', id, '--start-time-us', '1', '--api-sock', '/run/firecracker.socket', ...extra],
      threads: { [pid + 1]: 'fc_api', [pid + 2]: 'fc_vcpu 0', [pid + 3]: 'fc_vcpu 1' },
      tunFds: { 20: 'fc-a-tap' },
      root,
      cwd: root,
    });
    tree.add(fc(5000, 'vm-a', jailA, ['--config-file', 'vm_config.json']));
    tree.add(fc(6000, 'vm-b', jailB, []));
    const d = new Discovery({ procRoot: tree.procRoot, sysRoot: tree.sysRoot, apiTimeoutMs: 1000 });
    const r = await d.scan();
    const [a, b] = r.all;
    assert.is(a!.instanceId, 'vm-a');
    assert.is(a!.idSource, 'firecracker-id');
    assert.is(a!.allocatedVcpus, 2);
    assert.is(a!.allocatedMemoryBytes, 256 * MiB);
    assert.equal(a!.allocationSource, { vcpus: 'config-file', memory: 'config-file' });
    assert.equal(a!.taps, ['fc-a-tap']);
    assert.equal(a!.vcpuTids, [5002, 5003]);
    assert.is(a!.apiSocket, join(jailA, 'run/firecracker.socket'));
    assert.is(b!.instanceName, 'vm-b');
    assert.is(b!.allocatedVcpus, 1);
    assert.is(b!.allocatedMemoryBytes, 128 * MiB);
    assert.equal(b!.allocationSource, { vcpus: 'api', memory: 'api' });
    assert.is(r.stats.apiCalls, 1);
    const again = await d.scan();
    assert.is(again.stats.apiCalls, 0, 'asked once per process');
    assert.is(asked, 1);
  } finally {
    if (server) await closeServer(server);
    tree.cleanup();
  }
});

test('fixture: crosvm, its forked device processes are not VMs', async () => {
  const argv = ['/usr/bin/crosvm', 'run', '--cpus', '2', '--mem', '1024', '--net', 'tap-name=cvm0', '--socket', '/run/crosvm/c-1/control.sock', '/vmlinux'];
  const tree = fakeTree([
    { pid: 700, starttime: 10, exe: '/usr/bin/crosvm', argv, threads: { 702: 'crosvm_vcpu1', 701: 'crosvm_vcpu0' }, tunFds: { 9: 'cvm0' } },
    { pid: 705, starttime: 11, ppid: 700, exe: '/usr/bin/crosvm', argv, comm: 'v_block' },
    { pid: 706, starttime: 11, ppid: 700, exe: '/usr/bin/crosvm', argv, comm: 'v_net' },
    { pid: 800, starttime: 12, exe: '/usr/bin/crosvm', argv: ['crosvm', 'stop', '/run/crosvm/c-1/control.sock'] },
  ]);
  try {
    const r = await scanOnce({ procRoot: tree.procRoot, sysRoot: tree.sysRoot });
    assert.is(r.all.length, 1);
    const vm = r.all[0]!;
    assert.equal([vm.pid, vm.instanceId, vm.instanceName, vm.idSource], [700, 'c-1', 'c-1', 'api-socket']);
    assert.equal([vm.allocatedVcpus, vm.allocatedMemoryBytes], [2, GiB]);
    assert.equal(vm.taps, ['cvm0']);
    assert.equal(vm.vcpuTids, [701, 702]);
    assert.is(r.stats.skipped['hypervisor-child'], 2);
  } finally {
    tree.cleanup();
  }
});

const chThreads = (pid: number, n: number): Record<number, string> => {
  const t: Record<number, string> = { [pid + 1]: 'vmm', [pid + 2]: 'http-server' };
  for (let i = 0; i < n; i++) t[pid + 10 + i] = `vcpu${i}`;
  return t;
};

test('fixture: Cloud Hypervisor full command line needs no API; API-only one reads vm.info', async () => {
  const tree = fakeTree();
  let server: Server | null = null;
  try {
    mkdirSync(join(tree.dir, 'run/ch/api-vm'), { recursive: true });
    const sock = join(tree.dir, 'run/ch/api-vm/api.sock');
    server = await listenHttp(sock, (url) =>
      url === '/api/v1/vm.info'
        ? [200, '{"config":{"cpus":{"boot_vcpus":2,"max_vcpus":2},"memory":{"size":1073741824,"hotplug_size":0},"net":[{"tap":"tapX"}]},"state":"Running"}']
        : [404, '{}'],
    );
    tree.add({
      pid: 900,
      starttime: 5,
      exe: '/usr/local/bin/cloud-hypervisor',
      argv: [
        'cloud-hypervisor', '--api-socket', `path=${join(tree.dir, 'run/ch/web-1/api.sock')}`,
        '--kernel', '/vmlinux', '--disk', 'path=/a.raw', 'path=/b.raw', '--cpus', 'boot=4', '--memory', 'size=2G,hotplug_size=2G',
        '--net', 'tap=ch-tap0,mac=', 'tap=ch-tap1', '--serial', 'tty', '--console', 'off',
      ],
      threads: chThreads(900, 4),
      tunFds: { 12: 'ch-tap1', 13: 'ch-tap0' },
    });
    tree.add({
      pid: 950,
      starttime: 6,
      exe: '/usr/local/bin/cloud-hypervisor',
      argv: ['cloud-hypervisor', '--api-socket', sock],
      threads: chThreads(950, 2),
    });
    const r = await scanOnce({ procRoot: tree.procRoot, sysRoot: tree.sysRoot, apiTimeoutMs: 1000 });
    const [full, api] = r.all;
    assert.equal([full!.instanceId, full!.idSource, full!.allocatedVcpus, full!.allocatedMemoryBytes], ['web-1', 'api-socket', 4, 4 * GiB]);
    assert.equal(full!.taps, ['ch-tap1', 'ch-tap0']);
    assert.is(full!.vcpuTids.length, 4);
    assert.equal([api!.instanceId, api!.allocatedVcpus, api!.allocatedMemoryBytes], ['api-vm', 2, GiB]);
    assert.equal(api!.taps, ['tapX']);
    assert.equal(api!.allocationSource, { vcpus: 'api', memory: 'api' });
    assert.is(r.stats.apiCalls, 1);
  } finally {
    if (server) await closeServer(server);
    tree.cleanup();
  }
});

test('fixture: an API socket that never answers times out; allocation from thread count', async () => {
  const tree = fakeTree();
  const sockDir = join(tree.dir, 'run/ch/stuck');
  mkdirSync(sockDir, { recursive: true });
  const silent = await listenSilent(join(sockDir, 'api.sock'));
  try {
    tree.add({
      pid: 990,
      starttime: 7,
      exe: '/usr/bin/cloud-hypervisor',
      argv: ['cloud-hypervisor', '--api-socket', `path=${join(sockDir, 'api.sock')}`],
      threads: chThreads(990, 3),
    });
    // A silent API socket holds the scan only for its own timeout.
    const r = await within(scanOnce({ procRoot: tree.procRoot, sysRoot: tree.sysRoot, apiTimeoutMs: 200 }), 30_000, 'the scan despite a silent API socket');
    const vm = r.all[0]!;
    assert.is(vm.instanceId, 'stuck');
    assert.is(vm.allocatedVcpus, 3);
    assert.is(vm.allocatedMemoryBytes, 0);
    assert.equal(vm.allocationSource, { vcpus: 'threads', memory: 'unknown' });
    assert.is(r.stats.errors['api-io'], 1);
  } finally {
    await silent.close();
    tree.cleanup();
  }
});

test('fixture: a reused PID is a removed VM and an added one; an exited VM is removed', async () => {
  const tree = fakeTree([SHELL, libvirtQemu(4242, 1000), libvirtQemu(5252, 1100)]);
  try {
    const d = new Discovery({ procRoot: tree.procRoot, sysRoot: tree.sysRoot });
    const first = await d.scan();
    assert.is(first.added.length, 2);
    const second = await d.scan();
    assert.equal([second.added.length, second.removed.length, second.stats.parsed], [0, 0, 0]);
    tree.add(libvirtQemu(4242, 3000));
    tree.remove(5252);
    const third = await d.scan();
    assert.equal(third.removed.map((v) => v.key).sort(), ['4242:1000', '5252:1100']);
    assert.equal(third.added.map((v) => v.key), ['4242:3000']);
    assert.equal(third.all.map((v) => v.key), ['4242:3000']);
    assert.is(third.stats.parsed, 1);
    // A non-hypervisor PID reused by a hypervisor is found too.
    tree.add({ ...libvirtQemu(100, 4000) });
    const fourth = await d.scan();
    assert.equal(fourth.added.map((v) => v.key), ['100:4000']);
  } finally {
    tree.cleanup();
  }
});

test('fixture: vanished or half-written process dirs, garbage cmdlines never throw', async () => {
  const tree = fakeTree([SHELL, libvirtQemu(4242, 1000)]);
  try {
    mkdirSync(join(tree.procRoot, '3000'));
    mkdirSync(join(tree.procRoot, '3001'));
    writeFileSync(join(tree.procRoot, '3001', 'stat'), '3001 (x) S 1 0 0');
    mkdirSync(join(tree.procRoot, '3002'));
    writeFileSync(join(tree.procRoot, '3002', 'stat'), '3002 (qemu) S 1 ' + 'x '.repeat(60));
    writeFileSync(join(tree.procRoot, '3003-not-a-pid'), '');
    tree.add({ pid: 3004, starttime: 9, argv: ['qemu-system-x86_64', '-smp', '\u0000\u00ff', '-m', '-object', '{oops'], exe: '/x/qemu-system-x86_64' });
    tree.add({ pid: 3005, starttime: 9, argv: ['\u00ff\u00fe'.repeat(1000)] });
    // A hypervisor whose task/ vanished after its stat and cmdline were read.
    tree.add({ pid: 3006, starttime: 9, exe: '/usr/bin/cloud-hypervisor', argv: ['cloud-hypervisor', '--kernel', 'k'] });
    rmSync(join(tree.procRoot, '3006', 'task'), { recursive: true });
    const r = await scanOnce({ procRoot: tree.procRoot, sysRoot: tree.sysRoot });
    assert.ok(r.all.some((v) => v.pid === 4242));
    assert.ok(r.all.some((v) => v.pid === 3004), 'garbage options are warnings, not failures');
    assert.not.ok(r.all.some((v) => v.pid === 3006));
    assert.is(r.stats.errors['gone'], 2, 'empty dir and task-less process');
    assert.is(r.stats.errors['malformed'], 2, 'truncated stat, stat with no starttime digits');
    const missingRoot = await scanOnce({ procRoot: join(tree.dir, 'nope') });
    assert.equal([missingRoot.all.length, missingRoot.stats.errors['proc-root-missing']], [0, 1]);
  } finally {
    tree.cleanup();
  }
});

test('fixture: vCPU threads that appear later are picked up; exec into a hypervisor is seen', async () => {
  const tree = fakeTree();
  try {
    // btime = now and starttime 0: the processes are young, so an exec is watched for.
    writeFileSync(join(tree.procRoot, 'stat'), `cpu 0 0 0 0\nbtime ${Math.floor(Date.now() / 1000)}\nprocesses 10\n`);
    const fc = (threads: Record<number, string>): FakeProcess => ({
      pid: 1200,
      starttime: 0,
      exe: '/usr/bin/firecracker',
      argv: ['firecracker', '--id', 'late', '--no-api', '--config-file', '/etc/fc.json'],
      threads,
    });
    tree.add(fc({ 1201: 'fc_vcpu 0' }));
    tree.add({ pid: 1300, starttime: 0, exe: '/usr/bin/jailer', argv: ['jailer', '--id', 'j1', '--exec-file', '/usr/bin/firecracker'] });
    const d = new Discovery({ procRoot: tree.procRoot, sysRoot: tree.sysRoot });
    const first = await d.scan();
    assert.equal(first.all.map((v) => [v.pid, v.allocatedVcpus, v.vcpuTids.length]), [[1200, 1, 1]]);
    tree.add(fc({ 1201: 'fc_vcpu 0', 1202: 'fc_vcpu 1' }));
    tree.add({
      pid: 1300,
      starttime: 0,
      exe: '/srv/jailer/firecracker/j1/root/firecracker',
      argv: ['/firecracker', '--id', 'j1', '--no-api'],
      threads: { 1301: 'fc_vcpu 0' },
    });
    const second = await d.scan();
    assert.equal(second.updated.map((v) => [v.pid, v.allocatedVcpus, v.vcpuTids]), [[1200, 2, [1201, 1202]]]);
    assert.equal(second.added.map((v) => [v.key, v.instanceId]), [['1300:0', 'j1']]);
    assert.is(second.stats.rechecked, 1);
  } finally {
    tree.cleanup();
  }
});

// ---------------------------------------------------------------- the real /proc

test('real /proc: scans without throwing; a rescan parses only processes started since', async () => {
  const pidsNow = (): Set<string> => new Set(readdirSync('/proc').filter((n) => /^\d+$/.test(n)));
  const before = pidsNow();
  const d = new Discovery();
  const first = await d.scan();
  const second = await d.scan();
  const after = pidsNow();
  const started = [...after].filter((p) => !before.has(p)).length;
  assert.ok(first.stats.scanned >= 10, `scanned ${first.stats.scanned}`);
  assert.ok(first.stats.parsed >= 1);
  assert.ok(second.stats.parsed <= started + 2, `parsed ${second.stats.parsed} with ${started} started`);
  assert.is(second.added.length, 0);
  for (const vm of first.all) assert.ok(vm.instanceId.length > 0 && vm.instanceName.length > 0);
});

test.run();
