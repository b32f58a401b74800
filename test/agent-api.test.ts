// The agent's local API against an AgentView: test/helpers/fake-view.ts (fixed, realistic numbers).
// The real agent with real QEMU and stand-ins is tested in agent-e2e.test.ts with the shared checks
// of test/helpers/api-check.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { type AgentApi, type AgentApiOptions, startAgentApi } from '../src/agent/api.js';
import { resolveInstance } from '../src/agent/resolve.js';
import { loadAgentApiConfig } from '../src/agent/api-config.js';
import type { AgentView } from '../src/agent/view.js';
import { pino } from 'pino';
import { needs } from './helpers/needs.js';
import { BATCH, FakeView, OLD, T0, WEB } from './helpers/fake-view.js';
import { checkInstanceStatsShape, findSamples, getJson, HYPEMAN_METRICS, parseExposition, startPrometheus } from './helpers/api-check.js';
import { waitFor } from './helpers/procs.js';

export async function withApi<T>(view: AgentView, opts: AgentApiOptions, fn: (api: AgentApi) => Promise<T>): Promise<T> {
  const api = await startAgentApi(view, { listen: { host: '127.0.0.1', port: 0 }, token: '', labelBudget: 2000, logger: false, ...opts });
  try {
    return await fn(api);
  } finally {
    await api.close();
  }
}

const find = findSamples;

const api = suite('agent-api');

api('config: defaults and overrides from VMPULSE_* variables', () => {
  assert.equal(loadAgentApiConfig({}), { listen: { host: '127.0.0.1', port: 9464 }, token: undefined, labelBudget: 2000 });
  assert.equal(loadAgentApiConfig({ VMPULSE_LISTEN: '0.0.0.0:19464', VMPULSE_API_TOKEN: 's3cret', VMPULSE_METRICS_VM_LIMIT: '5' }), {
    listen: { host: '0.0.0.0', port: 19464 },
    token: 's3cret',
    labelBudget: 5,
  });
  assert.throws(() => loadAgentApiConfig({ VMPULSE_LISTEN: 'nope' }), /VMPULSE_LISTEN/);
  // 0 turns per-VM series off; a negative or non-integer limit is a configuration error.
  assert.is(loadAgentApiConfig({ VMPULSE_METRICS_VM_LIMIT: '0' }).labelBudget, 0);
  assert.throws(() => loadAgentApiConfig({ VMPULSE_METRICS_VM_LIMIT: '-1' }), /VMPULSE_METRICS_VM_LIMIT/);
  assert.throws(() => loadAgentApiConfig({ VMPULSE_METRICS_VM_LIMIT: '2k' }), /VMPULSE_METRICS_VM_LIMIT/);
});

api('resolve: id, then name, then unique prefix; running wins over exited twins', () => {
  const v = new FakeView();
  const list = v.instances();
  const id = (r: ReturnType<typeof resolveInstance>) => (r.ok ? r.instance.vm.key : r.code);
  assert.is(id(resolveInstance(list, WEB.instanceId)), WEB.key);
  assert.is(id(resolveInstance(list, 'batch-runner')), BATCH.key);
  assert.is(id(resolveInstance(list, 'qilvi')), WEB.key);
  assert.is(id(resolveInstance(list, 'qilv')), 'ambiguous');
  assert.is(id(resolveInstance(list, 'zzz')), 'not_found');
  assert.is(id(resolveInstance(list, '')), 'not_found');
  // A name equal to another VM's id prefix: the exact name wins over the prefix.
  const named = [...list, { ...list[2]!, vm: { ...OLD, key: '1:1', instanceId: 'x1', instanceName: 'qilv' } }];
  assert.is(id(resolveInstance(named, 'qilv')), '1:1');
  // The same id on an exited process and a restarted one: the running one.
  const restarted = [...list, { ...list[2]!, vm: { ...WEB, key: '9999:77' }, state: 'gone' as const }];
  assert.is(id(resolveInstance(restarted, WEB.instanceId)), WEB.key);
});

