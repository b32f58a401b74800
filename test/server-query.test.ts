// Query APIs (HetrixTools servers, Hypeman instances, Lightsail metric data over REST, AWS JSON 1.1
// and the real AWS SDK), the same suite on SQLite and PostgreSQL, against exact ingested values.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GetInstanceMetricDataCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import { getMetricData } from '../src/server/metric-data.js';
import {
  ENGINES,
  agg,
  approx,
  engineReady,
  hostWindow,
  ingest,
  instanceRecord,
  instanceWindow,
  payload,
  request,
  startTestServer,
  type Engine,
  type TestServer,
} from './helpers/server.js';

// The VM abc12345 ("web-1") gets ten minutes from B on: instance records for minutes 0-5 and 9,
// minute 6 present with Samples 0 (not sampled), minute 7 missing while the host reported,
// minute 8 missing with the host silent too.
const CREATED = Math.floor(Date.now() / 1000) - 120;
const B = Math.floor(Date.now() / 1000 / 3600) * 3600 - 3 * 3600;
const cpuSamples = (i: number) => (i % 2 === 0 ? [i, i + 10] : [i, i + 10, i + 20, i + 30]);
const stealSamples = (i: number) => [i / 4, i / 2];
const netIn = (i: number) => 1000 * (i + 1);
const dropsIn = (i: number) => i % 3;
const netOut = (i: number) => 10 * (i + 1);
const INSTANCE_MINUTES = [0, 1, 2, 3, 4, 5, 6, 9];
const HOST_MINUTES = [0, 1, 2, 3, 4, 5, 6, 7, 9];
const SAMPLED = [0, 1, 2, 3, 4, 5, 9];

async function seedFleet(s: TestServer): Promise<void> {
  const agent1 = payload({
    AgentID: 'agent-1',
    Hostname: 'hv1.test',
    CreatedAt: CREATED,
    Stats: HOST_MINUTES.map((i) => hostWindow(B + i * 60, { CPU: agg([i, i + 2]), NetIn: 100 + i, NetOut: 200 + i })),
    Instances: [
      instanceRecord('abc12345', {
        InstanceName: 'web-1',
        Stats: INSTANCE_MINUTES.map((i) =>
          i === 6
            ? instanceWindow(B + i * 60, {
                Samples: 0,
                Missed: 12,
                ...{ CPU: null, CPUCore: null, CPUUser: null, CPUSystem: null, VcpuBusy: null, Steal: null, MemoryRSS: null, MemoryUtilization: null },
                ...{ NetIn: 0, NetOut: 0, NetInPackets: 0, NetOutPackets: 0, DiskRead: 0, DiskWrite: 0 },
              })
            : instanceWindow(B + i * 60, { CPU: agg(cpuSamples(i)), Steal: agg(stealSamples(i)), NetIn: netIn(i), NetOut: netOut(i), NetInDropped: dropsIn(i), NetOutErrors: 0 }),
        ),
      }),
      instanceRecord('abd99999', { InstanceName: 'web-2', Hypervisor: 'cloud-hypervisor', AllocatedMemoryBytes: 0, TapDevices: [] }),
      instanceRecord('qqq00002', { InstanceName: 'dup' }),
    ],
  });
  const agent2 = payload({
    AgentID: 'agent-2',
    Hostname: 'hv2.test',
    CreatedAt: CREATED,
    CPUCores: 64,
    Disks: [{ Mount: '/', Size: 5, Used: 1, Available: 4 }],
    Stats: [hostWindow(B)],
    Instances: [instanceRecord('zzz00001', { InstanceName: 'db-1', Hypervisor: 'firecracker', PID: 777 }), instanceRecord('qqq00001', { InstanceName: 'dup' })],
  });
  for (const p of [agent1, agent2]) {
    const r = await ingest(s.url, s.admin.secret, p);
    assert.is(r.status, 200, r.text);
  }
}

async function withFleet(engine: Engine, name: string, fn: (s: TestServer) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const s = await startTestServer(engine);
  try {
    await seedFleet(s);
    await fn(s);
  } finally {
    await s.close();
  }
}

interface Expect {
  timestamp: number;
  minimum: number;
  maximum: number;
  sum: number;
  average: number;
  sampleCount: number;
}

