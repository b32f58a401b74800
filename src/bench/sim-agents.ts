// Simulated agents, as one process: each has its own spool and the real outbox and shipper of
// src/ship (retries, Retry-After on 429 and 503, failover between endpoints), and closes one
// window of `SIM_VMS` VMs every SIM_WINDOW_MS of real time, each window one simulated minute
// later than the last (accelerated time). Used by `npm run bench:load` and the fault tests.
//
//   node dist/src/bench/sim-agents.js
//     SIM_ENDPOINTS      comma-separated server base URLs (failover order)       required
//     SIM_TOKEN          Bearer credential (an admin may write any AgentID)       required
//     SIM_DIR            directory for the spools (one subdirectory per agent)   required
//     SIM_IDS_FILE       where every durably spooled batch is listed, one JSON    required
//                        line {batchId, agentId, minute}
//     SIM_AGENTS         agents                                                   default 1
//     SIM_VMS            VMs per agent                                            default 10
//     SIM_WINDOWS        windows per agent                                        default 10
//     SIM_WINDOW_MS      real milliseconds per simulated minute                  default 1000
//     SIM_AGENT_PREFIX   AgentIDs are <prefix>-<n>                                 default sim
//     SIM_DRAIN_MS       how long to wait at the end for the spools to empty      default 60000
//     SIM_BACKOFF_MAX_MS the shippers' longest backoff                            default 5000
//     SIM_CONCURRENCY    requests in flight per agent                             default 1
//
// stdout: one JSON line per event: {event:"ready"}, {event:"progress", ...} every second, and
// {event:"done", sent, shipped, remaining, latency (of 2xx answers, ms), statuses} at the end. The process exits 0
// when every batch was acknowledged, 3 when some remain spooled.
import diagnostics from 'node:diagnostics_channel';
import { appendFileSync, mkdirSync } from 'node:fs';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newBatchId } from '../ship/batch-id.js';
import { SHIP_DEFAULTS, parseEndpoints } from '../ship/config.js';
import type { ShipLogger } from '../ship/log.js';
import { openOutbox, type Outbox } from '../ship/outbox.js';
import { PAYLOAD_VERSION, type Agg, type InstanceRecord, type Payload } from '../ship/payload.js';

const agg = (v: number): Agg => ({ Avg: v, Min: v * 0.5, Max: v * 1.5, Sum: v * 12, Count: 12 });

