// The time series on a real VictoriaMetrics (issue 16): a batch written once per BatchID even when
// the write to VictoriaMetrics and the commit in VMPULSE_DB are interrupted between each other;
// 503 + Retry-After while it is down and nothing lost or doubled once it is back; and a real agent
// shipping a stand-in VM with a steady TAP rate, read back through vmpulse (REST and the AWS SDK)
// and straight from VictoriaMetrics.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { repoRoot } from '../src/paths.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetInstanceMetricDataCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import { loadServerConfig } from '../src/server/config.js';
import { getMetricData } from '../src/server/metric-data.js';
import { openStore } from '../src/server/store/store.js';
import type { VictoriaStore } from '../src/server/store/victoria.js';
import { needs } from './helpers/needs.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { sleep, waitFor } from './helpers/procs.js';
import { createTestDb, hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, startTestServer, type TestServer } from './helpers/server.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { createTap, deleteTap, sendFramesToTap, tapCounters, uniqueTapName } from './helpers/tap.js';
import { startVictoria, type Victoria } from './helpers/victoria.js';

const t = suite('VictoriaMetrics engine');

t('VMPULSE_TSDB_URL or the WRITE/READ pair selects the engine; a half or doubled setting is refused by name', () => {
  const base = { VMPULSE_DB: '/tmp/x.db' };
  assert.is(loadServerConfig(base).tsdb, null);
  assert.equal(loadServerConfig({ ...base, VMPULSE_TSDB_URL: 'http://vm:8428' }).tsdb, { write: 'http://vm:8428/', read: 'http://vm:8428/' });
  assert.equal(
    loadServerConfig({ ...base, VMPULSE_TSDB_WRITE_URL: 'http://vminsert:8480/insert/7/prometheus', VMPULSE_TSDB_READ_URL: 'http://vmselect:8481/select/7/prometheus' }).tsdb,
    { write: 'http://vminsert:8480/insert/7/prometheus', read: 'http://vmselect:8481/select/7/prometheus' },
  );
  assert.throws(() => loadServerConfig({ ...base, VMPULSE_TSDB_WRITE_URL: 'http://vminsert:8480/insert/7/prometheus' }), /VMPULSE_TSDB_WRITE_URL and VMPULSE_TSDB_READ_URL must be set together/);
  assert.throws(() => loadServerConfig({ ...base, VMPULSE_TSDB_URL: 'http://vm:8428', VMPULSE_TSDB_READ_URL: 'http://vmselect:8481/select/0/prometheus' }), /not both/);
  assert.throws(() => loadServerConfig({ ...base, VMPULSE_TSDB_URL: 'not a url' }), /VMPULSE_TSDB_URL/);
});