/** Expected datapoints from raw per-minute sample lists, by brute force over the samples. */
function expected(period: number, from: number, to: number, perMinute: Map<number, number[]>, kind: 'gauge' | 'total'): Expect[] {
  const buckets = new Map<number, number[]>();
  for (const [minute, samples] of perMinute) {
    if (minute < from || minute >= to) continue;
    const b = Math.floor(minute / period) * period;
    const list = buckets.get(b) ?? [];
    list.push(...samples);
    buckets.set(b, list);
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([timestamp, xs]) => {
      const sum = xs.reduce((a, b) => a + b, 0);
      return { timestamp, minimum: Math.min(...xs), maximum: Math.max(...xs), sum, sampleCount: xs.length, average: sum / xs.length, kind };
    });
}

function checkPoints(actual: Array<Record<string, unknown>>, exp: Expect[], unit: string, what: string): void {
  assert.is(actual.length, exp.length, `${what}: datapoint count`);
  exp.forEach((e, k) => {
    const a = actual[k]!;
    assert.is(a.timestamp, e.timestamp, `${what}[${k}].timestamp`);
    assert.is(a.unit, unit);
    approx(a.minimum as number, e.minimum, `${what}[${k}].minimum`);
    approx(a.maximum as number, e.maximum, `${what}[${k}].maximum`);
    approx(a.sum as number, e.sum, `${what}[${k}].sum`);
    approx(a.average as number, e.average, `${what}[${k}].average`);
    approx(a.sampleCount as number, e.sampleCount, `${what}[${k}].sampleCount`);
  });
}

const ALL = 'Minimum,Maximum,Sum,Average,SampleCount';
const cpuMap = new Map(SAMPLED.map((i) => [B + i * 60, cpuSamples(i)]));
const netMap = new Map(SAMPLED.map((i) => [B + i * 60, [netIn(i)]]));
const dropMap = new Map(SAMPLED.map((i) => [B + i * 60, [dropsIn(i)]]));

async function metricRest(s: TestServer, id: string, q: Record<string, string | number>, secret = s.reader.secret) {
  const qs = new URLSearchParams(Object.entries(q).map(([k, v]): [string, string] => [k, String(v)]));
  return request(`${s.url}/v1/instances/${encodeURIComponent(id)}/metric-data?${qs}`, { secret });
}

