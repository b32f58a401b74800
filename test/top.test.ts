// `vmpulse top`: the pure parts on fixed values (number formats, rates, sorting, the exact lines
// of a frame, keys, the agent's exposition), the agent source against the real API over a fixed
// AgentView, and the command end to end with real stand-in VMs: `--once` sampling directly and
// through a real `vmpulse agent`, and the live view driven in a real terminal (tmux).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distRoot } from '../src/paths.js';
import { fmtBytes, fmtPct, fmtUptime, printable, shortHypervisor } from '../src/top/format.js';
import { filterVms, sortRows, topRows, type SortKey, type TopHost, type TopRow, type TopVm } from '../src/top/model.js';
import { KEY_LINE, renderFrame, type TopFrame } from '../src/top/render.js';
import { keyActions } from '../src/top/keys.js';
import { parseExposition } from '../src/top/exposition.js';
import { AgentError, AgentSource, agentUrl, fromAgentMetrics } from '../src/top/agent-source.js';
import { startAgentApi } from '../src/agent/api.js';
import { needs } from './helpers/needs.js';
import { BATCH, FakeView, T0, WEB } from './helpers/fake-view.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { uniqueTapName } from './helpers/tap.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { freePort } from './helpers/api-check.js';
import { alive, rssBytes, waitFor } from './helpers/procs.js';
import { TmuxPane } from './helpers/tmux.js';

const cli = join(distRoot, 'src', 'cli.js');
const GiB = 2 ** 30;
const MiB = 2 ** 20;

// ---------------------------------------------------------------------------------------------
// Pure parts

const pure = suite('top: formats, rates, sorting, frames, keys');

pure('number formats: binary units in 5 characters, percentages, uptime, names made printable', () => {
  assert.equal(
    [0, 0.4, 999, 1023, 1023.6, 1024, 1536, 10188, 10240, 1048000, 1048500, 2 * GiB, 1.5 * 2 ** 40, -5, null].map(fmtBytes),
    ['0', '0', '999', '1023', '1.0K', '1.0K', '1.5K', '9.9K', '10K', '1023K', '1.0M', '2.0G', '1.5T', '0', '-'],
  );
  assert.equal([0, 4.25, 12.34, 99.94, 99.95, 180.4, 812, null].map(fmtPct), ['0.0', '4.3', '12.3', '99.9', '100', '180', '812', '-']);
  assert.equal([59, 4 * 3600 + 12 * 60 + 9, 3 * 86400 + 4 * 3600 + 12 * 60, null].map(fmtUptime), ['00:00', '04:12', '3d 04:12', '-']);
  assert.equal(['qemu', 'cloud-hypervisor', 'firecracker', 'crosvm'].map(shortHypervisor), ['qemu', 'clh', 'fc', 'crosvm']);
  assert.is(printable('vm\u001b[2Jx\ny\u009b'), 'vm?[2Jx?y?');
});

const vm = (over: Partial<TopVm>): TopVm => ({
  key: '1:1',
  name: 'vm',
  id: 'id',
  hypervisor: 'qemu',
  pid: 1,
  vcpus: 2,
  vcpuThreads: 2,
  allocatedMemoryBytes: 4 * GiB,
  tMs: 1000,
  cpuSeconds: 0,
  rssBytes: GiB,
  netInBytes: 0,
  netOutBytes: 0,
  diskReadBytes: 0,
  diskWriteBytes: 0,
  stealSeconds: 0,
  ...over,
});

