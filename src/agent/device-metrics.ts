// Prometheus series of the hypervisors' own device counters (collect/disks): per virtual disk and
// the guest's balloon figures, from the latest device round. Like the rest of the agent's
// metrics, a value the source did not give has no series.
import type { Registry } from 'prom-client';
import { collector, type Point, type ScrapedVm } from './metrics.js';
import type { BalloonStats, DiskCounters } from '../collect/disks/device-stats.js';

export function registerDeviceMetrics(registry: Registry, vms: () => readonly ScrapedVm[]): void {
  const disk = (name: string, help: string, pick: (d: DiskCounters) => number | null) =>
    collector(registry, name, help, 'counter', () => {
      const out: Point[] = [];
      for (const v of vms()) {
        const r = v.iv.devices?.reading;
        for (const d of r?.disks ?? []) {
          const x = pick(d);
          if (x !== null) out.push({ labels: { ...v.base, device: d.device, source: r!.sources[0] ?? '' }, value: x });
        }
      }
      return out;
    });
  const ns = (x: number | null) => (x === null ? null : x / 1e9);
  disk('vmpulse_vm_block_read_bytes_total', "Bytes the guest read from this virtual disk, as the hypervisor counts them (libvirt rd.bytes, Cloud Hypervisor read_bytes, Firecracker read_bytes).", (d) => d.readBytes);
  disk('vmpulse_vm_block_write_bytes_total', 'Bytes the guest wrote to this virtual disk, as the hypervisor counts them.', (d) => d.writeBytes);
  disk('vmpulse_vm_block_read_ops_total', 'Read requests of this virtual disk.', (d) => d.readOps);
  disk('vmpulse_vm_block_write_ops_total', 'Write requests of this virtual disk.', (d) => d.writeOps);
  disk('vmpulse_vm_block_flush_ops_total', 'Flush requests of this virtual disk (libvirt, Firecracker).', (d) => d.flushOps);
  disk('vmpulse_vm_block_read_seconds_total', 'Time spent on reads of this virtual disk, seconds (libvirt rd.times).', (d) => ns(d.readTimeNs));
  disk('vmpulse_vm_block_write_seconds_total', 'Time spent on writes of this virtual disk, seconds (libvirt wr.times).', (d) => ns(d.writeTimeNs));
  disk('vmpulse_vm_block_flush_seconds_total', 'Time spent on flushes of this virtual disk, seconds (libvirt fl.times).', (d) => ns(d.flushTimeNs));

  const balloon = (name: string, help: string, type: 'counter' | 'gauge', pick: (b: BalloonStats) => number | null) =>
    collector(registry, name, help, type, () => {
      const out: Point[] = [];
      for (const v of vms()) {
        const b = v.iv.devices?.reading.balloon;
        const x = b ? pick(b) : null;
        if (x !== null) out.push({ labels: v.base, value: x });
      }
      return out;
    });
  balloon('vmpulse_vm_balloon_actual_bytes', 'Memory the balloon leaves to the guest, bytes.', 'gauge', (b) => b.actualBytes);
  balloon('vmpulse_vm_balloon_available_bytes', "The guest's total memory as its balloon driver reports it (libvirt available, virtio MEMTOT).", 'gauge', (b) => b.availableBytes);
  balloon('vmpulse_vm_balloon_usable_bytes', 'Memory the guest could use without swapping (libvirt usable, the guest MemAvailable).', 'gauge', (b) => b.usableBytes);
  balloon('vmpulse_vm_balloon_unused_bytes', 'Memory the guest leaves unused (libvirt unused, the guest MemFree).', 'gauge', (b) => b.unusedBytes);
  balloon('vmpulse_vm_balloon_disk_caches_bytes', "The guest's page cache, bytes.", 'gauge', (b) => b.diskCachesBytes);
  balloon('vmpulse_vm_balloon_swap_in_bytes_total', 'Bytes the guest swapped in.', 'counter', (b) => b.swapInBytes);
  balloon('vmpulse_vm_balloon_swap_out_bytes_total', 'Bytes the guest swapped out.', 'counter', (b) => b.swapOutBytes);
  balloon('vmpulse_vm_balloon_major_faults_total', 'Major page faults in the guest.', 'counter', (b) => b.majorFaults);
  balloon('vmpulse_vm_balloon_minor_faults_total', 'Minor page faults in the guest.', 'counter', (b) => b.minorFaults);
}