for (const engine of ENGINES) {
  const t = suite(`server query [${engine}]`);

  t('GET /v1/servers and /v1/servers/{agentId}/stats answer the HetrixTools shape with exact values', () =>
    withFleet(engine, 'servers', async (s) => {
      const list = await request(`${s.url}/v1/servers`, { secret: s.reader.secret });
      assert.is(list.status, 200);
      assert.equal(
        list.body.map((x: Record<string, unknown>) => [x.AgentID, x.Hostname, x.CPUCores, x.Disk, x.AgentType]),
        [
          ['agent-1', 'hv1.test', 8, 3000000, 'Linux'],
          ['agent-2', 'hv2.test', 64, 5, 'Linux'],
        ],
      );
      const st = await request(`${s.url}/v1/servers/agent-1/stats`, { secret: s.reader.secret });
      assert.is(st.status, 200, st.text);
      const b = st.body;
      assert.is(b.AgentVersion, '0.1.0');
      assert.is(b.OperatingSystem, 'Debian 12');
      assert.is(b.Kernel, '6.1.0-test');
      assert.is(b.CPUModel, 'Test CPU @ 3.20GHz');
      assert.is(b.CPUSpeed, 3200);
      assert.is(b.RAM, 67108864000);
      assert.is(b.SystemUptime, 1234567);
      assert.equal(b.NetworkInterfaces, [{ Name: 'eth0', NetIn: 1000, NetOut: 500 }]);
      assert.is(b.Disks.length, 2);
      const now = Math.floor(Date.now() / 1000);
      assert.ok(b.AgentLastData <= now && b.AgentLastData >= now - 60, 'AgentLastData is the receive time');
      assert.ok(b.AgentAddTime <= b.AgentLastData);
      assert.equal(
        b.Stats.map((x: Record<string, number>) => x.Minute),
        [...HOST_MINUTES].reverse().map((i) => B + i * 60),
        'newest first',
      );
      const nine = b.Stats[0];
      assert.equal(nine, { Minute: B + 540, CPU: 10, IOWait: 2, RAM: 50, Swap: 0, Disk: 40, NetIn: 109, NetOut: 209 });
      assert.equal(b.Instances.map((i: Record<string, unknown>) => i.instance_id).sort(), ['abc12345', 'abd99999', 'qqq00002']);
      const missing = await request(`${s.url}/v1/servers/nope/stats`, { secret: s.reader.secret });
      assert.is(missing.status, 404);
      assert.is(missing.body.code, 'not_found');
    }),
  );

  t('GET /v1/instances filters by host, hypervisor and name glob; stats resolve id, name, prefix', () =>
    withFleet(engine, 'instances', async (s) => {
      const ids = async (q: string) => {
        const r = await request(`${s.url}/v1/instances${q}`, { secret: s.reader.secret });
        assert.is(r.status, 200, r.text);
        return r.body.map((x: Record<string, unknown>) => x.instance_id).sort();
      };
      assert.equal(await ids(''), ['abc12345', 'abd99999', 'qqq00001', 'qqq00002', 'zzz00001']);
      assert.equal(await ids('?host=hv2.test'), ['qqq00001', 'zzz00001']);
      assert.equal(await ids('?host=agent-1'), ['abc12345', 'abd99999', 'qqq00002']);
      assert.equal(await ids('?hypervisor=firecracker'), ['zzz00001']);
      assert.equal(await ids('?name=web-*'), ['abc12345', 'abd99999']);
      assert.equal(await ids('?name=*-1&host=hv1.test'), ['abc12345']);
      assert.equal(await ids('?name=w'), []);
      // The alarm selector's glob (src/server/glob.ts): `?` is exactly one character.
      assert.equal(await ids('?name=web-%3F'), ['abc12345', 'abd99999']);
      assert.equal(await ids('?name=%3F%3F-1'), ['zzz00001']);
      assert.equal(await ids('?name=web-%3F%3F'), []);

      const st = await request(`${s.url}/v1/instances/abc12345/stats`, { secret: s.reader.secret });
      assert.equal(st.body, {
        instance_id: 'abc12345',
        instance_name: 'web-1',
        cpu_seconds: 29.94,
        memory_rss_bytes: 443338752,
        memory_vms_bytes: 4330745856,
        network_rx_bytes: 12345678,
        network_tx_bytes: 87654321,
        allocated_vcpus: 2,
        allocated_memory_bytes: 4294967296,
        memory_utilization_ratio: 443338752 / 4294967296,
        agent_id: 'agent-1',
        hostname: 'hv1.test',
        last_seen: new Date(CREATED * 1000).toISOString(),
        hypervisor: 'qemu',
        pid: 4242,
        tap_devices: ['hype-abc12345'],
        running: true,
      });
      const byName = await request(`${s.url}/v1/instances/web-2/stats`, { secret: s.reader.secret });
      assert.is(byName.body.instance_id, 'abd99999');
      assert.not.ok('memory_utilization_ratio' in byName.body, 'no ratio without allocated memory');
      const byPrefix = await request(`${s.url}/v1/instances/zzz/stats`, { secret: s.reader.secret });
      assert.is(byPrefix.body.instance_id, 'zzz00001');
      assert.is(byPrefix.body.pid, 777);
      const ambiguousPrefix = await request(`${s.url}/v1/instances/ab/stats`, { secret: s.reader.secret });
      assert.is(ambiguousPrefix.status, 409);
      assert.is(ambiguousPrefix.body.code, 'ambiguous');
      const ambiguousName = await request(`${s.url}/v1/instances/dup/stats`, { secret: s.reader.secret });
      assert.is(ambiguousName.status, 409);
      const none = await request(`${s.url}/v1/instances/nothing/stats`, { secret: s.reader.secret });
      assert.is(none.status, 404);
      assert.is(none.body.code, 'not_found');
    }),
  );

  t('latest counters follow the newest batch; a late replay or a batch without counters keeps them', () =>
    withFleet(engine, 'counters', async (s) => {
      const stats = async () => (await request(`${s.url}/v1/instances/zzz00001/stats`, { secret: s.reader.secret })).body;
      const base = instanceRecord('zzz00001', { InstanceName: 'db-1', Hypervisor: 'firecracker', PID: 777 });
      const newer = payload({ AgentID: 'agent-2', Hostname: 'hv2.test', CreatedAt: CREATED + 60, Instances: [{ ...base, PID: 778, Counters: { ...base.Counters!, CPUSeconds: 40 } }] });
      assert.is((await ingest(s.url, s.admin.secret, newer)).status, 200);
      assert.is((await stats()).cpu_seconds, 40);
      assert.is((await stats()).pid, 778);
      const older = payload({ AgentID: 'agent-2', Hostname: 'hv2-old', CreatedAt: CREATED - 600, Instances: [{ ...base, PID: 1, Counters: { ...base.Counters!, CPUSeconds: 1 } }] });
      assert.is((await ingest(s.url, s.admin.secret, older)).status, 200);
      assert.is((await stats()).cpu_seconds, 40);
      assert.is((await stats()).pid, 778);
      assert.is((await request(`${s.url}/v1/servers/agent-2/stats`, { secret: s.reader.secret })).body.Hostname, 'hv2.test');
      const blind = payload({ AgentID: 'agent-2', Hostname: 'hv2.test', CreatedAt: CREATED + 120, Instances: [{ ...base, Running: false, Counters: null }] });
      assert.is((await ingest(s.url, s.admin.secret, blind)).status, 200);
      const after = await stats();
      assert.is(after.cpu_seconds, 40);
      assert.is(after.running, false);
      assert.is(after.last_seen, new Date((CREATED + 120) * 1000).toISOString());
    }),
  );

  t('REST metric-data: statistics per period from per-minute records, by hand', () =>
    withFleet(engine, 'metric-data REST', async (s) => {
      const base = { startTime: B, endTime: B + 600, statistics: ALL };
      const cpu300 = await metricRest(s, 'abc12345', { ...base, metricName: 'CPUUtilization', period: 300, unit: 'Percent' });
      assert.is(cpu300.status, 200, cpu300.text);
      assert.is(cpu300.body.metricName, 'CPUUtilization');
      checkPoints(cpu300.body.metricData, expected(300, B, B + 600, cpuMap, 'gauge'), 'Percent', 'cpu300');
      // Hand check of the first bucket: samples of minutes 0-4 are 0,10 | 1,11,21,31 | 2,12 | 3,13,23,33 | 4,14.
      approx(cpu300.body.metricData[0].average, 178 / 14, 'mean over samples, not of minute means');
      assert.is(cpu300.body.metricData[0].sampleCount, 14);
      const cpu60 = await metricRest(s, 'web-1', { ...base, metricName: 'CPUUtilization', period: 60, unit: 'Percent' });
      checkPoints(cpu60.body.metricData, expected(60, B, B + 600, cpuMap, 'gauge'), 'Percent', 'cpu60');
      assert.is(cpu60.body.metricData.length, 7);

      const net = await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkIn', period: 300, unit: 'Bytes' });
      checkPoints(net.body.metricData, expected(300, B, B + 600, netMap, 'total'), 'Bytes', 'net300');
      assert.equal(
        net.body.metricData.map((d: Record<string, number>) => [d.sum, d.sampleCount, d.average]),
        [
          [15000, 5, 3000],
          [16000, 2, 8000],
        ],
      );
      const out = await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkOut', period: 600, unit: 'Bytes', statistics: 'Sum' });
      assert.equal(out.body.metricData, [{ timestamp: B, unit: 'Bytes', sum: 10 * (1 + 2 + 3 + 4 + 5 + 6 + 10) }]);
      const steal = await metricRest(s, 'abc12345', { ...base, metricName: 'CPUStealPercent', period: 300, unit: 'Percent' });
      checkPoints(steal.body.metricData, expected(300, B, B + 600, new Map(SAMPLED.map((i) => [B + i * 60, stealSamples(i)])), 'gauge'), 'Percent', 'steal');
      const mem = await metricRest(s, 'abc12345', { ...base, metricName: 'MemoryUtilization', period: 600, unit: 'Percent', statistics: 'Average,SampleCount' });
      assert.equal(mem.body.metricData, [{ timestamp: B, unit: 'Percent', average: 15, sampleCount: 14 }]);
      const disk = await metricRest(s, 'abc12345', { ...base, metricName: 'DiskWriteBytes', period: 300, unit: 'Bytes', statistics: 'Sum,Maximum' });
      assert.equal(disk.body.metricData, [
        { timestamp: B, unit: 'Bytes', sum: 5 * 8192, maximum: 8192 },
        { timestamp: B + 300, unit: 'Bytes', sum: 2 * 8192, maximum: 8192 },
      ]);

      // The TAPs' drops and errors, per minute as sent (the VM view: In is toward the VM).
      const drops = await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkDropsIn', period: 300, unit: 'Count' });
      assert.is(drops.status, 200, drops.text);
      checkPoints(drops.body.metricData, expected(300, B, B + 600, dropMap, 'total'), 'Count', 'drops300');
      assert.ok(drops.body.metricData.some((d: Record<string, number>) => d.sum > 0), 'some drops');
      const errors = await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkErrorsOut', period: 600, unit: 'Count', statistics: 'Sum,SampleCount' });
      assert.equal(errors.body.metricData, [{ timestamp: B, unit: 'Count', sum: 0, sampleCount: SAMPLED.length }]);
      // Not sent at all (an older agent): unknown, so no datapoint rather than zeros.
      const absent = await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkDropsOut', period: 300, unit: 'Count' });
      assert.equal(absent.body.metricData, []);
      assert.is((await metricRest(s, 'abc12345', { ...base, metricName: 'NetworkDropsIn', period: 300, unit: 'Bytes' })).status, 400, 'drops are a Count');

      // An unaligned start: the first datapoint keeps the aligned timestamp but only minutes >= startTime.
      const late = await metricRest(s, 'abc12345', { ...base, startTime: B + 60, metricName: 'NetworkIn', period: 300, unit: 'Bytes', statistics: 'Sum,SampleCount' });
      assert.equal(late.body.metricData[0], { timestamp: B, unit: 'Bytes', sum: 14000, sampleCount: 4 });
      // ISO 8601 times work as well as epoch seconds.
      const iso = await metricRest(s, 'abc12345', {
        ...base,
        startTime: new Date(B * 1000).toISOString(),
        endTime: new Date((B + 600) * 1000).toISOString(),
        metricName: 'NetworkIn',
        period: 300,
        unit: 'Bytes',
        statistics: 'Sum',
      });
      assert.equal(iso.body.metricData.map((d: Record<string, number>) => d.sum), [15000, 16000]);
    }),
  );

  t('status checks: _System when the host sent nothing, _Instance when the VM was not sampled', () =>
    withFleet(engine, 'status checks', async (s) => {
      const q = { startTime: B, endTime: B + 600, period: 60, unit: 'Count', statistics: 'Sum' };
      const series = async (metricName: string) => {
        const r = await metricRest(s, 'abc12345', { ...q, metricName });
        assert.is(r.status, 200, r.text);
        return r.body.metricData.map((d: Record<string, number>) => d.sum);
      };
      assert.equal(await series('StatusCheckFailed_System'), [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
      assert.equal(await series('StatusCheckFailed_Instance'), [0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
      assert.equal(await series('StatusCheckFailed'), [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]);
      const r = await metricRest(s, 'abc12345', { ...q, period: 300, metricName: 'StatusCheckFailed', statistics: ALL });
      assert.equal(r.body.metricData, [
        { timestamp: B, unit: 'Count', minimum: 0, maximum: 0, sum: 0, average: 0, sampleCount: 5 },
        { timestamp: B + 300, unit: 'Count', minimum: 0, maximum: 1, sum: 3, average: 0.6, sampleCount: 5 },
      ]);
      // Through the library entry point the alert evaluator uses.
      const lib = await getMetricData(s.server.store, { instanceId: 'abc12345', metricName: 'StatusCheckFailed_System', period: 600, startTime: B, endTime: B + 600, unit: 'Count', statistics: ['Sum', 'SampleCount'] });
      assert.equal(lib, { metricName: 'StatusCheckFailed_System', datapoints: [{ timestamp: B, unit: 'Count', sum: 1, sampleCount: 10 }] });
    }),
  );

  t('metric-data input errors are named as Lightsail names them', () =>
    withFleet(engine, 'metric-data errors', async (s) => {
      const ok = { metricName: 'CPUUtilization', startTime: B, endTime: B + 600, period: 300, unit: 'Percent', statistics: 'Average' };
      const expectErr = async (q: Record<string, string | number>, status: number, type: string, re?: RegExp, id = 'abc12345', secret?: string) => {
        const r = await metricRest(s, id, q, secret);
        assert.is(r.status, status, r.text);
        assert.is(r.body.__type, type);
        assert.is(r.body.code, type);
        if (re) assert.match(r.body.message, re);
      };
      await expectErr({ ...ok, unit: 'Bytes' }, 400, 'InvalidInputException', /published unit is Percent/);
      await expectErr({ ...ok, metricName: 'NetworkIn', unit: 'Percent' }, 400, 'InvalidInputException', /Bytes/);
      await expectErr({ ...ok, period: 90 }, 400, 'InvalidInputException', /multiple of 60/);
      await expectErr({ ...ok, period: 30 }, 400, 'InvalidInputException');
      await expectErr({ ...ok, period: 86460 }, 400, 'InvalidInputException');
      await expectErr({ ...ok, metricName: 'BurstCapacityTime' }, 400, 'InvalidInputException', /metricName/);
      await expectErr({ ...ok, statistics: 'Median' }, 400, 'InvalidInputException', /Median/);
      await expectErr({ ...ok, endTime: B }, 400, 'InvalidInputException');
      await expectErr({ ...ok, startTime: 'yesterday' }, 400, 'InvalidInputException', /startTime/);
      // 1,440 datapoints is the limit: 1,440 minutes at period 60 is fine, 1,441 is not.
      const full = await metricRest(s, 'abc12345', { ...ok, period: 60, startTime: B, endTime: B + 1440 * 60 });
      assert.is(full.status, 200, full.text);
      await expectErr({ ...ok, period: 60, startTime: B, endTime: B + 1441 * 60 }, 400, 'InvalidInputException', /1440/);
      await expectErr(ok, 404, 'NotFoundException', undefined, 'no-such-vm');
      await expectErr(ok, 400, 'InvalidInputException', /matches 2 instances/, 'dup');
      await expectErr(ok, 401, 'UnauthenticatedException', undefined, 'abc12345', 'wrong');
      await expectErr(ok, 403, 'AccessDeniedException', undefined, 'abc12345', s.agent.secret);
    }),
  );

  t('the AWS SDK Lightsail client reads the same datapoints; wrong secrets and roles are refused', () =>
    withFleet(engine, 'aws sdk', async (s) => {
      const client = (accessKeyId: string, secretAccessKey: string, region = 'us-east-1') =>
        new LightsailClient({ endpoint: s.url, region, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
      const c = client(s.reader.access_key_id, s.reader.secret);
      const stats = ['Minimum', 'Maximum', 'Sum', 'Average', 'SampleCount'] as const;
      const cmd = (metricName: 'CPUUtilization' | 'NetworkIn', unit: 'Percent' | 'Bytes', instanceName = 'web-1', period = 300) =>
        new GetInstanceMetricDataCommand({ instanceName, metricName, period, startTime: new Date(B * 1000), endTime: new Date((B + 600) * 1000), unit, statistics: [...stats] });
      const cpu = await c.send(cmd('CPUUtilization', 'Percent'));
      assert.is(cpu.metricName, 'CPUUtilization');
      const exp = expected(300, B, B + 600, cpuMap, 'gauge');
      assert.is(cpu.metricData!.length, exp.length);
      cpu.metricData!.forEach((d, k) => {
        const e = exp[k]!;
        assert.is(d.timestamp!.getTime(), e.timestamp * 1000);
        assert.is(d.unit, 'Percent');
        approx(d.minimum, e.minimum, 'sdk minimum');
        approx(d.maximum, e.maximum, 'sdk maximum');
        approx(d.sum, e.sum, 'sdk sum');
        approx(d.average, e.average, 'sdk average');
        approx(d.sampleCount, e.sampleCount, 'sdk sampleCount');
      });
      const net = await client(s.admin.access_key_id, s.admin.secret, 'eu-west-3').send(cmd('NetworkIn', 'Bytes', 'abc12345', 60));
      assert.equal(
        net.metricData!.map((d) => [d.timestamp!.getTime() / 1000, d.sum, d.sampleCount]),
        SAMPLED.map((i) => [B + i * 60, netIn(i), 1]),
      );

      const fail = async (cl: LightsailClient, command: GetInstanceMetricDataCommand, name: string, status: number) => {
        try {
          await cl.send(command);
        } catch (e) {
          const err = e as { name: string; $metadata?: { httpStatusCode?: number } };
          assert.is(err.name, name);
          assert.is(err.$metadata?.httpStatusCode, status);
          return;
        }
        assert.unreachable(`${name} expected`);
      };
      await fail(client(s.reader.access_key_id, s.reader.secret + 'x'), cmd('CPUUtilization', 'Percent'), 'UnauthenticatedException', 401);
      await fail(client('VMPKNOSUCHKEY0000000', s.reader.secret), cmd('CPUUtilization', 'Percent'), 'UnauthenticatedException', 401);
      await fail(client(s.agent.access_key_id, s.agent.secret), cmd('CPUUtilization', 'Percent'), 'AccessDeniedException', 403);
      await fail(c, cmd('CPUUtilization', 'Bytes' as 'Percent'), 'InvalidInputException', 400);
      await fail(c, cmd('CPUUtilization', 'Percent', 'no-such-vm'), 'NotFoundException', 404);
      await fail(c, cmd('CPUUtilization', 'Percent', 'dup'), 'InvalidInputException', 400);
      await s.server.store.revokeToken(s.reader.access_key_id, 1);
      await fail(c, cmd('CPUUtilization', 'Percent'), 'UnauthenticatedException', 401);
    }),
  );

  t('AWS JSON 1.1 requests: a stale X-Amz-Date, a tampered body and unknown targets are refused', () =>
    withFleet(engine, 'sigv4', async (s) => {
      const { SignatureV4 } = await import('@smithy/signature-v4');
      const { createHash, createHmac } = await import('node:crypto');
      // The signer's Checksum contract: constructed with a secret it is an HMAC.
      class Sha256 {
        private h;
        constructor(private readonly secret?: string | ArrayBuffer | ArrayBufferView) {
          this.h = this.fresh();
        }
        private fresh() {
          const k = this.secret;
          if (k === undefined) return createHash('sha256');
          return createHmac('sha256', typeof k === 'string' ? k : ArrayBuffer.isView(k) ? Buffer.from(k.buffer, k.byteOffset, k.byteLength) : Buffer.from(k));
        }
        update(d: string | ArrayBuffer | ArrayBufferView) {
          this.h.update(typeof d === 'string' ? d : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d));
        }
        async digest() {
          return new Uint8Array(this.h.digest());
        }
        reset() {
          this.h = this.fresh();
        }
      }
      const url = new URL(s.url);
      const sign = async (body: string, date: Date, target = 'Lightsail_20161128.GetInstanceMetricData') => {
        const signer = new SignatureV4({ service: 'lightsail', region: 'ap-south-1', credentials: { accessKeyId: s.reader.access_key_id, secretAccessKey: s.reader.secret }, sha256: Sha256 });
        return signer.sign(
          { method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/', headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body },
          { signingDate: date },
        );
      };
      const body = JSON.stringify({ instanceName: 'web-1', metricName: 'NetworkIn', period: 600, startTime: B, endTime: B + 600, unit: 'Bytes', statistics: ['Sum'] });
      const send = async (signed: { headers: Record<string, string> }, sendBody: string) =>
        request(`${s.url}/`, { method: 'POST', headers: signed.headers, body: sendBody });
      const good = await send(await sign(body, new Date()), body);
      assert.is(good.status, 200, good.text);
      assert.equal(good.body, { metricName: 'NetworkIn', metricData: [{ timestamp: B, unit: 'Bytes', sum: 15000 + 16000 }] });
      assert.is(good.headers.get('content-type'), 'application/x-amz-json-1.1');
      const stale = await send(await sign(body, new Date(Date.now() - 16 * 60 * 1000)), body);
      assert.is(stale.status, 401);
      assert.is(stale.body.__type, 'UnauthenticatedException');
      assert.match(stale.body.message, /15 minutes/);
      const tampered = await send(await sign(body, new Date()), body.replace('"period":600', '"period":300'));
      assert.is(tampered.status, 401);
      assert.match(tampered.body.message, /signature/);
      const other = await send(await sign('{}', new Date(), 'Lightsail_20161128.GetInstances'), '{}');
      assert.is(other.status, 400);
      assert.is(other.body.__type, 'UnknownOperationException');
      const unsigned = await request(`${s.url}/`, { method: 'POST', headers: { 'x-amz-target': 'Lightsail_20161128.GetInstanceMetricData', 'content-type': 'application/x-amz-json-1.1' }, body });
      assert.is(unsigned.status, 401);
      assert.is(unsigned.body.__type, 'UnauthenticatedException');
    }),
  );

  t.run();
}