pure('rates between two reads: per second over the reads\' interval, a reset counted from zero, none without a previous read', () => {
  const before = vm({ key: 'a', tMs: 1000, cpuSeconds: 10, netInBytes: 1000, netOutBytes: 5000, diskReadBytes: 100, diskWriteBytes: 7, stealSeconds: 1 });
  const after = vm({ key: 'a', tMs: 3000, cpuSeconds: 13, netInBytes: 3048, netOutBytes: 1000, diskReadBytes: 100, diskWriteBytes: null, stealSeconds: 1.5 });
  const fresh = vm({ key: 'b', pid: 2, name: 'new', allocatedMemoryBytes: 0, vcpuThreads: 0 });
  const [a, b] = topRows(new Map([['a', before]]), [after, fresh]);
  assert.equal(a, {
    key: 'a',
    name: 'vm',
    hypervisor: 'qemu',
    pid: 1,
    vcpus: 2,
    cpuPct: 150,
    rssBytes: GiB,
    memPct: 25,
    netInBps: 1024,
    netOutBps: 500, // 5000 → 1000 is a reset: the 1000 bytes since, over 2 s
    diskReadBps: 0,
    diskWriteBps: null,
    stealPct: 12.5, // 0.5 s of runqueue wait over 2 s and 2 vCPU threads
  });
  assert.equal(b, {
    key: 'b',
    name: 'new',
    hypervisor: 'qemu',
    pid: 2,
    vcpus: 2,
    cpuPct: null,
    rssBytes: GiB,
    memPct: null,
    netInBps: null,
    netOutBps: null,
    diskReadBps: null,
    diskWriteBps: null,
    stealPct: null,
  });
  // The same key read at the same instant gives no interval: no rates.
  assert.is(topRows(new Map([['a', after]]), [after])[0]!.cpuPct, null);
  assert.equal(
    filterVms([vm({ name: 'web-1', id: 'x' }), vm({ name: 'db', id: 'QILV7' }), vm({ name: 'other', id: 'y' })], 'qilv').map((v) => v.name),
    ['db'],
  );
  assert.equal(filterVms([vm({ name: 'WEB-1' }), vm({ name: 'db' })], 'web').map((v) => v.name), ['WEB-1']);
});

const HOST: TopHost = {
  hostname: 'kvm-host-07',
  cpus: 32,
  ramBytes: 128 * GiB,
  uptimeSeconds: 3 * 86400 + 4 * 3600 + 12 * 60 + 9,
  load: [1.5, 0.75, 0.25],
  cpuPct: 37.46,
  memPct: 61.04,
};

const row = (over: Partial<TopRow> & Pick<TopRow, 'name' | 'pid'>): TopRow => ({
  key: `${over.pid}:1`,
  hypervisor: 'qemu',
  vcpus: 2,
  cpuPct: null,
  rssBytes: 0,
  memPct: null,
  netInBps: null,
  netOutBps: null,
  diskReadBps: null,
  diskWriteBps: null,
  stealPct: null,
  ...over,
});

const WEB_ROW = row({ name: 'web-1', pid: 4242, vcpus: 4, cpuPct: 180.4, rssBytes: 2 * GiB, memPct: 50, netInBps: 1536, netOutBps: 102400, diskReadBps: 0, diskWriteBps: 10 * MiB, stealPct: 0.42 });
const DB_ROW = row({
  name: 'db-primary',
  pid: 91234,
  hypervisor: 'cloud-hypervisor',
  vcpus: 8,
  cpuPct: 12.34,
  rssBytes: 8 * GiB,
  memPct: 100,
  netInBps: 5 * MiB,
  netOutBps: 3 * MiB,
  diskReadBps: 50 * MiB,
  diskWriteBps: MiB,
  stealPct: 3.21,
});
const NEW_ROW = row({ name: 'builder', pid: 777, hypervisor: 'firecracker', rssBytes: 512 * MiB });
const ROWS = [NEW_ROW, WEB_ROW, DB_ROW];

const frame = (over: Partial<TopFrame> = {}): TopFrame => ({
  host: HOST,
  rows: ROWS,
  sort: { key: 'cpu', reverse: false },
  source: 'agent http://127.0.0.1:9464',
  intervalSeconds: 2,
  filter: null,
  notice: null,
  omitted: 0,
  ...over,
});

const TITLES = '    PID HV      VC  CPU%   RSS MEM%  RX/s  TX/s  RD/s  WR/s  ST% NAME';
const WEB_LINE = '   4242 qemu     4   180  2.0G 50.0  1.5K  100K     0   10M  0.4 web-1';
const DB_LINE = '  91234 clh      8  12.3  8.0G  100  5.0M  3.0M   50M  1.0M  3.2 db-primary';
const NEW_LINE = '    777 fc       2     -  512M    -     -     -     -     -    - builder';

pure('a frame on 80×24: host header, the sort, column titles, rows by CPU (unknown last), the key line at the bottom', () => {
  assert.equal(renderFrame(frame(), { cols: 80, rows: 24 }), [
    'vmpulse top - kvm-host-07 - up 3d 04:12 - load 1.50 0.75 0.25',
    'Host: 32 CPUs, 128G RAM, CPU 37.5%, MEM 61.0%',
    'VMs: 3 - sort: CPU - every 2s - agent http://127.0.0.1:9464',
    TITLES,
    WEB_LINE,
    DB_LINE,
    NEW_LINE,
    ...Array<string>(16).fill(''),
    KEY_LINE,
  ]);
  assert.ok(KEY_LINE.length <= 80);
});

