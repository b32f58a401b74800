// Firecracker's own outputs → disks and balloon. Pure.
//
// The metrics file (`--metrics-path`, or PUT /metrics) gets one JSON object per line at every
// flush. Its block counters are SharedIncMetric: each line carries what happened since the
// previous flush, so a drive's totals are the sum over every line the file holds. Per-drive
// objects are `block_<drive id>` (Firecracker ≥ 1.1); `block` alone is the aggregate over drives.
//   {"utc_timestamp_ms": ..., "block": {...}, "block_rootfs": {"read_bytes": 4096, "write_bytes": 0,
//    "read_count": 1, "write_count": 0, "flush_count": 0, ...}, ...}
//
// `GET /balloon/statistics` answers bytes for the guest figures and pages/MiB for the balloon:
//   {"target_mib": 0, "actual_mib": 0, "swap_in": 0, "swap_out": 0, "major_faults": 1,
//    "minor_faults": 2, "free_memory": ..., "total_memory": ..., "available_memory": ..., "disk_caches": ...}
import { malformed, ok, type Outcome } from '../../readers/outcome.js';
import { EMPTY_BALLOON, type BalloonStats } from './device-stats.js';

export interface FcBlockDelta {
  readonly device: string;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly readOps: number;
  readonly writeOps: number;
  readonly flushOps: number;
}

const u64 = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

/** One metrics line → its per-drive deltas (the aggregate `block` as device `block` when no drive has its own). */
export function parseFcMetricsLine(line: string): Outcome<FcBlockDelta[]> {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return malformed('firecracker metrics line', 'not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return malformed('firecracker metrics line', 'not an object');
  const rec = o as Record<string, unknown>;
  const out: FcBlockDelta[] = [];
  let aggregate: FcBlockDelta | null = null;
  for (const [k, v] of Object.entries(rec)) {
    if (k !== 'block' && !k.startsWith('block_')) continue;
    if (typeof v !== 'object' || v === null) continue;
    const m = v as Record<string, unknown>;
    const d = {
      device: k === 'block' ? 'block' : k.slice('block_'.length),
      readBytes: u64(m.read_bytes) ?? 0,
      writeBytes: u64(m.write_bytes) ?? 0,
      readOps: u64(m.read_count) ?? 0,
      writeOps: u64(m.write_count) ?? 0,
      flushOps: u64(m.flush_count) ?? 0,
    };
    if (k === 'block') aggregate = d;
    else out.push(d);
  }
  if (out.length === 0 && aggregate) out.push(aggregate);
  return ok(out);
}

const MiB = 1024 * 1024;

/**
 * `GET /balloon/statistics` → BalloonStats. Firecracker's actual_mib is the balloon's own size
 * (memory taken from the guest): what it leaves the guest is the VM's memory minus that, so it
 * needs the allocated memory (0 = unknown → null).
 */
export function parseFcBalloonStats(body: unknown, allocatedMemoryBytes: number): Outcome<BalloonStats> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return malformed('balloon statistics', 'not an object');
  const m = body as Record<string, unknown>;
  const actualMib = u64(m.actual_mib);
  return ok({
    ...EMPTY_BALLOON,
    actualBytes: actualMib !== null && allocatedMemoryBytes > 0 ? Math.max(0, allocatedMemoryBytes - actualMib * MiB) : null,
    availableBytes: u64(m.total_memory),
    usableBytes: u64(m.available_memory),
    unusedBytes: u64(m.free_memory),
    diskCachesBytes: u64(m.disk_caches),
    swapInBytes: u64(m.swap_in),
    swapOutBytes: u64(m.swap_out),
    majorFaults: u64(m.major_faults),
    minorFaults: u64(m.minor_faults),
  });
}
