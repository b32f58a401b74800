// Cloud Hypervisor `GET /api/v1/vm.counters` → disks. Pure. The answer maps each device id to its
// counters; block devices carry read_bytes, write_bytes, read_ops, write_ops (net devices
// rx_bytes, tx_bytes, rx_frames, tx_frames; those are left to the TAP readers):
//   {"_disk0": {"read_bytes": 512, "write_bytes": 0, "read_ops": 1, "write_ops": 0}, "_net1": {...}}
import { malformed, ok, type Outcome } from '../../readers/outcome.js';
import type { DiskCounters } from './device-stats.js';
import { compareDeviceNames } from './device-order.js';

const u64 = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null);

export function parseChCounters(body: unknown): Outcome<DiskCounters[]> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return malformed('vm.counters', 'not an object');
  const disks: DiskCounters[] = [];
  for (const [device, c] of Object.entries(body as Record<string, unknown>)) {
    if (typeof c !== 'object' || c === null) continue;
    const m = c as Record<string, unknown>;
    const rb = u64(m.read_bytes);
    const wb = u64(m.write_bytes);
    const ro = u64(m.read_ops);
    const wo = u64(m.write_ops);
    if (rb === null || wb === null || ro === null || wo === null) continue;
    disks.push({ device, readBytes: rb, writeBytes: wb, readOps: ro, writeOps: wo, flushOps: null, readTimeNs: null, writeTimeNs: null, flushTimeNs: null });
  }
  disks.sort((a, b) => compareDeviceNames(a.device, b.device));
  return ok(disks);
}