pure('every sort key orders the rows, and the header names it; r reverses with unknowns still last', () => {
  const order = (key: SortKey, reverse = false) => {
    const lines = renderFrame(frame({ sort: { key, reverse } }), { cols: 80, rows: 24 });
    return { header: lines[2], rows: lines.slice(4, 7) };
  };
  assert.equal(order('net'), { header: 'VMs: 3 - sort: NET - every 2s - agent http://127.0.0.1:9464', rows: [DB_LINE, WEB_LINE, NEW_LINE] });
  assert.equal(order('disk').rows, [DB_LINE, WEB_LINE, NEW_LINE]);
  assert.equal(order('mem'), { header: 'VMs: 3 - sort: MEM - every 2s - agent http://127.0.0.1:9464', rows: [DB_LINE, WEB_LINE, NEW_LINE] });
  assert.equal(order('pid').rows, [NEW_LINE, WEB_LINE, DB_LINE]);
  assert.equal(order('name').rows, [NEW_LINE, DB_LINE, WEB_LINE]);
  assert.equal(order('cpu', true), { header: 'VMs: 3 - sort: CPU reversed - every 2s - agent http://127.0.0.1:9464', rows: [DB_LINE, WEB_LINE, NEW_LINE] });
  assert.equal(order('mem', true).rows, [NEW_LINE, WEB_LINE, DB_LINE]);
  // Ties: by name, then PID.
  const tie = [row({ name: 'b', pid: 2, cpuPct: 5 }), row({ name: 'a', pid: 9, cpuPct: 5 }), row({ name: 'a', pid: 3, cpuPct: 5 })];
  assert.equal(sortRows(tie, { key: 'cpu', reverse: false }).map((r) => r.pid), [3, 9, 2]);
});

pure('a narrow terminal drops VC, HV and ST% (in that order) before NAME gets under 12 characters; no line is wider', () => {
  const lines = renderFrame(frame(), { cols: 64, rows: 24 });
  assert.equal(lines.slice(3, 7), [
    '    PID  CPU%   RSS MEM%  RX/s  TX/s  RD/s  WR/s NAME',
    '   4242   180  2.0G 50.0  1.5K  100K     0   10M web-1',
    '  91234  12.3  8.0G  100  5.0M  3.0M   50M  1.0M db-primary',
    '    777     -  512M    -     -     -     -     - builder',
  ]);
  const tiny = renderFrame(frame({ rows: [row({ name: 'a-very-long-name-indeed', pid: 1, cpuPct: 1 })] }), { cols: 30, rows: 24 });
  assert.ok(tiny.every((l) => l.length <= 30), JSON.stringify(tiny));
  // At 80 columns a long name is cut to the 15 characters left for it.
  const long = renderFrame(frame({ rows: [row({ name: 'a-very-long-name-indeed', pid: 1, cpuPct: 1 })] }), { cols: 80, rows: 24 });
  assert.is(long[4], '      1 qemu     2   1.0     0    -     -     -     -     -    - a-very-long-nam');
});

pure('a short terminal shows the rows that fit and says how many; a notice takes a line; no height means every row and no key line', () => {
  const seven = renderFrame(frame(), { cols: 80, rows: 7 });
  assert.equal(seven, [
    'vmpulse top - kvm-host-07 - up 3d 04:12 - load 1.50 0.75 0.25',
    'Host: 32 CPUs, 128G RAM, CPU 37.5%, MEM 61.0%',
    'VMs: 3, 2 shown - sort: CPU - every 2s - agent http://127.0.0.1:9464',
    TITLES,
    WEB_LINE,
    DB_LINE,
    KEY_LINE,
  ]);
  const noticed = renderFrame(frame({ notice: 'GET /metrics: HTTP 500', filter: 'db', omitted: 4 }), { cols: 120, rows: 7 });
  assert.equal(noticed.slice(2, 6), [
    'VMs: 3 matching "db", 1 shown, 4 left out by the agent\'s VM limit - sort: CPU - every 2s - agent http://127.0.0.1:9464',
    '! GET /metrics: HTTP 500',
    TITLES,
    WEB_LINE,
  ]);
  assert.is(noticed.length, 7);
  const all = renderFrame(frame(), { cols: 80, rows: null });
  assert.equal(all.slice(3), [TITLES, WEB_LINE, DB_LINE, NEW_LINE]);
  const unknownHost = renderFrame(frame({ host: { hostname: 'h', cpus: null, ramBytes: null, uptimeSeconds: null, load: null, cpuPct: null, memPct: null }, rows: [] }), { cols: 80, rows: null });
  assert.equal(unknownHost, ['vmpulse top - h - up - - load -', 'Host: - CPUs, - RAM, CPU -, MEM -', 'VMs: 0 - sort: CPU - every 2s - agent http://127.0.0.1:9464', TITLES]);
});

