// The console's JSON shapes shared by the server that builds them and the browser that reads them:
// the fleet page (GET /console/api/fleet: server/console/fleet.ts, console/web/fleet.ts) and the VM
// page's disks (server/store/disk-minutes.ts, console/web/vm.ts). No imports: the browser build
// includes it too.

export interface FleetVm {
  agent_id: string;
  host: string;
  instance_id: string;
  name: string;
  hypervisor: string;
  vcpus: number;
  memory_bytes: number;
  /** running | stopped (process not running) | silent (nothing for SILENT_AFTER_S) */
  state: 'running' | 'stopped' | 'silent';
  last_seen: number;
  /** Minute of the latest window, null when none is recent. */
  minute: number | null;
  cpu: number | null;
  memory: number | null;
  steal: number | null;
  net_in: number | null;
  net_out: number | null;
  disk_read: number | null;
  disk_write: number | null;
  /** Alarms in ALARM for this VM. */
  alarms: number;
}

export interface FleetHost {
  agent_id: string;
  hostname: string;
  last_seen: number;
  silent: boolean;
  vms: number;
  cpu_cores: number;
  ram: number;
  minute: number | null;
  cpu: number | null;
  ram_used: number | null;
  net_in: number | null;
  net_out: number | null;
}

export interface Fleet {
  now: number;
  hosts: FleetHost[];
  vms: FleetVm[];
  totals: { hosts: number; silent_hosts: number; vms: number; running_vms: number; cpu: number | null; net_in: number; net_out: number };
}

/** One virtual disk's counters added over minutes (the VM page's disks table). */
export interface DiskTotal {
  device: string;
  read_bytes: number;
  write_bytes: number;
  read_ops: number;
  write_ops: number;
  /** Minutes with a record of this disk. */
  minutes: number;
}
