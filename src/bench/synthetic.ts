// Synthetic agent batches for the server benches (bench:server, bench:engines): N VMs × one
// minute each, values varied per VM so that no two rows compress alike, and the HTTP post.
import { gzipSync } from 'node:zlib';
import { ulid } from 'ulid';
import type { Agg, InstanceRecord, InstanceWindow, Payload } from '../ship/payload.js';

export const agg = (x: number): Agg => ({ Avg: x, Min: x * 0.5, Max: x * 1.5, Sum: x * 12, Count: 12 });

export function window(minute: number, i: number): InstanceWindow {
  const x = (i % 97) + 1;
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    Missed: 0,
    CPU: agg(x / 2),
    CPUCore: agg(x),
    CPUUser: agg(x * 0.7),
    CPUSystem: agg(x * 0.3),
    VcpuBusy: agg(x / 2),
    Steal: agg(0.1),
    MemoryRSS: agg(1e9 + x),
    MemorySwap: null,
    MemoryUtilization: agg(25),
    NetIn: 1e6 + x,
    NetOut: 5e5 + x,
    NetInPackets: 1000,
    NetOutPackets: 500,
    DiskRead: 4096 * x,
    DiskWrite: 8192 * x,
    ThrottledPeriods: 0,
    ThrottledTimeNs: 0,
  };
}

export function instance(id: string, stats: InstanceWindow[]): InstanceRecord {
  return {
    InstanceID: id,
    InstanceName: `vm-${id}`,
    Hypervisor: 'qemu',
    PID: 1000,
    StartTime: 1,
    AllocatedVcpus: 2,
    AllocatedMemoryBytes: 4 * 2 ** 30,
    TapDevices: [`tap${id.slice(-8)}`],
    Running: true,
    Counters: {
      CPUSeconds: 1,
      MemoryRSSBytes: 1e9,
      MemoryVMSBytes: 4e9,
      MemorySwapBytes: 0,
      MemoryPeakRSSBytes: 1e9,
      NetworkRxBytes: 1,
      NetworkTxBytes: 1,
      DiskReadBytes: 1,
      DiskWriteBytes: 1,
    },
    Stats: stats,
  };
}

export function batch(agentId: string, instances: InstanceRecord[]): Payload {
  return {
    Version: 1,
    BatchID: ulid(),
    AgentID: agentId,
    AgentVersion: 'bench',
    Hostname: agentId,
    OperatingSystem: 'bench',
    Kernel: 'bench',
    CPUModel: 'bench',
    CPUSpeed: 3000,
    CPUCores: 64,
    RAM: 2 ** 38,
    Swap: 0,
    SystemUptime: 1,
    CreatedAt: Math.floor(Date.now() / 1000),
    Disks: [],
    NetworkInterfaces: [],
    Stats: [],
    Instances: instances,
  };
}

export async function post(url: string, secret: string, p: Payload): Promise<void> {
  const res = await fetch(`${url}/v1/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'content-encoding': 'gzip', 'idempotency-key': p.BatchID },
    body: gzipSync(JSON.stringify(p)),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`ingest answered ${res.status}: ${text}`);
}

export function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
