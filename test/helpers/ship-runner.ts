// A stand-in agent for the shipping tests: every VMPULSE_WINDOW_SECONDS it closes a window, builds
// a synthetic but schema-valid Payload for it and hands it to a real outbox, so a test can run it
// as its own process, `kill -9` it, and start it again on the same spool.
//
//   node dist/test/helpers/ship-runner.js
//     VMPULSE_*                   the outbox's configuration (src/ship/config.ts)
//     VMPULSE_WINDOW_SECONDS      window length (default 1)
//     SHIP_RUNNER_WINDOWS         windows to make before closing and exiting (0 = until a signal)
//     SHIP_RUNNER_INSTANCES       instances per payload (default 3)
//     SHIP_RUNNER_FLUSH_MS        bound of the closing flush (default VMPULSE_SHIP_FLUSH_MS)
//
// stdout carries one JSON object per line: {event:"open"|"enqueued"|"stats"|"closed", ...}.
// "enqueued" is written only after enqueue() resolved, i.e. once the batch is durable.
import { fileURLToPath } from 'node:url';
import { newBatchId } from '../../src/ship/batch-id.js';
import { readShipConfig } from '../../src/ship/config.js';
import type { ShipLogger } from '../../src/ship/log.js';
import { openOutbox } from '../../src/ship/outbox.js';
import { PAYLOAD_VERSION, type Agg, type InstanceRecord, type Payload } from '../../src/ship/payload.js';

const agg = (v: number): Agg => ({ Avg: v, Min: v * 0.5, Max: v * 1.5, Sum: v * 4, Count: 4 });

export interface SyntheticOptions {
  agentId: string;
  minute: number;
  seconds: number;
  instances: number;
  batchId?: string;
  /** Unix seconds; defaults to the end of the window. */
  createdAt?: number;
}

/** A Payload for one window with `instances` VMs; valid against payload.schema.json. */
export function makePayload(o: SyntheticOptions): Payload {
  const instances: InstanceRecord[] = [];
  for (let i = 0; i < o.instances; i++) {
    instances.push({
      InstanceID: `vm-${String(i).padStart(4, '0')}`,
      InstanceName: `test-vm-${i}`,
      Hypervisor: i % 2 ? 'cloud-hypervisor' : 'qemu',
      PID: 1000 + i,
      StartTime: 123456 + i,
      AllocatedVcpus: 2,
      AllocatedMemoryBytes: 2 * 1024 ** 3,
      TapDevices: [`vpt${i}`],
      Running: true,
      Counters: {
        CPUSeconds: 10 + i,
        MemoryRSSBytes: 500_000_000 + i,
        MemoryVMSBytes: 3_000_000_000,
        MemorySwapBytes: 0,
        MemoryPeakRSSBytes: 600_000_000,
        NetworkRxBytes: 1000 * i,
        NetworkTxBytes: 2000 * i,
        DiskReadBytes: null,
        DiskWriteBytes: null,
      },
      Stats: [
        {
          Minute: o.minute,
          Seconds: o.seconds,
          Samples: 4,
          Missed: 0,
          CPU: agg(10 + (i % 50)),
          CPUCore: agg(20),
          CPUUser: agg(15),
          CPUSystem: agg(5),
          VcpuBusy: agg(18),
          Steal: agg(0.5),
          MemoryRSS: agg(500_000_000),
          MemorySwap: null,
          MemoryUtilization: agg(23.3),
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
    BatchID: o.batchId ?? newBatchId(),
    AgentID: o.agentId,
    AgentVersion: '0.1.0',
    Hostname: 'ship-runner',
    OperatingSystem: 'Test Linux',
    Kernel: '6.1.0-test',
    CPUModel: 'Synthetic CPU',
    CPUSpeed: 2400,
    CPUCores: 8,
    RAM: 16 * 1024 ** 3,
    Swap: 0,
    SystemUptime: 1000,
    CreatedAt: o.createdAt ?? o.minute + o.seconds,
    Disks: [{ Mount: '/', Size: 100, Used: 40, Available: 60 }],
    NetworkInterfaces: [{ Name: 'eth0', NetIn: 1, NetOut: 2 }],
    Stats: [
      {
        Minute: o.minute,
        Seconds: o.seconds,
        Samples: 4,
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

function emit(event: string, data: object): void {
  process.stdout.write(JSON.stringify({ event, at: Date.now(), ...data }) + '\n');
}

const stderrLogger: ShipLogger = {
  info: (obj, msg) => process.stderr.write(JSON.stringify({ level: 'info', msg, ...obj }) + '\n'),
  warn: (obj, msg) => process.stderr.write(JSON.stringify({ level: 'warn', msg, ...obj }) + '\n'),
  error: (obj, msg) => process.stderr.write(JSON.stringify({ level: 'error', msg, ...obj }) + '\n'),
};

async function main(): Promise<void> {
  const config = readShipConfig();
  const seconds = Number(process.env.VMPULSE_WINDOW_SECONDS ?? 1);
  const windows = Number(process.env.SHIP_RUNNER_WINDOWS ?? 0);
  const instances = Number(process.env.SHIP_RUNNER_INSTANCES ?? 3);
  const flushMs = Number(process.env.SHIP_RUNNER_FLUSH_MS ?? config.flushMs);
  const outbox = await openOutbox(config, stderrLogger);
  const stats = () => emit('stats', { rss: process.memoryUsage().rss, ...outbox.stats() });
  emit('open', { pid: process.pid, agentId: outbox.agentId, ...outbox.stats() });

  let stopping = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stopping = true;
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const ticker = setInterval(stats, 250);

  const closeWindow = async (minute: number) => {
    const p = makePayload({ agentId: outbox.agentId, minute, seconds, instances });
    await outbox.enqueue(p);
    emit('enqueued', { batchId: p.BatchID, minute });
  };

  let made = 0;
  let windowStart = Math.floor(Date.now() / 1000 / seconds) * seconds;
  while (!stopping && (windows === 0 || made < windows)) {
    const end = windowStart + seconds;
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, Math.max(0, end * 1000 - Date.now()));
    });
    wake = undefined;
    // On a signal the current, partial window is closed and spooled too, as the agent does.
    await closeWindow(windowStart);
    made++;
    windowStart = end;
    stats();
  }
  clearInterval(ticker);
  const { remaining } = await outbox.close({ flushMs });
  emit('closed', { remaining, rss: process.memoryUsage().rss, ...outbox.stats() });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`ship-runner: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