pure('a VM name with escape sequences cannot drive the terminal', () => {
  const lines = renderFrame(frame({ rows: [row({ name: 'evil\u001b]0;pwned\u0007', pid: 5 })] }), { cols: 80, rows: 24 });
  assert.is(lines[4], '      5 qemu     2     -     0    -     -     -     -     -    - evil?]0;pwned?');
  assert.ok(lines.every((l) => !/[\u0000-\u001f]/.test(l)));
});

pure('keys: c m n d p a sort, r reverses, q and Ctrl-C quit, escape sequences are ignored whole', () => {
  assert.equal(keyActions('c'), [{ kind: 'sort', key: 'cpu' }]);
  assert.equal(keyActions('mndpa'), ['mem', 'net', 'disk', 'pid', 'name'].map((key) => ({ kind: 'sort', key })));
  assert.equal(keyActions('r'), [{ kind: 'reverse' }]);
  assert.equal(keyActions('q'), [{ kind: 'quit' }]);
  assert.equal(keyActions('\u0003'), [{ kind: 'quit' }]);
  assert.equal(keyActions('\u001b[D'), []); // left arrow: not a "D"
  assert.equal(keyActions('xyz'), []);
});

pure('the exposition parser: labels with escapes, timestamps, special values; garbage is refused', () => {
  const p = parseExposition('# HELP x y\n# TYPE a counter\na{b="q\\"uo\\\\te",c="l\\nine"} 12.5 1700000000000\nup 1\nz +Inf\n');
  assert.ok(p.ok);
  assert.equal(p.value, [
    { name: 'a', labels: { b: 'q"uo\\te', c: 'l\nine' }, value: 12.5 },
    { name: 'up', labels: {}, value: 1 },
    { name: 'z', labels: {}, value: Infinity },
  ]);
  for (const bad of ['a{b=1} 2', 'a{b="x"', 'a{b="x"} notanumber', '{b="x"} 1', 'a']) {
    const r = parseExposition(bad);
    assert.ok(!r.ok && r.kind === 'malformed', `${bad} parsed`);
  }
});

pure('the agent\'s metrics to counters: info, CPU and RSS make a VM; missing series are unmeasured, not 0', () => {
  const text = [
    'vmpulse_agent_ticks_total 7',
    'vmpulse_agent_metrics_vms_omitted 1',
    'vmpulse_host_cpu_percent 12.5',
    'vmpulse_host_memory_used_percent 40',
    'vmpulse_host_load1 0.5',
    'vmpulse_host_load5 0.25',
    'vmpulse_host_load15 0.125',
    'vmpulse_host_uptime_seconds 3600',
    'vmpulse_vm_info{instance_id="i-1",instance_name="a \\"b\\"",hypervisor="qemu",pid="42"} 1',
    'hypeman_vm_cpu_seconds_total{instance_id="i-1",instance_name="a \\"b\\""} 12.5',
    'hypeman_vm_memory_rss_bytes{instance_id="i-1",instance_name="a \\"b\\""} 1048576',
    'hypeman_vm_allocated_vcpus{instance_id="i-1",instance_name="a \\"b\\""} 4',
    'hypeman_vm_allocated_memory_bytes{instance_id="i-1",instance_name="a \\"b\\""} 2097152',
    'hypeman_vm_network_rx_bytes_total{instance_id="i-1",instance_name="a \\"b\\""} 100',
    'hypeman_vm_network_tx_bytes_total{instance_id="i-1",instance_name="a \\"b\\""} 200',
    'vmpulse_vm_cpu_steal_seconds_total{instance_id="i-1",instance_name="a \\"b\\""} 0.5',
    // No info series: not a VM top can name.
    'hypeman_vm_cpu_seconds_total{instance_id="i-2",instance_name="x"} 1',
  ].join('\n');
  const p = parseExposition(text);
  assert.ok(p.ok);
  const r = fromAgentMetrics(p.value, [{ instance_id: 'i-1', pid: 42, starttime: 999, vcpu_threads: 3 }], 5000);
  assert.ok(r.ok);
  assert.equal(r.value, {
    ticks: 7,
    omitted: 1,
    host: { uptimeSeconds: 3600, load: [0.5, 0.25, 0.125], cpuPct: 12.5, memPct: 40 },
    vms: [
      {
        key: '42:999',
        name: 'a "b"',
        id: 'i-1',
        hypervisor: 'qemu',
        pid: 42,
        vcpus: 4,
        vcpuThreads: 3,
        allocatedMemoryBytes: 2097152,
        tMs: 5000,
        cpuSeconds: 12.5,
        rssBytes: 1048576,
        netInBytes: 100,
        netOutBytes: 200,
        diskReadBytes: null,
        diskWriteBytes: null,
        stealSeconds: 0.5,
      },
    ],
  });
  const notOurs = fromAgentMetrics([{ name: 'up', labels: {}, value: 1 }], [], 0);
  assert.ok(!notOurs.ok && /not a vmpulse agent/.test(notOurs.detail));
  assert.is(agentUrl({ host: '0.0.0.0', port: 9464 }), 'http://127.0.0.1:9464');
  assert.is(agentUrl({ host: '::', port: 1 }), 'http://[::1]:1');
  assert.is(agentUrl({ host: '10.0.0.5', port: 2 }), 'http://10.0.0.5:2');
});