t('a batch interrupted between the VictoriaMetrics write and the BatchID commit is stored once when sent again; two batches of one minute merge', async () => {
  if (!(await needs('victoria interrupted batch', 'victoria-metrics'))) return;
  const vm = await startVictoria();
  const db = await createTestDb('sqlite');
  const store = (await openStore(db.db, { tsdb: { write: vm.url, read: vm.url } })) as VictoriaStore;
  try {
    await store.migrate();
    const m = nowMinute(-5);
    const first = payload({ AgentID: 'vi-agent', Stats: [hostWindow(m, { Seconds: 20, Samples: 4, NetIn: 100 })], Instances: [instanceRecord('vivm0001', { Stats: [instanceWindow(m, { Seconds: 20, Samples: 4, NetOut: 300, DiskRead: 512 })] })] });
    const second = payload({ AgentID: 'vi-agent', Stats: [hostWindow(m, { Seconds: 40, Samples: 8, NetIn: 250 })], Instances: [instanceRecord('vivm0001', { Stats: [instanceWindow(m, { Seconds: 40, Samples: 8, NetOut: 700, DiskRead: 1024 })] })] });
    assert.is((await store.ingest(first, { receivedAt: m + 60 })).status, 'stored');
    // The crash: the samples reached VictoriaMetrics, the BatchID never committed.
    assert.is(await db.count('batches'), 1);
    await db.exec(`DELETE FROM batches WHERE batch_id = '${first.BatchID}'`);
    assert.is((await store.ingest(first, { receivedAt: m + 61 })).status, 'stored', 'the agent sends it again');
    assert.is((await store.ingest(first, { receivedAt: m + 62 })).status, 'duplicate');
    assert.is((await store.ingest(second, { receivedAt: m + 63 })).status, 'stored');
    await store.flush();
    const slots = await db.query('SELECT batch_id, slot FROM tsdb_slots ORDER BY slot');
    assert.equal(slots, [{ batch_id: first.BatchID, slot: 0 }, { batch_id: second.BatchID, slot: 1 }], 'the replay reused its slot; the next batch took the next');
    const rows = await store.instanceMinutes('vi-agent', 'vivm0001', m, m + 60, ['seconds', 'samples', 'net_out', 'disk_read', 'parts']);
    assert.equal(rows, [{ minute: m, seconds: 60, samples: 12, net_out: 1000, disk_read: 1536, parts: 2 }]);
    const host = await store.latestHostMinutes('vi-agent', 5);
    assert.is(host.length, 1);
    assert.is(host[0]!.net_in, 350);
    const d = await getMetricData(store, { instanceId: 'vivm0001', metricName: 'NetworkOut', period: 60, startTime: m, endTime: m + 60, unit: 'Bytes', statistics: ['Sum', 'SampleCount'] });
    assert.equal(d.datapoints, [{ timestamp: m, unit: 'Bytes', sum: 1000, sampleCount: 1 }]);
    // What VictoriaMetrics holds: one sample per batch (the replay collapsed by dedup), with the labels Grafana uses.
    const raw = await store.client.exportSeries('{__name__="vmpulse_vm_network_transmit_bytes_total",instance_id="vivm0001"}', (m - 60) * 1000, (m + 120) * 1000);
    assert.is(raw.length, 1);
    assert.equal(raw[0]!.values, [300, 700]);
    assert.equal(raw[0]!.timestamps, [m * 1000, m * 1000 + 1]);
    assert.equal(
      { ...raw[0]!.metric },
      { __name__: 'vmpulse_vm_network_transmit_bytes_total', agent_id: 'vi-agent', hostname: 'hv1.test', instance_id: 'vivm0001', instance_name: 'vm-vivm0001', hypervisor: 'qemu' },
    );

    // Every query of the Grafana dashboards runs on this VictoriaMetrics and finds the data.
    for (const file of ['vmpulse-fleet.json', 'vmpulse-vm.json']) {
      const dash = JSON.parse(readFileSync(join(repoRoot, 'config', 'grafana', file), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
      for (const panel of dash.panels) {
        for (const target of panel.targets) {
          const expr = target.expr.replaceAll('$host', '.*').replaceAll('$hypervisor', '.*').replaceAll('$instance_id', 'vivm0001');
          const res = await fetch(`${vm.url}/api/v1/query?${new URLSearchParams({ query: expr, time: String(m + 59) })}`);
          const body = (await res.json()) as { status: string; data: { result: { value: [number, string] }[] } };
          assert.is(body.status, 'success', `${file} ${panel.title}: ${expr}`);
          assert.ok(body.data.result.length > 0 && body.data.result.every((r) => Number.isFinite(Number(r.value[1]))), `${file} ${panel.title}: ${expr} → ${JSON.stringify(body.data.result)}`);
        }
      }
    }
  } finally {
    await store.close();
    await db.drop();
    await vm.dispose();
  }
});

t('VictoriaMetrics down: ingest answers 503 with Retry-After and stores nothing; back up: the same batch is stored once', async () => {
  if (!(await needs('victoria restart', 'victoria-metrics'))) return;
  const vm = await startVictoria();
  let srv: TestServer | undefined;
  try {
    srv = await startTestServer('sqlite', { tsdb: { write: vm.url, read: vm.url } });
    const m = nowMinute(-3);
    const p = payload({ AgentID: 'vr-agent', Instances: [instanceRecord('vrvm0001', { Stats: [instanceWindow(m, { NetIn: 4242 })] })] });
    await vm.stop();
    const down = await ingest(srv.url, srv.agent.secret, p);
    assert.is(down.status, 503, down.text);
    assert.is(down.headers.get('retry-after'), '5');
    assert.is(await srv.db.count('batches'), 0, 'the BatchID is not committed');
    await vm.start();
    const up = await ingest(srv.url, srv.agent.secret, p);
    assert.is(up.status, 200, up.text);
    assert.is(up.body.status, 'stored');
    assert.is((await ingest(srv.url, srv.agent.secret, p)).body.status, 'duplicate');
    await (srv.server.store as VictoriaStore).flush();
    const r = await request(`${srv.url}/v1/instances/vrvm0001/metric-data?metricName=NetworkIn&period=60&startTime=${m}&endTime=${m + 60}&unit=Bytes&statistics=Sum`, { secret: srv.reader.secret });
    assert.is(r.status, 200, r.text);
    assert.equal(r.body.metricData.map((x: { sum: number }) => x.sum), [4242]);
    // Its ingest reads the payload on the event loop: no decode threads are started for it.
    const metrics = (await request(`${srv.url}/metrics`, { secret: srv.reader.secret })).text;
    assert.match(metrics, /^vmpulse_server_ingest_decode_threads 0$/m);
    assert.match(metrics, /^vmpulse_server_ingest_decode_seconds_count 3$/m);
  } finally {
    await srv?.close();
    await vm.dispose();
  }
});

t('a real agent ships a stand-in VM at a steady TAP rate through a VictoriaMetrics restart: every byte once, per minute, through REST, the AWS SDK and VictoriaMetrics itself', async () => {
  if (!(await needs('victoria agent end to end', 'root', 'tun', 'cc', 'victoria-metrics'))) return;
  const vm: Victoria = await startVictoria();
  const tap = createTap(uniqueTapName());
  const spool = mkdtempSync(join(tmpdir(), 'vpt-vm-spool-'));
  const sockDir = mkdtempSync(join(tmpdir(), 'vpt-vm-sock-'));
  let srv: TestServer | undefined;
  let cv: Standin | undefined;
  let agent: AgentProcess | undefined;
  const id = `vm-e2e-${process.pid}`;
  const perSecond = 20;
  const rate = perSecond * 1000;
  try {
    srv = await startTestServer('sqlite', { tsdb: { write: vm.url, read: vm.url } });
    mkdirSync(join(sockDir, id));
    const tx0 = tapCounters(tap).tx_bytes;
    const t0 = Date.now();
    cv = await startStandin({
      kind: 'crosvm',
      argv: ['run', '--cpus', '1', '--mem', '256', '--socket', `${sockDir}/${id}/crosvm.sock`, '--net', `tap-name=${tap}`, '/boot/vmlinux'],
      threads: 1,
      taps: [tap],
    });
    agent = await startAgentProcess({
      VMPULSE_SAMPLE_INTERVAL_MS: '500',
      VMPULSE_WINDOW_SECONDS: '5',
      VMPULSE_DISCOVERY_INTERVAL_MS: '1000',
      VMPULSE_ENDPOINT: srv.url,
      VMPULSE_TOKEN: srv.agent.secret,
      VMPULSE_SPOOL_DIR: spool,
      VMPULSE_AGENT_ID: id,
    });
    await waitFor(async () => (await request(`${srv!.url}/v1/instances/${id}/stats`, { secret: srv!.reader.secret })).status === 200, 30_000, 'the VM at the server');
    // The host sends `perSecond` frames of 1000 bytes into the VM's TAP every second, on a fixed
    // schedule, for 130 s; VictoriaMetrics is restarted while the agent ships (it is told 503 and sends again later).
    const start = Date.now();
    let pushed = 0;
    for (let k = 0; k < 130; k++) {
      if (k === 20) await vm.stop();
      if (k === 32) await vm.start();
      pushed += await sendFramesToTap(tap, perSecond, 1000);
      const next = start + (k + 1) * 1000;
      if (next > Date.now()) await sleep(next - Date.now());
    }
    await waitFor(() => tapCounters(tap).tx_bytes - tx0 >= pushed || null, 10_000, 'the stand-in to read the frames');
    await sleep(7_000); // the last window closes and ships
    assert.is(await agent.stop('SIGINT'), 0, 'the agent exits 0 on SIGINT');
    const t1 = Date.now();
    const received = tapCounters(tap).tx_bytes - tx0;
    assert.ok(received >= pushed, `${received} bytes through the TAP, ${pushed} pushed`);
    await (srv.server.store as VictoriaStore).flush();

    // VictoriaMetrics lists the VM's series with its labels.
    const series = await (srv.server.store as VictoriaStore).client.series(`{instance_id="${id}"}`, Math.floor(t0 / 1000) - 120, Math.ceil(t1 / 1000) + 120);
    const names = new Set(series.map((s) => s.__name__));
    for (const n of ['vmpulse_vm_network_receive_bytes_total', 'vmpulse_vm_samples_total', 'vmpulse_vm_cpu_usage_percent_sum', 'vmpulse_vm_cpu_usage_percent_count']) {
      assert.ok(names.has(n), `series ${n}`);
    }
    const st = await request(`${srv.url}/v1/instances/${id}/stats`, { secret: srv.reader.secret });
    assert.ok(series.every((s) => s.agent_id === id && s.hypervisor === 'crosvm' && s.instance_name === st.body.instance_name), JSON.stringify(series[0]));

    const from = Math.floor(t0 / 60_000) * 60 - 60;
    const to = Math.ceil(t1 / 60_000) * 60 + 60;
    const r = await request(`${srv.url}/v1/instances/${id}/metric-data?metricName=NetworkIn&period=60&startTime=${from}&endTime=${to}&unit=Bytes&statistics=Sum,SampleCount`, { secret: srv.reader.secret });
    assert.is(r.status, 200, r.text);
    const points = r.body.metricData as { timestamp: number; sum: number; sampleCount: number }[];
    // Every byte the VM received, none lost in the restart and none twice.
    assert.is(points.reduce((a, d) => a + d.sum, 0), received);
    // Each minute's Sum is what VictoriaMetrics holds for that minute (its samples added here).
    const raw = await (srv.server.store as VictoriaStore).client.exportSeries(`{__name__="vmpulse_vm_network_receive_bytes_total",instance_id="${id}"}`, from * 1000, to * 1000);
    const perMinute = new Map<number, number>();
    for (const s of raw) s.timestamps.forEach((ts, i) => perMinute.set(Math.floor(ts / 60000) * 60, (perMinute.get(Math.floor(ts / 60000) * 60) ?? 0) + s.values[i]!));
    assert.equal(points.map((d) => [d.timestamp, d.sum]), [...perMinute.entries()].sort((a, b) => a[0] - b[0]));
    // A whole minute of a steady writer carries a minute of its rate (frames are 1000 bytes; the sampling edge moves a few).
    const whole = points.filter((d) => d.timestamp * 1000 >= start + 1000 && (d.timestamp + 60) * 1000 <= start + 129_000);
    assert.ok(whole.length >= 1, `whole minutes: ${points.map((d) => d.timestamp)}`);
    for (const d of whole) assert.ok(Math.abs(d.sum - rate * 60) <= rate * 2, `minute ${d.timestamp}: ${d.sum} bytes`);

    // The AWS SDK, unchanged, reads the same datapoints.
    const client = new LightsailClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: srv.reader.access_key_id, secretAccessKey: srv.reader.secret }, maxAttempts: 1 });
    const sdk = await client.send(
      new GetInstanceMetricDataCommand({ instanceName: id, metricName: 'NetworkIn', period: 60, startTime: new Date(from * 1000), endTime: new Date(to * 1000), unit: 'Bytes', statistics: ['Sum', 'SampleCount'] }),
    );
    assert.equal(sdk.metricData!.map((d) => [d.timestamp!.getTime() / 1000, d.sum, d.sampleCount]), points.map((d) => [d.timestamp, d.sum, d.sampleCount]));
  } finally {
    await agent?.stop();
    await cv?.stop();
    await srv?.close();
    await vm.dispose();
    deleteTap(tap);
    rmSync(spool, { recursive: true, force: true });
    rmSync(sockDir, { recursive: true, force: true });
  }
});

t.run();
