// End to end: the real agent process samples a real QEMU VM and ships its windows to the real
// server, on each engine; the server's APIs then answer with that VM's figures, checked against
// the kernel's own counters (CPU time of the QEMU process, bytes through its TAP).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { needs } from './helpers/needs.js';
import { ENGINES, engineReady, request, startTestServer, type TestServer } from './helpers/server.js';
import { startQemu, type Qemu } from './helpers/qemu.js';
import { createTap, deleteTap, sendFramesToTap, tapCounters, uniqueTapName } from './helpers/tap.js';
import { clockTicks, cpuTicks, waitFor } from './helpers/procs.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';

const s = suite('agent → server end to end');

for (const engine of ENGINES) {
  s(`${engine}: a real QEMU VM's CPUUtilization and NetworkIn come back through GetInstanceMetricData`, async () => {
    const name = `agent → server (${engine})`;
    if (!(await needs(name, 'root', 'tun', 'qemu'))) return;
    if (!(await engineReady(engine, name))) return;
    const srv: TestServer = await startTestServer(engine);
    const tap = createTap(uniqueTapName());
    const spool = mkdtempSync(join(tmpdir(), 'vpt-e2e-spool-'));
    const uuid = randomUUID();
    const vmName = `e2e-${engine}-${process.pid}`;
    let q: Qemu | undefined;
    let agent: AgentProcess | undefined;
    try {
      q = await startQemu({ name: vmName, uuid, smp: 1, memMiB: 128, tap, running: true });
      const agentId = `e2e-${engine}-${process.pid}`;
      const tx0 = tapCounters(tap).tx_bytes;
      const cpu0 = cpuTicks(q.pid);
      const t0 = Date.now();
      agent = await startAgentProcess({
        VMPULSE_SAMPLE_INTERVAL_MS: '500',
        VMPULSE_WINDOW_SECONDS: '2',
        VMPULSE_ENDPOINT: srv.url,
        VMPULSE_TOKEN: srv.agent.secret,
        VMPULSE_SPOOL_DIR: spool,
        VMPULSE_AGENT_ID: agentId,
      });
      const instanceStats = () => request(`${srv.url}/v1/instances/${uuid}/stats`, { secret: srv.reader.secret });
      await waitFor(async () => (await instanceStats()).status === 200, 20_000, 'the VM at the server');
      // The host pushes 10 frames into the VM's TAP while the agent samples (QEMU's firmware reads them).
      const pushed = await sendFramesToTap(tap, 10, 1000);
      await waitFor(() => tapCounters(tap).tx_bytes - tx0 >= pushed, 10_000, 'QEMU to read the frames');
      await new Promise((r) => setTimeout(r, 4500)); // two more windows
      assert.is(await agent.stop('SIGINT'), 0, 'the agent exits 0 on SIGINT');
      const cpu1 = cpuTicks(q.pid);
      const t1 = Date.now();
      const txTotal = tapCounters(tap).tx_bytes - tx0;

      // The fleet view lists this host and the VM with its latest counters.
      const servers = await request(`${srv.url}/v1/servers`, { secret: srv.reader.secret });
      assert.ok((servers.body as { AgentID: string }[]).some((x) => x.AgentID === agentId));
      const st = await instanceStats();
      assert.is(st.body.instance_id, uuid);
      assert.is(st.body.instance_name, vmName);
      assert.is(st.body.agent_id, agentId);
      assert.is(st.body.allocated_vcpus, 1);
      assert.is(st.body.allocated_memory_bytes, 128 * 1048576);
      assert.is(st.body.network_rx_bytes, tapCounters(tap).tx_bytes, 'latest counters: the VM received what the TAP sent');

      const range = `startTime=${Math.floor(t0 / 60_000) * 60 - 60}&endTime=${Math.ceil(t1 / 60_000) * 60 + 60}`;
      const net = await request(`${srv.url}/v1/instances/${uuid}/metric-data?metricName=NetworkIn&period=60&${range}&unit=Bytes&statistics=Sum,SampleCount`, { secret: srv.reader.secret });
      assert.is(net.status, 200, net.text);
      const netSum = (net.body.metricData as { sum: number }[]).reduce((a, d) => a + d.sum, 0);
      // Every byte the TAP handed to the VM while the agent ran, none twice.
      assert.is(netSum, txTotal);
      assert.ok(netSum >= pushed);

      const cpu = await request(`${srv.url}/v1/instances/${uuid}/metric-data?metricName=CPUUtilization&period=60&${range}&unit=Percent&statistics=Average,SampleCount,Minimum,Maximum`, { secret: srv.reader.secret });
      assert.is(cpu.status, 200, cpu.text);
      const points = cpu.body.metricData as { average: number; sampleCount: number; minimum: number; maximum: number; timestamp: number }[];
      assert.ok(points.length >= 1);
      const n = points.reduce((a, d) => a + d.sampleCount, 0);
      const avg = points.reduce((a, d) => a + d.average * d.sampleCount, 0) / n;
      // The kernel's CPU time of the QEMU process over the agent's life, per allocated vCPU.
      const kernelPct = ((cpu1 - cpu0) / clockTicks() / ((t1 - t0) / 1000)) * 100;
      assert.ok(n >= 10, `${n} samples`);
      assert.ok(Math.abs(avg - kernelPct) <= 3 + kernelPct * 0.25, `CPUUtilization ${avg} vs kernel ${kernelPct}`);
      for (const d of points) assert.ok(d.minimum <= d.average && d.average <= d.maximum);
      for (let i = 1; i < points.length; i++) assert.ok(points[i]!.timestamp > points[i - 1]!.timestamp, 'time order');
    } finally {
      await agent?.stop();
      await q?.stop();
      deleteTap(tap);
      rmSync(spool, { recursive: true, force: true });
      await srv.close();
    }
  });
}

s.run();