pure.run();

// ---------------------------------------------------------------------------------------------
// The agent source over the real API, on an AgentView with fixed numbers

const api = suite('top: the agent source against the real agent API');

api('one poll: the host facts and figures, and every running VM\'s counters at the agent\'s tick', async () => {
  const view = new FakeView();
  const server = await startAgentApi(view, { listen: { host: '127.0.0.1', port: 0 }, token: 's3cret-top', labelBudget: 2000, logger: false });
  try {
    const src = new AgentSource(server.url, 's3cret-top');
    const d = await src.poll();
    assert.equal(d.host, { hostname: 'hv-test-01', cpus: 8, ramBytes: 65876852 * 1024, uptimeSeconds: 14420141, load: [0.5, 0.75, 1.25], cpuPct: 12.5, memPct: 53.5 });
    assert.is(d.previous, null);
    assert.is(d.omitted, 0);
    const byName = new Map(d.current.map((v) => [v.name, v]));
    assert.equal([...byName.keys()].sort(), ['batch-runner', 'my-web-server']); // the exited VM has no series
    assert.equal(byName.get(WEB.instanceName), {
      key: WEB.key,
      name: WEB.instanceName,
      id: WEB.instanceId,
      hypervisor: 'qemu',
      pid: 4242,
      vcpus: 2,
      vcpuThreads: 2,
      allocatedMemoryBytes: 4294967296,
      tMs: T0,
      cpuSeconds: (2500 + 494) / 100,
      rssBytes: 443338752,
      netInBytes: 12000000 + 345678, // the VM received what the host sent into its TAPs (tx)
      netOutBytes: 87000000 + 654321,
      diskReadBytes: 1048576,
      diskWriteBytes: 2097152,
      stealSeconds: 1.5,
    });
    assert.equal(byName.get(BATCH.instanceName), {
      key: BATCH.key,
      name: BATCH.instanceName,
      id: BATCH.instanceId,
      hypervisor: 'cloud-hypervisor',
      pid: 5151,
      vcpus: 1,
      vcpuThreads: 1,
      allocatedMemoryBytes: 0,
      tMs: T0,
      cpuSeconds: 7.55,
      rssBytes: 268435456,
      netInBytes: 9000,
      netOutBytes: 5000,
      diskReadBytes: null,
      diskWriteBytes: null,
      stealSeconds: null,
    });
    // The same tick again: no second read, so still no rates.
    assert.is((await src.poll()).previous, null);
    assert.is(src.hasRates(), false);

    // Without the token, and with a wrong one: a plain error that never repeats the token.
    for (const [token, re] of [
      [undefined, /requires a token \(401\): set VMPULSE_API_TOKEN/],
      ['wrong-token', /refused VMPULSE_API_TOKEN \(401\)/],
    ] as const) {
      const e = await new AgentSource(server.url, token).poll().then(
        () => null,
        (err: unknown) => err,
      );
      assert.instance(e, AgentError);
      assert.match((e as Error).message, re);
      assert.not.match((e as Error).message, /wrong-token|s3cret/);
    }
  } finally {
    await server.close();
  }
});

