// The fleet page's JSON (GET /console/api/fleet): what the server builds (server/console/fleet.ts)
// and the browser reads (console/web/fleet.ts). No imports: the browser build includes it too.

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
