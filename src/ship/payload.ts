// The wire payload an agent POSTs to the server: HetrixTools style (PascalCase host facts plus
// per-window `Stats`), extended with `Instances`. The JSON Schema beside this file
// (payload.schema.json) is the contract the server validates against; keep the two in step.

export const PAYLOAD_VERSION = 1;

/** Average, minimum, maximum, sum and sample count of one gauge over one window. */
export interface Agg {
  Avg: number;
  Min: number;
  Max: number;
  Sum: number;
  Count: number;
}

/** The host's record for one window. Percentages are 0..100; byte totals cover the window. */
export interface HostWindow {
  /** Unix seconds of the window start (wall-clock aligned). */
  Minute: number;
  /** Window length in seconds. */
  Seconds: number;
  /** Ticks in which the host was sampled. */
  Samples: number;
  CPU: Agg | null;
  IOWait: Agg | null;
  Steal: Agg | null;
  RAM: Agg | null;
  Swap: Agg | null;
  Load1: Agg | null;
  Load5: Agg | null;
  Load15: Agg | null;
  /** Used percent across the mounted filesystems. */
  Disk: Agg | null;
  /** Bytes received / sent by the physical interfaces over the window. */
  NetIn: number;
  NetOut: number;
}

/** One VM's record for one window. */
export interface InstanceWindow {
  Minute: number;
  Seconds: number;
  /** Ticks in which this VM was sampled (partial windows have fewer). */
  Samples: number;
  /** Ticks in which the VM was expected but could not be sampled. */
  Missed: number;
  /** Percent of the allocated vCPUs (Lightsail CPUUtilization). */
  CPU: Agg | null;
  /** Percent of one core (Nomad Percent), and its user/system split. */
  CPUCore: Agg | null;
  CPUUser: Agg | null;
  CPUSystem: Agg | null;
  /** Busy percent of the vCPU threads alone (100 = every vCPU thread always running). */
  VcpuBusy: Agg | null;
  /** Runqueue wait of the vCPU threads as a percent of wall time, per vCPU. */
  Steal: Agg | null;
  MemoryRSS: Agg | null;
  MemorySwap: Agg | null;
  /** RSS / allocated memory, percent; null when allocated memory is unknown. */
  MemoryUtilization: Agg | null;
  /**
   * VM view: NetIn = bytes the VM received (TAP tx), NetOut = bytes it sent (TAP rx). Null when a
   * TAP of the VM could not be read: a partial sum would understate the traffic.
   */
  NetIn: number | null;
  NetOut: number | null;
  NetInPackets: number | null;
  NetOutPackets: number | null;
  /**
   * The kernel's error and drop counters of the TAPs over the window, VM view: NetInDropped =
   * frames the host could not hand to the VM (TAP tx_dropped). Null as NetIn; absent from older agents.
   */
  NetInErrors?: number | null;
  NetOutErrors?: number | null;
  NetInDropped?: number | null;
  NetOutDropped?: number | null;
  DiskRead: number;
  DiskWrite: number;
  ThrottledPeriods: number;
  ThrottledTimeNs: number;
  /**
   * CPU seconds (user + system, from the kernel's clock ticks) the process used in this window,
   * unsampled time included: the counter from which CPU time adds up exactly across windows and
   * restarts (the CPU gauges cover sampled intervals only). Absent from older agents.
   */
  CPUTime?: number;
  /**
   * Seconds of this window that no reading covered but whose counter deltas it carries (the agent
   * was stopped; its last readings were kept and the gap spread over the minutes it covers).
   * Absent means 0. Gauges are not invented for those seconds: their Count says what was sampled.
   */
  Unsampled?: number;
  /**
   * Per virtual disk, the counter deltas of this window as the hypervisor counts them (libvirt,
   * Cloud Hypervisor vm.counters, Firecracker's metrics file). Absent: no such source for this VM
   * (or an older agent). A disk's bytes land in the window in which the agent read them.
   */
  Disks?: DiskWindow[];
}