api('options: --help fits 80 columns and exits 0; bad options exit 2 and say what is wrong', async () => {
  const help = await runTop(['--help'], {});
  assert.is(help.code, 0);
  assert.match(help.stdout, /^Usage: vmpulse top \[--interval SECONDS\] \[--sort KEY\] \[--filter TEXT\]/);
  for (const opt of ['--interval', '--sort', '--filter', '--direct', '--once', KEY_LINE]) assert.ok(help.stdout.includes(opt), opt);
  assert.ok(help.stdout.split('\n').every((l) => l.length <= 80));
  for (const [args, re] of [
    [['--sort', 'speed'], /--sort wants one of cpu, mem, net, disk, pid, name, got "speed"/],
    [['--interval', '0'], /--interval wants seconds from 0\.2 to 3600, got "0"/],
    [['--interval', 'soon'], /--interval wants seconds/],
    [['--colour'], /Unknown option '--colour'/],
    [['extra'], /extra/],
  ] as const) {
    const r = await runTop([...args], {});
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.is(r.stdout, '');
  }
});

api.run();

// ---------------------------------------------------------------------------------------------
// End to end with real stand-in VMs

interface Fixture {
  dir: string;
  prefix: string;
  hot: Standin;
  talker: Standin;
}

let fx: Fixture | null = null;
const cleanups: (() => Promise<void> | void)[] = [];

/**
 * Two crosvm stand-ins with real TAPs: `hot` burns one vCPU thread and sends nothing, `talker`
 * writes 200 kB/s into its TAP (what the VM sends) and burns nothing.
 */
async function fixture(test: string): Promise<Fixture | null> {
  if (!(await needs(test, 'root', 'tun', 'cc'))) return null;
  if (fx) return fx;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-top-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const prefix = `vpt-top-${process.pid}-`;
  const start = async (opts: Parameters<typeof startStandin>[0]) => {
    const s = await startStandin(opts);
    cleanups.push(() => s.stop());
    return s;
  };
  const tapH = uniqueTapName();
  const tapT = uniqueTapName();
  const hot = await start({
    kind: 'crosvm',
    argv: ['run', '--cpus', '2', '--mem', '64', '--socket', `${dir}/${prefix}hot/crosvm.sock`, '--net', `tap-name=${tapH}`, '/kernel'],
    threads: 2,
    burn: [0],
    taps: [tapH],
    touchMiB: 8,
  });
  const talker = await start({
    kind: 'crosvm',
    argv: ['run', '--cpus', '2', '--mem', '64', '--socket', `${dir}/${prefix}talker/crosvm.sock`, '--net', `tap-name=${tapT}`, '/kernel'],
    threads: 2,
    taps: [tapT],
    txBytesPerSec: 200_000,
    touchMiB: 4,
  });
  fx = { dir, prefix, hot, talker };
  return fx;
}

