// What a hypervisor says about a VM's virtual devices, beside what the kernel says about its
// process: per-disk I/O counters and the guest's memory as its balloon driver reports it. These
// come from the hypervisor (libvirt, Cloud Hypervisor's API, Firecracker's metrics file and API),
// not from /proc, so they are read on their own, coarser cadence (VMPULSE_DEVICE_INTERVAL_MS).

/** One virtual disk's cumulative counters since the device was created. Null: not given by the source. */
export interface DiskCounters {
  /** libvirt's target dev (vda, sdb), Cloud Hypervisor's device id, Firecracker's drive id. */
  readonly device: string;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly readOps: number;
  readonly writeOps: number;
  readonly flushOps: number | null;
  /** Total time spent on reads / writes / flushes, ns (libvirt's rd.times, wr.times, fl.times). */
  readonly readTimeNs: number | null;
  readonly writeTimeNs: number | null;
  readonly flushTimeNs: number | null;
}

/**
 * The guest's memory as its virtio balloon driver reports it, bytes. Names follow libvirt's:
 * `available` is the memory the guest sees in total (virtio MEMTOT), `usable` what it could use
 * without swapping (AVAIL, the guest's MemAvailable), `unused` what it leaves free (MEMFREE).
 */
export interface BalloonStats {
  /** Memory the balloon currently leaves to the guest (libvirt balloon.current, Firecracker actual_mib). */
  readonly actualBytes: number | null;
  readonly availableBytes: number | null;
  readonly usableBytes: number | null;
  readonly unusedBytes: number | null;
  readonly diskCachesBytes: number | null;
  readonly swapInBytes: number | null;
  readonly swapOutBytes: number | null;
  readonly majorFaults: number | null;
  readonly minorFaults: number | null;
}

export type DeviceSource = 'libvirt' | 'cloud-hypervisor' | 'firecracker';

/** One round's reading of one VM's devices. */
export interface DeviceReading {
  /** Wall clock, ms, when the source answered. */
  readonly tMs: number;
  /** Null: no source gave disks for this VM (`measured` says why). */
  readonly disks: readonly DiskCounters[] | null;
  readonly balloon: BalloonStats | null;
  /** The sources that answered. */
  readonly sources: readonly DeviceSource[];
  /** Why disks or balloon are absent, one line per source ("libvirt: virsh is not installed"). */
  readonly measured: readonly string[];
}

export const EMPTY_BALLOON: BalloonStats = {
  actualBytes: null,
  availableBytes: null,
  usableBytes: null,
  unusedBytes: null,
  diskCachesBytes: null,
  swapInBytes: null,
  swapOutBytes: null,
  majorFaults: null,
  minorFaults: null,
};

/** True when a balloon reading carries at least one guest figure (not only its size). */
export function balloonHasValues(b: BalloonStats): boolean {
  return Object.values(b).some((v) => v !== null);
}