api('GET /healthz and /readyz', async () => {
  const v = new FakeView();
  await withApi(v, {}, async ({ url }) => {
    const h = await getJson(`${url}/healthz`);
    assert.is(h.status, 200);
    assert.equal(h.body, { status: 'ok' });
    let r = await getJson(`${url}/readyz`);
    assert.is(r.status, 200);
    assert.is(r.body.ready, true);
    assert.is(r.body.ticks, 42);
    v.ready = false;
    r = await getJson(`${url}/readyz`);
    assert.is(r.status, 503);
    assert.is(r.body.code, 'not_ready');
    assert.is(r.body.ready, false);
    assert.is(r.body.last_tick_at, null);
  });
});

api('GET /instances lists every VM with identity, allocation, TAPs and state', async () => {
  await withApi(new FakeView(), {}, async ({ url }) => {
    const r = await getJson(`${url}/instances`);
    assert.is(r.status, 200);
    assert.is(r.body.length, 3);
    assert.equal(r.body[0], {
      instance_id: 'qilviffnqzck2jrim1x6s2b1',
      instance_name: 'my-web-server',
      hypervisor: 'qemu',
      pid: 4242,
      starttime: 1000,
      allocated_vcpus: 2,
      allocated_memory_bytes: 4294967296,
      tap_devices: ['vpt-web0', 'vpt-web1'],
      vcpu_threads: 2,
      state: 'running',
      id_source: 'qemu-uuid',
      discovered_at: new Date(T0).toISOString(),
      // This view runs no device rounds: no disks or balloon, and Measured says why.
      disks: null,
      balloon: null,
      device_sources: [],
      device_measured: ['device rounds are off (VMPULSE_DEVICE_INTERVAL_MS=0)'],
      devices_read_at_ms: null,
      disk_rates: [],
    });
    assert.is(r.body[1].allocated_memory_bytes, 0);
    assert.is(r.body[2].state, 'gone');
    assert.is(r.body[2].hypervisor, 'firecracker');
  });
});

api('GET /instances/{id}/stats: the seed InstanceStats, field by field, read fresh', async () => {
  const v = new FakeView();
  await withApi(v, {}, async ({ url }) => {
    const before = v.freshReads;
    const r = await getJson(`${url}/instances/${WEB.instanceId}/stats`);
    assert.is(r.status, 200);
    assert.is(v.freshReads, before + 1);
    checkInstanceStatsShape(r.body, WEB.allocatedMemoryBytes);
    const rss = 443338752 + 7 * 4096;
    assert.equal(r.body, {
      instance_id: 'qilviffnqzck2jrim1x6s2b1',
      instance_name: 'my-web-server',
      // The fresh read (2507 + 501 ticks), not the tick's 2500 + 494.
      cpu_seconds: 30.08,
      memory_rss_bytes: rss,
      memory_vms_bytes: 4330745856,
      // VM view: received = sum of the TAPs' host tx_bytes; sent = sum of host rx_bytes.
      network_rx_bytes: 12000070 + 345678,
      network_tx_bytes: 87000700 + 654321,
      allocated_vcpus: 2,
      allocated_memory_bytes: 4294967296,
      memory_utilization_ratio: rss / 4294967296,
    });
    assert.not.ok(Number.isInteger(r.body.cpu_seconds));
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);

    const b = await getJson(`${url}/instances/batch-runner/stats`);
    assert.is(b.status, 200);
    checkInstanceStatsShape(b.body, 0);
    assert.not.ok('memory_utilization_ratio' in b.body);
    assert.is(b.body.cpu_seconds, 7.58);
    assert.is(b.body.network_rx_bytes, 9003);
    assert.is(b.body.network_tx_bytes, 5000);
    assert.is(b.body.allocated_memory_bytes, 0);
  });
});