/** `vmpulse top ...` to completion: exit code, stdout, stderr. */
function runTop(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, 'top', ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** The columns of a table line at 80 columns (NAME last, no spaces in our names). */
interface Cells {
  pid: number;
  hv: string;
  vc: string;
  cpu: string;
  rss: string;
  mem: string;
  rx: string;
  tx: string;
  rd: string;
  wr: string;
  st: string;
  name: string;
}
function cells(line: string): Cells {
  const [pid, hv, vc, cpu, rss, mem, rx, tx, rd, wr, st, name] = line.trim().split(/\s+/);
  return { pid: Number(pid), hv: hv!, vc: vc!, cpu: cpu!, rss: rss!, mem: mem!, rx: rx!, tx: tx!, rd: rd!, wr: wr!, st: st!, name: name! };
}

/** A human figure (as fmtBytes writes it) back to a number, for "more than zero" checks. */
const bytesOf = (s: string) => {
  const m = /^([\d.]+)([KMGTPE]?)$/.exec(s);
  if (!m) return NaN;
  return Number(m[1]) * 1024 ** ('KMGTPE'.indexOf(m[2]!) + 1 || 0);
};

/** What the frame must say of the two stand-ins, whatever the source. */
function checkRows(lines: string[], f: Fixture, what: string) {
  const find = (s: Standin) => {
    const l = lines.find((x) => x.endsWith(` ${f.prefix}${s === f.hot ? 'hot' : 'talker'}`));
    assert.ok(l, `${what}: no row for pid ${s.pid} in:\n${lines.join('\n')}`);
    return cells(l);
  };
  const hot = find(f.hot);
  const talker = find(f.talker);
  for (const [c, s] of [
    [hot, f.hot],
    [talker, f.talker],
  ] as const) {
    assert.is(c.pid, s.pid);
    assert.is(c.hv, 'crosvm');
    assert.is(c.vc, '2');
    // The stand-ins touched their memory before READY and allocate nothing after: RSS is steady.
    const rss = rssBytes(s.pid);
    assert.is(c.rss, fmtBytes(rss), `${what}: RSS of ${s.pid}`);
    assert.is(c.mem, fmtPct((rss / (64 * MiB)) * 100), `${what}: MEM% of ${s.pid}`);
    assert.is(c.rx, '0', `${what}: nothing is sent into the VMs' TAPs`);
    assert.ok(c.cpu !== '-' && c.st !== '-', `${what}: rates of ${s.pid}: ${JSON.stringify(c)}`);
  }
  assert.is(hot.tx, '0', `${what}: the hot stand-in sends nothing`);
  assert.ok(bytesOf(talker.tx) > 0, `${what}: the talker's TX/s is ${talker.tx}`);
  assert.ok(Number(hot.cpu) > 0, `${what}: the hot stand-in burns a thread but shows ${hot.cpu}`);
  return { hot, talker };
}

const e2e = suite('top: end to end with stand-in VMs');

e2e.after(async () => {
  for (const undo of cleanups.splice(0).reverse()) await undo();
  fx = null;
});

e2e('--once without an agent samples directly: both stand-ins with their PID, vCPUs, RSS, rates; plain text', async () => {
  const f = await fixture('vmpulse top --once, direct');
  if (!f) return;
  const port = await freePort(); // nothing listens there
  const r = await runTop(['--once', '--interval', '1', '--filter', f.prefix], { VMPULSE_LISTEN: `127.0.0.1:${port}`, COLUMNS: '160' });
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[2]!, new RegExp(`^VMs: 2 matching "${f.prefix}" - sort: CPU - every 1s - direct \\(no agent at http://127\\.0\\.0\\.1:${port}\\)$`));
  assert.is(lines[3], TITLES);
  assert.is(lines.length, 6, r.stdout);
  assert.not.match(r.stdout, /\u001b/); // a pipe gets no escape sequence
  const { hot } = checkRows(lines, f, 'direct');
  // Sorted by CPU: the burning stand-in first.
  assert.is(cells(lines[4]!).pid, hot.pid);
});

e2e('--once through a real agent (with its token): the same rows, from the agent\'s ticks', async () => {
  const f = await fixture('vmpulse top --once, agent');
  if (!f) return;
  const token = `tok-${process.pid}`;
  let agent: AgentProcess | null = null;
  try {
    agent = await startAgentProcess({ VMPULSE_SAMPLE_INTERVAL_MS: '500', VMPULSE_DISCOVERY_INTERVAL_MS: '1000', VMPULSE_API_TOKEN: token });
    const a = agent;
    await waitFor(
      async () => {
        const list = (await (await fetch(`${a.url}/instances`, { headers: { authorization: `Bearer ${token}` } })).json()) as { pid: number }[];
        return [f.hot.pid, f.talker.pid].every((p) => list.some((i) => i.pid === p));
      },
      20_000,
      'the agent to list both stand-ins',
      100,
    );
    const listen = a.url.replace('http://', '');
    const r = await runTop(['--once', '--filter', f.prefix, '--sort', 'net'], { VMPULSE_LISTEN: listen, VMPULSE_API_TOKEN: token, COLUMNS: '160' });
    assert.is(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.is(lines[2], `VMs: 2 matching "${f.prefix}" - sort: NET - every 2s - agent ${a.url}`);
    const { talker } = checkRows(lines, f, 'agent');
    assert.is(cells(lines[4]!).pid, talker.pid); // by network: the talker first

    const refused = await runTop(['--once'], { VMPULSE_LISTEN: listen, VMPULSE_API_TOKEN: 'not-the-token' });
    assert.is(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`the agent at ${a.url.replace(/\./g, '\\.')} refused VMPULSE_API_TOKEN \\(401\\)`));
    assert.not.match(refused.stderr + refused.stdout, /not-the-token/);
  } finally {
    await agent?.stop();
  }
});

/** The screen's table rows (lines after the titles, before the key line). */
function tableRows(screen: string[]): string[] {
  const start = screen.indexOf(TITLES);
  if (start < 0) return [];
  const end = screen.indexOf(KEY_LINE);
  return screen.slice(start + 1, end < 0 ? undefined : end).filter((l) => l !== '');
}