/** One virtual disk's I/O over one window. */
export interface DiskWindow {
  /** libvirt target dev (vda), Cloud Hypervisor device id, Firecracker drive id. */
  Device: string;
  ReadBytes: number;
  WriteBytes: number;
  ReadOps: number;
  WriteOps: number;
}

/** The guest's memory as its balloon driver last reported it, bytes (null: not reported). */
export interface BalloonInfo {
  /** Memory the balloon leaves to the guest. */
  ActualBytes: number | null;
  /** The guest's total memory (libvirt "available", virtio MEMTOT). */
  AvailableBytes: number | null;
  /** What the guest could use without swapping (libvirt "usable", the guest's MemAvailable). */
  UsableBytes: number | null;
  /** Free memory in the guest (libvirt "unused", MEMFREE). */
  UnusedBytes: number | null;
  DiskCachesBytes: number | null;
  SwapInBytes: number | null;
  SwapOutBytes: number | null;
  MajorFaults: number | null;
  MinorFaults: number | null;
}

/** The latest counters of a VM: the Hypeman InstanceStats values, PascalCase. */
export interface InstanceCounters {
  CPUSeconds: number;
  MemoryRSSBytes: number;
  MemoryVMSBytes: number;
  MemorySwapBytes: number | null;
  MemoryPeakRSSBytes: number | null;
  /** Null when a TAP of the VM could not be read (never a partial sum). */
  NetworkRxBytes: number | null;
  NetworkTxBytes: number | null;
  DiskReadBytes: number | null;
  DiskWriteBytes: number | null;
  /** Cumulative packets, errors and drops of the TAPs, VM view; absent from older agents. */
  NetworkRxPackets?: number | null;
  NetworkTxPackets?: number | null;
  NetworkRxErrors?: number | null;
  NetworkTxErrors?: number | null;
  NetworkRxDropped?: number | null;
  NetworkTxDropped?: number | null;
}

export interface InstanceRecord {
  InstanceID: string;
  InstanceName: string;
  Hypervisor: 'qemu' | 'cloud-hypervisor' | 'firecracker' | 'crosvm';
  PID: number;
  /** /proc/<pid>/stat starttime, so the server can tell a restarted VM process. */
  StartTime: number;
  AllocatedVcpus: number;
  AllocatedMemoryBytes: number;
  TapDevices: string[];
  /** Whether the VM's process was still running when the window closed. */
  Running: boolean;
  Counters: InstanceCounters | null;
  /** The latest balloon reading; absent when no source gave one (or an older agent). */
  Balloon?: BalloonInfo;
  Stats: InstanceWindow[];
}

export interface DiskInfo {
  Mount: string;
  Size: number;
  Used: number;
  Available: number;
}

export interface NetworkInterfaceInfo {
  Name: string;
  /** Bytes over the last window. */
  NetIn: number;
  NetOut: number;
}

export interface Payload {
  Version: number;
  /** ULID, fixed when the batch is made; also sent as the Idempotency-Key header. */
  BatchID: string;
  AgentID: string;
  AgentVersion: string;
  Hostname: string;
  OperatingSystem: string;
  Kernel: string;
  CPUModel: string;
  /** MHz. */
  CPUSpeed: number;
  CPUCores: number;
  /** Bytes. */
  RAM: number;
  Swap: number;
  /** Seconds since boot. */
  SystemUptime: number;
  /** Unix seconds when the batch was made. */
  CreatedAt: number;
  /**
   * The agent's VMPULSE_WINDOW_SECONDS. A window longer than a minute reaches the server only once
   * it has ended, so the server's status checks wait that long for its minutes. Absent: 60.
   */
  WindowSeconds?: number;
  Disks: DiskInfo[];
  NetworkInterfaces: NetworkInterfaceInfo[];
  Stats: HostWindow[];
  Instances: InstanceRecord[];
}