api('{id}: by name, by prefix, unknown (404), ambiguous (409), exited (404)', async () => {
  const v = new FakeView();
  await withApi(v, {}, async ({ url }) => {
    assert.is((await getJson(`${url}/instances/my-web-server/stats`)).body.instance_id, WEB.instanceId);
    assert.is((await getJson(`${url}/instances/qilvz/stats`)).body.instance_id, BATCH.instanceId);
    const nf = await getJson(`${url}/instances/no-such-vm/stats`);
    assert.is(nf.status, 404);
    assert.equal(Object.keys(nf.body).sort(), ['code', 'message']);
    assert.is(nf.body.code, 'not_found');
    assert.match(nf.body.message, /no-such-vm/);
    const amb = await getJson(`${url}/instances/qilv/stats`);
    assert.is(amb.status, 409);
    assert.equal(Object.keys(amb.body).sort(), ['code', 'message']);
    assert.is(amb.body.code, 'ambiguous');
    assert.match(amb.body.message, /qilviffnqzck2jrim1x6s2b1/);
    assert.match(amb.body.message, /qilvzq0m3kx8ab5c7d9e1f2g/);
    const old = await getJson(`${url}/instances/old-vm/stats`);
    assert.is(old.status, 404);
    assert.is(old.body.code, 'not_found');
    assert.match(old.body.message, /exited/);
    v.goneOnRead.add(BATCH.key);
    const gone = await getJson(`${url}/instances/batch-runner/stats`);
    assert.is(gone.status, 404);
    assert.is(gone.body.code, 'not_found');
    assert.match(gone.body.message, /pid 5151\) exited/);
    // The same resolution applies to every per-instance route.
    assert.is((await getJson(`${url}/instances/qilv/history`)).status, 409);
    assert.is((await getJson(`${url}/instances/nope/stats/detail`)).status, 404);
  });
});

api('bearer token: missing or wrong → 401, right → 200, /healthz open', async () => {
  const token = 'tok-4f1c9a7e0b';
  await withApi(new FakeView(), { token }, async ({ url }) => {
    for (const path of ['/instances', '/metrics', `/instances/${WEB.instanceId}/stats`, '/readyz', '/no-such-route']) {
      const none = await getJson(`${url}${path}`);
      assert.is(none.status, 401, path);
      assert.is(none.body.code, 'unauthorized');
      assert.type(none.body.message, 'string');
      for (const auth of ['Bearer wrong', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, 'Bearer ', `Basic ${token}`])
        assert.is((await getJson(`${url}${path}`, { headers: { authorization: auth } })).status, 401, `${path} ${auth}`);
    }
    const okr = await getJson(`${url}/instances`, { headers: { authorization: `Bearer ${token}` } });
    assert.is(okr.status, 200);
    assert.is(okr.body.length, 3);
    const okm = await fetch(`${url}/metrics`, { headers: { authorization: `bearer ${token}` } });
    assert.is(okm.status, 200);
    assert.is((await getJson(`${url}/healthz`)).status, 200);
  });
});

