// Device readings in the snake_case of the snapshot JSON and the agent's instance API.
import type { BalloonStats, DeviceReading, DiskCounters } from './device-stats.js';
import type { DeviceView } from './device-poller.js';

export interface DiskJson {
  device: string;
  read_bytes: number;
  write_bytes: number;
  read_ops: number;
  write_ops: number;
  flush_ops: number | null;
  read_time_ns: number | null;
  write_time_ns: number | null;
  flush_time_ns: number | null;
}

export interface BalloonJson {
  actual_bytes: number | null;
  available_bytes: number | null;
  usable_bytes: number | null;
  unused_bytes: number | null;
  disk_caches_bytes: number | null;
  swap_in_bytes: number | null;
  swap_out_bytes: number | null;
  major_faults: number | null;
  minor_faults: number | null;
}

/** What an instance gains: null disks / balloon when no source gave them, and why. */
export interface DevicesJson {
  disks: DiskJson[] | null;
  balloon: BalloonJson | null;
  device_sources: string[];
  device_measured: string[];
  /** Unix ms of the reading, null when none was taken yet. */
  devices_read_at_ms: number | null;
}

export function diskJson(d: DiskCounters): DiskJson {
  return {
    device: d.device,
    read_bytes: d.readBytes,
    write_bytes: d.writeBytes,
    read_ops: d.readOps,
    write_ops: d.writeOps,
    flush_ops: d.flushOps,
    read_time_ns: d.readTimeNs,
    write_time_ns: d.writeTimeNs,
    flush_time_ns: d.flushTimeNs,
  };
}

export function balloonJson(b: BalloonStats): BalloonJson {
  return {
    actual_bytes: b.actualBytes,
    available_bytes: b.availableBytes,
    usable_bytes: b.usableBytes,
    unused_bytes: b.unusedBytes,
    disk_caches_bytes: b.diskCachesBytes,
    swap_in_bytes: b.swapInBytes,
    swap_out_bytes: b.swapOutBytes,
    major_faults: b.majorFaults,
    minor_faults: b.minorFaults,
  };
}

export function devicesJson(r: DeviceReading | null | undefined, notReadWhy = 'device readings are not taken yet'): DevicesJson {
  if (!r) return { disks: null, balloon: null, device_sources: [], device_measured: [notReadWhy], devices_read_at_ms: null };
  return {
    disks: r.disks ? r.disks.map(diskJson) : null,
    balloon: r.balloon ? balloonJson(r.balloon) : null,
    device_sources: [...r.sources],
    device_measured: [...r.measured],
    devices_read_at_ms: r.tMs,
  };
}

/** The agent API's view: the latest reading plus per-disk rates over the last two rounds. */
export interface DeviceViewJson extends DevicesJson {
  disk_rates: { device: string; read_bytes_per_sec: number; write_bytes_per_sec: number; read_ops_per_sec: number; write_ops_per_sec: number }[];
}

export function deviceViewJson(v: DeviceView | null | undefined, enabled: boolean): DeviceViewJson {
  const why = enabled ? 'no device round has read this VM yet' : 'device rounds are off (VMPULSE_DEVICE_INTERVAL_MS=0)';
  return {
    ...devicesJson(v?.reading, why),
    disk_rates: (v?.rates ?? []).map((r) => ({
      device: r.device,
      read_bytes_per_sec: r.readBytesPerSec,
      write_bytes_per_sec: r.writeBytesPerSec,
      read_ops_per_sec: r.readOpsPerSec,
      write_ops_per_sec: r.writeOpsPerSec,
    })),
  };
}