/** One window of one simulated host: `vms` VMs, one minute, values derived from the indices. */
export function simPayload(agentId: string, minute: number, vms: number): Payload {
  const instances: InstanceRecord[] = [];
  for (let i = 0; i < vms; i++) {
    const x = (i % 50) + 1;
    instances.push({
      InstanceID: `${agentId}-vm-${String(i).padStart(4, '0')}`,
      InstanceName: `${agentId}-vm-${i}`,
      Hypervisor: 'qemu',
      PID: 1000 + i,
      StartTime: 100000 + i,
      AllocatedVcpus: 2,
      AllocatedMemoryBytes: 2 * 1024 ** 3,
      TapDevices: [`tap${i}`],
      Running: true,
      Counters: {
        CPUSeconds: 10 + i,
        MemoryRSSBytes: 500_000_000 + i,
        MemoryVMSBytes: 3_000_000_000,
        MemorySwapBytes: 0,
        MemoryPeakRSSBytes: 600_000_000,
        NetworkRxBytes: 1000 * i,
        NetworkTxBytes: 2000 * i,
        DiskReadBytes: 0,
        DiskWriteBytes: 4096 * i,
      },
      Stats: [
        {
          Minute: minute,
          Seconds: 60,
          Samples: 12,
          Missed: 0,
          CPU: agg(x),
          CPUCore: agg(2 * x),
          CPUUser: agg(x * 0.7),
          CPUSystem: agg(x * 0.3),
          VcpuBusy: agg(x * 0.9),
          Steal: agg(0.1),
          MemoryRSS: agg(500_000_000),
          MemorySwap: null,
          MemoryUtilization: agg(23),
          NetIn: 1000 + i,
          NetOut: 2000 + i,
          NetInPackets: 10,
          NetOutPackets: 20,
          DiskRead: 0,
          DiskWrite: 4096 * i,
          ThrottledPeriods: 0,
          ThrottledTimeNs: 0,
        },
      ],
    });
  }
  return {
    Version: PAYLOAD_VERSION,
    BatchID: newBatchId(),
    AgentID: agentId,
    AgentVersion: '0.1.0',
    Hostname: `${agentId}.sim`,
    OperatingSystem: 'Sim Linux',
    Kernel: '6.1.0-sim',
    CPUModel: 'Simulated CPU',
    CPUSpeed: 2400,
    CPUCores: 64,
    RAM: 512 * 1024 ** 3,
    Swap: 0,
    SystemUptime: 100000,
    CreatedAt: minute + 60,
    Disks: [{ Mount: '/', Size: 100, Used: 40, Available: 60 }],
    NetworkInterfaces: [{ Name: 'eth0', NetIn: 1, NetOut: 2 }],
    Stats: [
      {
        Minute: minute,
        Seconds: 60,
        Samples: 12,
        CPU: agg(30),
        IOWait: agg(1),
        Steal: agg(0),
        RAM: agg(40),
        Swap: agg(0),
        Load1: agg(1),
        Load5: agg(1),
        Load15: agg(1),
        Disk: agg(40),
        NetIn: 100,
        NetOut: 200,
      },
    ],
    Instances: instances,
  };
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function emit(event: string, data: object): void {
  process.stdout.write(JSON.stringify({ event, at: Date.now(), ...data }) + '\n');
}

const quiet: ShipLogger = {
  info: () => {},
  warn: () => {},
  error: (obj, msg) => process.stderr.write(JSON.stringify({ level: 'error', msg, ...obj }) + '\n'),
};

async function main(): Promise<number> {
  const env = process.env;
  const endpoints = parseEndpoints(env.SIM_ENDPOINTS);
  const token = env.SIM_TOKEN;
  const dir = env.SIM_DIR;
  const idsFile = env.SIM_IDS_FILE;
  if (!endpoints.length || !token || !dir || !idsFile) throw new Error('SIM_ENDPOINTS, SIM_TOKEN, SIM_DIR and SIM_IDS_FILE are required');
  const agents = Number(env.SIM_AGENTS ?? 1);
  const vms = Number(env.SIM_VMS ?? 10);
  const windows = Number(env.SIM_WINDOWS ?? 10);
  const windowMs = Number(env.SIM_WINDOW_MS ?? 1000);
  const prefix = env.SIM_AGENT_PREFIX ?? 'sim';
  const drainMs = Number(env.SIM_DRAIN_MS ?? 60_000);
  const backoffMaxMs = Number(env.SIM_BACKOFF_MAX_MS ?? 5000);
  const concurrency = Number(env.SIM_CONCURRENCY ?? 1);

  // Ingest latency and answers as the client sees them, from Node's own HTTP client events.
  const started = new WeakMap<ClientRequest, number>();
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  diagnostics.subscribe('http.client.request.start', (m) => started.set((m as { request: ClientRequest }).request, performance.now()));
  diagnostics.subscribe('http.client.response.finish', (m) => {
    const { request, response } = m as { request: ClientRequest; response: IncomingMessage };
    const t0 = started.get(request);
    // Latency of accepted batches: refusals (429, 503) are answered before any work and would flatter it.
    if (t0 !== undefined && response.statusCode! >= 200 && response.statusCode! < 300) latencies.push(performance.now() - t0);
    statuses[String(response.statusCode)] = (statuses[String(response.statusCode)] ?? 0) + 1;
  });
  diagnostics.subscribe('http.client.request.error', () => errors++);

  mkdirSync(dir, { recursive: true });
  const outboxes: Outbox[] = [];
  for (let a = 0; a < agents; a++) {
    outboxes.push(
      await openOutbox(
        {
          ...SHIP_DEFAULTS,
          endpoints,
          token,
          agentId: `${prefix}-${a}`,
          spoolDir: join(dir, `agent-${a}`),
          concurrency,
          backoffInitialMs: 200,
          backoffMaxMs,
          failbackMs: 5000,
          timeoutMs: 30_000,
        },
        quiet,
        { version: '0.1.0' },
      ),
    );
  }
  // Minutes in the recent past, one per window, so every window is inside retention and none in the future.
  const base = Math.floor(Date.now() / 60_000) * 60 - (windows + 1) * 60;
  emit('ready', { agents, vms, windows, windowMs, base });

  let sent = 0;
  const shipped = () => outboxes.reduce((n, o) => n + o.stats().shipper.shipped, 0);
  const spooled = () => outboxes.reduce((n, o) => n + o.stats().spool.records, 0);
  const progress = setInterval(() => emit('progress', { sent, shipped: shipped(), spooled: spooled(), statuses, errors }), 1000);

  const t0 = Date.now();
  for (let w = 0; w < windows; w++) {
    const wait = t0 + (w + 1) * windowMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const minute = base + w * 60;
    // Agents close their windows together, as real agents do at a minute boundary.
    const lines: string[] = [];
    await Promise.all(
      outboxes.map(async (o, a) => {
        const p = simPayload(`${prefix}-${a}`, minute, vms);
        await o.enqueue(p);
        sent++;
        lines.push(JSON.stringify({ batchId: p.BatchID, agentId: p.AgentID, minute }));
      }),
    );
    appendFileSync(idsFile, lines.join('\n') + '\n');
  }
  const producedMs = Date.now() - t0;
  const deadline = Date.now() + drainMs;
  while (spooled() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const drainedMs = Date.now() - t0;
  clearInterval(progress);
  const stats = outboxes.map((o) => o.stats().shipper);
  const remaining = (await Promise.all(outboxes.map((o) => o.close({ flushMs: 1 })))).reduce((n, r) => n + r.remaining, 0);
  latencies.sort((a, b) => a - b);
  emit('done', {
    sent,
    shipped: stats.reduce((n, s) => n + s.shipped, 0),
    failedAttempts: stats.reduce((n, s) => n + s.failedAttempts, 0),
    deadLettered: stats.reduce((n, s) => n + s.deadLettered, 0),
    remaining,
    producedMs,
    drainedMs,
    accepted: latencies.length,
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) ?? null },
    statuses,
    errors,
  });
  return remaining === 0 ? 0 : 3;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`sim-agents: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