async function driveInTmux(f: Fixture, env: Record<string, string>, quitKey: string, what: string) {
  const pane = TmuxPane.start([process.execPath, cli, 'top', '--interval', '1', '--filter', f.prefix], env);
  try {
    // Both rows with rates, the burning one first (sort by CPU by default).
    const first = await waitFor(
      () => {
        const s = pane.screen();
        const rows = tableRows(s);
        return rows.length === 2 && rows.every((l) => cells(l).cpu !== '-') ? s : null;
      },
      30_000,
      `${what}: top to show both stand-ins with rates`,
      200,
    );
    assert.is(first.length, 24);
    assert.match(first[0]!, /^vmpulse top - \S+ - up /);
    assert.match(first[2]!, / - sort: CPU - every 1s - /);
    assert.is(first[23], KEY_LINE);
    assert.equal(tableRows(first).map((l) => cells(l).pid), [f.hot.pid, f.talker.pid]);
    assert.ok(first.every((l) => l.length <= 80));

    pane.sendKeys('n');
    const byNet = await waitFor(() => {
      const s = pane.screen();
      return / - sort: NET - /.test(s[2] ?? '') ? s : null;
    }, 10_000, `${what}: the header to show the NET sort`, 100);
    assert.equal(tableRows(byNet).map((l) => cells(l).pid), [f.talker.pid, f.hot.pid]);

    pane.sendKeys(quitKey);
    await waitFor(() => pane.exitStatus() !== null, 10_000, `${what}: top to exit on ${quitKey}`, 50);
    assert.is(pane.exitStatus(), 0, `${what}: exit status after ${quitKey}`);
    assert.is(alive(pane.pid), false);
    // The alternate screen was left: top's frame is no longer on the terminal.
    assert.not.ok(pane.screen().some((l) => l.startsWith('vmpulse top - ')), pane.screen().join('\n'));
  } finally {
    pane.stop();
  }
}

e2e('live in an 80×24 terminal (tmux) without an agent: lists the stand-ins, n sorts by network, q quits with 0', async () => {
  const f = await fixture('vmpulse top in tmux, direct');
  if (!f || !(await needs('vmpulse top in tmux, direct', 'tmux'))) return;
  await driveInTmux(f, { VMPULSE_LISTEN: `127.0.0.1:${await freePort()}`, PATH: process.env.PATH ?? '/usr/bin:/bin' }, 'q', 'direct');
});

e2e('live in tmux through a real agent: the same view; Ctrl-C quits with 0', async () => {
  const f = await fixture('vmpulse top in tmux, agent');
  if (!f || !(await needs('vmpulse top in tmux, agent', 'tmux'))) return;
  let agent: AgentProcess | null = null;
  try {
    agent = await startAgentProcess({ VMPULSE_SAMPLE_INTERVAL_MS: '500', VMPULSE_DISCOVERY_INTERVAL_MS: '1000' });
    await driveInTmux(f, { VMPULSE_LISTEN: agent.url.replace('http://', ''), PATH: process.env.PATH ?? '/usr/bin:/bin' }, 'C-c', 'agent');
  } finally {
    await agent?.stop();
  }
});

e2e('on a dumb terminal: frames one after another without escape sequences, rows that fit, q still quits with 0', async () => {
  const f = await fixture('vmpulse top in tmux, TERM=dumb');
  if (!f || !(await needs('vmpulse top in tmux, TERM=dumb', 'tmux'))) return;
  const pane = TmuxPane.start([process.execPath, cli, 'top', '--interval', '1', '--filter', f.prefix], {
    VMPULSE_LISTEN: `127.0.0.1:${await freePort()}`,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TERM: 'dumb',
  });
  try {
    // Frames printed one after another (the earlier ones scrolled into the history), each one
    // line shorter than the screen so that the latest fills it: header on the first line, key
    // line on the 23rd, the cursor's empty line last.
    await waitFor(() => pane.screen(200).filter((l) => l.startsWith('vmpulse top - ')).length >= 3, 20_000, 'three frames on the dumb terminal', 200);
    const screen = await waitFor(() => {
      const s = pane.screen();
      return s[0]!.startsWith('vmpulse top - ') && tableRows(s).length === 2 ? s : null;
    }, 10_000, 'a whole frame with both stand-ins on the screen', 50);
    assert.is(screen[22], KEY_LINE, screen.join('\n'));
    assert.is(screen[23], '');
    pane.sendKeys('q');
    await waitFor(() => pane.exitStatus() !== null, 10_000, 'top to exit on q', 50);
    assert.is(pane.exitStatus(), 0);
    // No alternate screen was used: the frames are still there after the exit.
    assert.ok(pane.screen(200).some((l) => l.startsWith('vmpulse top - ')));
  } finally {
    pane.stop();
  }
});

e2e.run();