api('the token never reaches the log, right or wrong', async () => {
  const token = 'tok-never-logged-77';
  const lines: string[] = [];
  const logger = pino({ level: 'trace' }, { write: (l: string) => void lines.push(l) });
  await withApi(new FakeView(), { token, logger }, async ({ url }) => {
    assert.is((await fetch(`${url}/instances`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.is((await fetch(`${url}/instances`, { headers: { authorization: 'Bearer guessed-token-1' } })).status, 401);
  });
  assert.ok(lines.some((l) => l.includes('/instances')), 'requests were logged');
  assert.not.ok(lines.some((l) => l.includes(token) || l.includes('guessed-token-1')));
});

api('unknown route → 404 JSON, wrong method → 405 with Allow, errors → 500 without a stack', async () => {
  class Broken extends FakeView {
    override hostHistory(): never {
      throw new Error('secret internals at /srv/x.ts:12');
    }
  }
  await withApi(new Broken(), {}, async ({ url }) => {
    const nf = await getJson(`${url}/nope`);
    assert.is(nf.status, 404);
    assert.is(nf.body.code, 'not_found');
    assert.is((await getJson(`${url}/instances/x/stats/detail/more`)).status, 404);
    assert.is((await fetch(`${url}/instances`, { method: 'HEAD' })).status, 200);
    for (const [method, path] of [['POST', '/instances'], ['DELETE', `/instances/${WEB.instanceId}/stats`], ['PUT', '/metrics']] as const) {
      const r = await getJson(`${url}${path}`, { method, ...(method === 'DELETE' ? {} : { body: '{}', headers: { 'content-type': 'application/json' } }) });
      assert.is(r.status, 405, `${method} ${path}`);
      assert.is(r.body.code, 'method_not_allowed');
      assert.is(r.headers.get('allow'), 'GET, HEAD');
    }
    const e = await getJson(`${url}/host/history`);
    assert.is(e.status, 500);
    assert.equal(e.body, { code: 'internal', message: 'internal error' });
    assert.not.match(e.text, /secret|\.ts|at /);
  });
});

api('GET /instances/{id}/stats/detail: Nomad ResourceUsage, Measured follows what was measured', async () => {
  await withApi(new FakeView(), {}, async ({ url }) => {
    const r = await getJson(`${url}/instances/${WEB.instanceId}/stats/detail`);
    assert.is(r.status, 200);
    const cpu = r.body.ResourceUsage.CpuStats;
    assert.equal(cpu, {
      Percent: 35.5,
      SystemMode: 5.25,
      UserMode: 30.25,
      // (Percent / 100) × CPUSpeed (MHz of one core), Nomad's TicksConsumed.
      TotalTicks: 0.355 * 2600,
      ThrottledPeriods: 12,
      ThrottledTime: 345000000,
      Measured: ['System Mode', 'User Mode', 'Percent', 'Throttled Periods', 'Throttled Time'],
    });
    assert.equal(r.body.ResourceUsage.MemoryStats, {
      RSS: 443338752 + 7 * 4096,
      Swap: 8192,
      MaxUsage: 500006912,
      Cache: 0,
      KernelUsage: 0,
      KernelMaxUsage: 0,
      Usage: 443338752 + 7 * 4096 + 8192,
      Measured: ['RSS', 'Swap', 'Max Usage'],
    });
    assert.is(r.body.Timestamp, (T0 + 2500) * 1e6);
    assert.ok(Number.isInteger(r.body.Timestamp));
    assert.equal(Object.keys(r.body.Threads).sort(), ['4242', '4250', '4251']);
    const v0 = r.body.Threads['4250'];
    assert.is(v0.Name, 'CPU 0/KVM');
    assert.is(v0.Vcpu, true);
    // The fake's thread uses 0.4 s user + 0.1 s system per wall second.
    assert.ok(Math.abs(v0.CpuStats.Percent - 50) < 5, `thread percent ${v0.CpuStats.Percent}`);
    assert.ok(Math.abs(v0.CpuStats.UserMode - 40) < 4);
    assert.equal(v0.CpuStats.Measured, ['System Mode', 'User Mode', 'Percent']);
    assert.is(r.body.Threads['4242'].Vcpu, false);
    assert.equal(r.body.Network.Interfaces['vpt-web0'], {
      RxBytesPerSec: 9000, TxBytesPerSec: 48000, RxPacketsPerSec: 9, TxPacketsPerSec: 48,
      RxErrorsPerSec: 0.2, TxErrorsPerSec: 0, RxDroppedPerSec: 0.8, TxDroppedPerSec: 0.4,
    });
    assert.is(r.body.Network.RxDroppedPerSec, 0.8);
    assert.is(r.body.Network.RxBytesPerSec, 10000);
    assert.is(r.body.Network.TxBytesPerSec, 50000);
    assert.equal(r.body.Disk, { ReadBytesPerSec: 2048, WriteBytesPerSec: 8192, ReadBytes: 1048576 + 7 * 512, WriteBytes: 2097152 + 7 * 1024 });

    // Second VM: no interval yet, no cgroup, no swap/peak, threads unreadable.
    const b = await getJson(`${url}/instances/batch-runner/stats/detail`);
    assert.is(b.status, 200);
    assert.equal(b.body.ResourceUsage.CpuStats.Measured, []);
    assert.is(b.body.ResourceUsage.CpuStats.ThrottledPeriods, 0);
    assert.equal(b.body.ResourceUsage.MemoryStats.Measured, ['RSS']);
    assert.is(b.body.ResourceUsage.MemoryStats.RSS, 268435456);
    assert.equal(b.body.Threads, {});
    assert.match(b.body.ThreadsError, /denied/);
    assert.is(b.body.Network.Measured, false);
    assert.equal(b.body.Disk, { ReadBytesPerSec: 0, WriteBytesPerSec: 0, ReadBytes: null, WriteBytes: null });
  });
});

api('GET /instances/{id}/history and /host/history: HetrixTools Stats, newest first', async () => {
  const v = new FakeView();
  await withApi(v, {}, async ({ url }) => {
    const r = await getJson(`${url}/instances/my-web-server/history`);
    assert.is(r.status, 200);
    assert.is(r.body.InstanceID, WEB.instanceId);
    assert.is(r.body.InstanceName, 'my-web-server');
    const windows = v.instanceHistory(WEB.key);
    assert.equal(r.body.Stats.map((s: { Minute: number }) => s.Minute), windows.map((w) => w.Minute).reverse());
    const first = r.body.Stats[0];
    assert.equal({ ...first, Detail: undefined }, {
      Minute: windows[2]!.Minute,
      CPU: 30.12,
      CPUCore: 60.25,
      RAM: 11,
      NetIn: 3000,
      NetOut: 9000,
      DiskRead: 4096,
      DiskWrite: 8192,
      Steal: 0.13,
      Samples: 12,
      Unsampled: 0,
      Detail: undefined,
    });
    assert.equal(first.Detail, windows[2]);
    const b = await getJson(`${url}/instances/batch-runner/history`);
    assert.is(b.body.Stats.length, 2);
    assert.is(b.body.Stats[0].RAM, null);
    const h = await getJson(`${url}/host/history`);
    assert.is(h.status, 200);
    assert.is(h.body.Hostname, 'hv-test-01');
    assert.is(h.body.CPUSpeed, 2600);
    assert.equal(h.body.Stats.map((s: { CPU: number }) => s.CPU), [7.6, 8.4, 9.26]);
    assert.is(h.body.Stats[0].IOWait, 0.05);
    assert.is(h.body.Stats[0].RAM, 53.51);
    assert.is(h.body.Stats[0].Disk, 59.62);
    assert.is(h.body.Stats[0].NetIn, 534495);
  });
});

api('GET /metrics: the seed eight with their TYPE and labels, values from the view', async () => {
  const v = new FakeView();
  await withApi(v, {}, async ({ url, metrics }) => {
    metrics.observeTick(0.012);
    metrics.observeDiscovery(0.3);
    metrics.readError('denied');
    metrics.readError('denied');
    metrics.setShipperStats(() => ({ spoolRecords: 3, spoolBytes: 4096, batchesShipped: 10, batchesFailed: 2, batchesDropped: 0, batchesDeadLettered: 1, spoolCorruptRecords: 0 }));
    const res = await fetch(`${url}/metrics`);
    assert.is(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const { types, samples } = parseExposition(await res.text());
    for (const [name, type] of HYPEMAN_METRICS) {
      assert.is(types.get(name), type, name);
      for (const s of find(samples, name)) assert.equal(Object.keys(s.labels).sort(), ['instance_id', 'instance_name'], name);
    }
    const web = { instance_id: WEB.instanceId, instance_name: 'my-web-server' };
    const bat = { instance_id: BATCH.instanceId, instance_name: 'batch-runner' };
    const val = (name: string, labels: Record<string, string> = {}) => {
      const f = find(samples, name, labels);
      assert.is(f.length, 1, `${name} ${JSON.stringify(labels)}: ${f.length} series`);
      return f[0]!.value;
    };
    // Latest tick values (not the fresh read): 2500 + 494 ticks at 100 Hz.
    assert.is(val('hypeman_vm_cpu_seconds_total', web), 29.94);
    assert.is(val('hypeman_vm_allocated_vcpus', web), 2);
    assert.is(val('hypeman_vm_memory_rss_bytes', web), 443338752);
    assert.is(val('hypeman_vm_memory_vms_bytes', web), 4330745856);
    assert.is(val('hypeman_vm_allocated_memory_bytes', web), 4294967296);
    assert.is(val('hypeman_vm_network_rx_bytes_total', web), 12000000 + 345678);
    assert.is(val('hypeman_vm_network_tx_bytes_total', web), 87000000 + 654321);
    assert.ok(Math.abs(val('hypeman_vm_memory_utilization_ratio', web) - 443338752 / 4294967296) < 1e-12);
    assert.is(val('hypeman_vm_cpu_seconds_total', bat), 7.55);
    assert.is(val('hypeman_vm_allocated_memory_bytes', bat), 0);
    assert.is(find(samples, 'hypeman_vm_memory_utilization_ratio', bat).length, 0);
    // The exited VM has no series at all.
    assert.is(samples.filter((s) => s.labels.instance_id === OLD.instanceId).length, 0);

    assert.is(val('vmpulse_vm_info', { ...web, hypervisor: 'qemu', pid: '4242' }), 1);
    assert.is(val('vmpulse_vm_info', { ...bat, hypervisor: 'cloud-hypervisor', pid: '5151' }), 1);
    assert.is(types.get('vmpulse_vm_cpu_steal_seconds_total'), 'counter');
    assert.is(val('vmpulse_vm_cpu_steal_seconds_total', web), 1.5);
    assert.is(val('vmpulse_vm_vcpu_run_seconds_total', web), 20);
    assert.is(find(samples, 'vmpulse_vm_cpu_steal_seconds_total', bat).length, 0);
    assert.is(val('vmpulse_vm_disk_read_bytes_total', web), 1048576);
    assert.is(val('vmpulse_vm_disk_write_bytes_total', web), 2097152);
    assert.is(val('vmpulse_vm_memory_swap_bytes', web), 8192);
    assert.is(val('vmpulse_vm_memory_peak_rss_bytes', web), 500006912);
    assert.is(val('vmpulse_vm_cpu_throttled_periods_total', web), 12);
    assert.is(val('vmpulse_vm_cpu_throttled_seconds_total', web), 0.345);
    assert.is(find(samples, 'vmpulse_vm_cpu_throttled_periods_total', bat).length, 0);
    assert.is(val('vmpulse_vm_tap_rx_bytes_total', { ...web, tap: 'vpt-web0' }), 12000000);
    assert.is(val('vmpulse_vm_tap_tx_bytes_total', { ...web, tap: 'vpt-web0' }), 87000000);
    assert.is(val('vmpulse_vm_tap_rx_packets_total', { ...web, tap: 'vpt-web1' }), 400);
    assert.is(val('vmpulse_vm_tap_tx_packets_total', { ...bat, tap: 'vpt-bat0' }), 50);
    // Errors and drops in the VM's view: the VM's rx is the TAP's tx.
    assert.is(val('vmpulse_vm_tap_rx_errors_total', { ...web, tap: 'vpt-web1' }), 1);
    assert.is(val('vmpulse_vm_tap_tx_errors_total', { ...web, tap: 'vpt-web0' }), 2);
    assert.is(val('vmpulse_vm_tap_rx_dropped_total', { ...web, tap: 'vpt-web0' }), 31);
    assert.is(val('vmpulse_vm_tap_tx_dropped_total', { ...web, tap: 'vpt-web1' }), 0);
    assert.is(types.get('vmpulse_vm_tap_rx_dropped_total'), 'counter');

    assert.is(val('vmpulse_host_cpu_percent'), 12.5);
    assert.is(val('vmpulse_host_iowait_percent'), 0.25);
    assert.is(val('vmpulse_host_steal_percent'), 0);
    assert.is(val('vmpulse_host_memory_used_percent'), 53.5);
    assert.is(val('vmpulse_host_swap_used_percent'), 1.5);
    assert.is(val('vmpulse_host_load1'), 0.5);
    assert.is(val('vmpulse_host_load5'), 0.75);
    assert.is(val('vmpulse_host_load15'), 1.25);
    assert.is(val('vmpulse_host_uptime_seconds'), 14420141);

    assert.is(val('vmpulse_agent_ticks_total'), 42);
    assert.is(types.get('vmpulse_agent_tick_duration_seconds'), 'histogram');
    assert.is(val('vmpulse_agent_tick_duration_seconds_count'), 1);
    assert.is(val('vmpulse_agent_tick_duration_seconds_bucket', { le: '0.025' }), 1);
    assert.is(val('vmpulse_agent_tick_duration_seconds_bucket', { le: '0.01' }), 0);
    assert.is(val('vmpulse_agent_discovery_duration_seconds_sum'), 0.3);
    assert.is(val('vmpulse_agent_vms_observed'), 2);
    assert.is(val('vmpulse_agent_read_errors_total', { kind: 'denied' }), 2);
    assert.is(val('vmpulse_agent_read_errors_total', { kind: 'gone' }), 0);
    assert.is(val('vmpulse_agent_ready'), 1);
    assert.is(val('vmpulse_agent_spool_records'), 3);
    assert.is(val('vmpulse_agent_spool_bytes'), 4096);
    assert.is(val('vmpulse_agent_batches_shipped_total'), 10);
    assert.is(val('vmpulse_agent_batches_failed_total'), 2);
    assert.is(val('vmpulse_agent_batches_dropped_total'), 0);
    assert.is(val('vmpulse_agent_batches_dead_lettered_total'), 1);
    assert.is(val('vmpulse_agent_spool_corrupt_records_total'), 0);
    assert.is(val('vmpulse_agent_metrics_vm_limit_exceeded_total'), 0);
    assert.is(val('vmpulse_agent_metrics_vms_omitted'), 0);
  });
});

api('GET /metrics: extraMetrics registers on the same registry', async () => {
  const { Gauge } = await import('prom-client');
  await withApi(new FakeView(), { extraMetrics: (registry) => new Gauge({ name: 'vmpulse_test_extra', help: 'x', registers: [registry] }).set(7) }, async ({ url }) => {
    const { samples } = parseExposition(await (await fetch(`${url}/metrics`)).text());
    assert.is(find(samples, 'vmpulse_test_extra')[0]?.value, 7);
  });
});

api('GET /metrics passes promtool check metrics', async () => {
  if (!(await needs('GET /metrics passes promtool check metrics', 'promtool'))) return;
  await withApi(new FakeView(), {}, async ({ url, metrics }) => {
    metrics.setShipperStats(() => ({ spoolRecords: 0, spoolBytes: 0, batchesShipped: 0, batchesFailed: 0, batchesDropped: 0, batchesDeadLettered: 0, spoolCorruptRecords: 0 }));
    const text = await (await fetch(`${url}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
    assert.is(`${r.stdout}${r.stderr}`.trim(), '');
  });
});

api('label budget: limit 1 with 2 VMs → one VM has series, the rest are counted', async () => {
  await withApi(new FakeView(), { labelBudget: 1 }, async ({ url }) => {
    for (const scrape of [1, 2]) {
      const { samples } = parseExposition(await (await fetch(`${url}/metrics`)).text());
      const ids = new Set(samples.filter((s) => s.name.startsWith('hypeman_vm_') || s.name.startsWith('vmpulse_vm_')).map((s) => s.labels.instance_id));
      // The budget keeps the longest-known VM, so the same VM keeps its series across scrapes.
      assert.equal([...ids], [WEB.instanceId]);
      assert.is(find(samples, 'vmpulse_agent_metrics_vm_limit_exceeded_total')[0]!.value, scrape);
      assert.is(find(samples, 'vmpulse_agent_metrics_vms_omitted')[0]!.value, 1);
      assert.is(find(samples, 'vmpulse_agent_metrics_vm_limit')[0]!.value, 1);
      assert.is(find(samples, 'vmpulse_agent_vms_observed')[0]!.value, 2);
    }
  });
});

api('a real Prometheus scrapes the API: rate(hypeman_vm_cpu_seconds_total[30s]) matches the slope', async () => {
  const name = 'a real Prometheus scrapes the API';
  if (!(await needs(name, 'prometheus'))) return;
  const v = new FakeView();
  v.webCpuSlope = 0.8;
  await withApi(v, {}, async ({ url }) => {
    const prom = await startPrometheus(new URL(url).host);
    try {
      const q = `rate(hypeman_vm_cpu_seconds_total{instance_id="${WEB.instanceId}"}[30s])`;
      // rate() divides the extrapolated increase by the whole range, so it equals the slope only
      // once the scraped samples span the 30 s range: wait for the first sample, then 31 s more.
      const rateNow = async (): Promise<number | 'exited' | null> => {
        if (prom.exited()) return 'exited';
        const result = await prom.query(q);
        if (result.length !== 1) return null;
        assert.is(result[0]!.metric.instance_name, 'my-web-server');
        return Number(result[0]!.value[1]);
      };
      const firstSeenMs = await waitFor(async () => ((await rateNow()) === null ? null : Date.now()), 20_000, `a first rate from Prometheus: ${prom.stderr()}`, 500);
      const value = await waitFor(async () => (Date.now() - firstSeenMs >= 31_000 ? rateNow() : null), 45_000, `a settled rate from Prometheus: ${prom.stderr()}`, 1000);
      assert.ok(typeof value === 'number' && value > 0, `rate ${value}`);
      assert.ok(Math.abs((value as number) - 0.8) < 0.06, `rate ${value} vs slope 0.8`);
    } finally {
      await prom.stop();
    }
  });
});

api.run();
