// End to end: the real agent process samples a real QEMU VM and ships its windows to the real
// server, on each engine; the server's APIs then answer with that VM's figures, checked against
// the kernel's own counters (CPU time of the QEMU process, bytes through its TAP). The bytes go
// through QEMU's own network layer (a wired TAP), so nothing depends on what the guest does.
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
      // The TAP is wired to QEMU itself (helpers/qemu.ts): QEMU reads what the host sends into it
      // and writes into it what the test sends over the wire, with no guest driver involved.
      // A spinning guest: a full vCPU from boot on under either accelerator (helpers/qemu.ts), so the
      // CPU over the agent's life does not hinge on whether its first reading saw the firmware's second.
      q = await startQemu({ name: vmName, uuid, smp: 1, memMiB: 128, tap, running: true, wire: true, spin: true });
      const wire = q.wire!;
      const agentId = `e2e-${engine}-${process.pid}`;
      const k0 = tapCounters(tap);
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
      // While the agent samples: the host pushes 10 frames into the VM's TAP (QEMU reads them: the
      // VM's NetworkIn) and QEMU writes 7 frames into it (the VM's NetworkOut).
      const pushed = await sendFramesToTap(tap, 10, 1000);
      const sent = await wire.send(7, 1234);
      await waitFor(() => wire.received().bytes === pushed, 10_000, 'QEMU to read the frames');
      await waitFor(() => tapCounters(tap).rx_bytes - k0.rx_bytes === sent, 10_000, 'QEMU to write the frames');
      const k1 = tapCounters(tap);
      // Only the test moves this TAP: the guest has no driver for its NIC and the firmware no ROM.
      assert.is(k1.tx_bytes - k0.tx_bytes, pushed);
      assert.is(k1.rx_bytes - k0.rx_bytes, sent);
      assert.is(wire.received().frames, 10);

      const range = () => `startTime=${Math.floor(t0 / 60_000) * 60 - 60}&endTime=${Math.ceil(Date.now() / 60_000) * 60 + 60}`;
      const sumOf = async (metric: string): Promise<number> => {
        const r = await request(`${srv.url}/v1/instances/${uuid}/metric-data?metricName=${metric}&period=60&${range()}&unit=Bytes&statistics=Sum,SampleCount`, { secret: srv.reader.secret });
        assert.is(r.status, 200, r.text);
        return (r.body.metricData as { sum: number }[]).reduce((a, d) => a + d.sum, 0);
      };
      const samplesAtServer = async (): Promise<number> => {
        const r = await request(`${srv.url}/v1/instances/${uuid}/metric-data?metricName=CPUUtilization&period=60&${range()}&unit=Percent&statistics=SampleCount`, { secret: srv.reader.secret });
        return r.status === 200 ? (r.body.metricData as { sampleCount: number }[]).reduce((a, d) => a + d.sampleCount, 0) : 0;
      };
      // The windows holding those bytes, and at least ten CPU samples, have reached the server.
      await waitFor(
        async () => (await sumOf('NetworkIn')) === pushed && (await sumOf('NetworkOut')) === sent && (await samplesAtServer()) >= 10,
        30_000,
        'the windows with the frames and ten CPU samples at the server',
        250,
      );
      assert.is(await agent.stop('SIGINT'), 0, 'the agent exits 0 on SIGINT');
      const cpu1 = cpuTicks(q.pid);
      const t1 = Date.now();

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
      assert.is(st.body.network_tx_bytes, tapCounters(tap).rx_bytes, 'latest counters: the VM sent what the TAP received');

      // Every byte through the TAP while the agent ran, none twice, also after the agent's last windows.
      assert.is(await sumOf('NetworkIn'), pushed);
      assert.is(await sumOf('NetworkOut'), sent);

      const cpu = await request(`${srv.url}/v1/instances/${uuid}/metric-data?metricName=CPUUtilization&period=60&${range()}&unit=Percent&statistics=Average,SampleCount,Minimum,Maximum`, { secret: srv.reader.secret });
      assert.is(cpu.status, 200, cpu.text);
      const points = cpu.body.metricData as { average: number; sampleCount: number; minimum: number; maximum: number; timestamp: number }[];
      assert.ok(points.length >= 1);
      const n = points.reduce((a, d) => a + d.sampleCount, 0);
      const avg = points.reduce((a, d) => a + d.average * d.sampleCount, 0) / n;
      // The kernel's CPU time of the QEMU process over the agent's life, per allocated vCPU.
      const kernelPct = ((cpu1 - cpu0) / clockTicks() / ((t1 - t0) / 1000)) * 100;
      process.stdout.write(`\n  [${engine}] CPUUtilization ${avg.toFixed(1)} % over ${n} samples; the kernel's CPU time of the QEMU process: ${kernelPct.toFixed(1)} %\n`);
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
