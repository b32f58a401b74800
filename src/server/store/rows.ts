// Database rows → store records, shared by both engines (both return snake_case column names).
import type { InstanceCounters, InstanceWindow, HostWindow } from '../../ship/payload.js';
import type { AgentRow, InstanceRow, IngestOptions, Role, SessionRow, TokenRow } from './store.js';
import { COUNTER_COLS } from './schema.js';

type Raw = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function toToken(r: Raw): TokenRow {
  return {
    accessKeyId: String(r.access_key_id),
    name: String(r.name),
    role: String(r.role) as Role,
    secretSha256: String(r.secret_sha256),
    agentId: r.agent_id === null || r.agent_id === undefined ? null : String(r.agent_id),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

export function toAgent(r: Raw): AgentRow {
  return {
    agentId: String(r.agent_id),
    hostname: String(r.hostname),
    agentVersion: String(r.agent_version),
    operatingSystem: String(r.operating_system),
    kernel: String(r.kernel),
    cpuModel: String(r.cpu_model),
    cpuSpeed: num(r.cpu_speed),
    cpuCores: num(r.cpu_cores),
    ram: num(r.ram),
    swap: num(r.swap),
    systemUptime: num(r.system_uptime),
    disks: JSON.parse(String(r.disks)),
    networkInterfaces: JSON.parse(String(r.network_interfaces)),
    firstSeen: num(r.first_seen),
    lastSeen: num(r.last_seen),
    lastCreatedAt: num(r.last_created_at),
  };
}

export function toInstance(r: Raw): InstanceRow {
  let counters: InstanceCounters | null = null;
  if (Number(r.has_counters) === 1) {
    const c: Record<string, number | null> = {};
    for (const [k, col] of Object.entries(COUNTER_COLS)) c[k] = numOrNull(r[col]);
    counters = c as unknown as InstanceCounters;
  }
  return {
    agentId: String(r.agent_id),
    hostname: r.hostname === null || r.hostname === undefined ? '' : String(r.hostname),
    instanceId: String(r.instance_id),
    name: String(r.name),
    hypervisor: String(r.hypervisor),
    pid: num(r.pid),
    startTime: num(r.start_time),
    allocatedVcpus: num(r.allocated_vcpus),
    allocatedMemoryBytes: num(r.allocated_memory_bytes),
    tapDevices: JSON.parse(String(r.tap_devices)),
    running: Number(r.running) === 1,
    counters,
    firstSeen: num(r.first_seen),
    lastSeen: num(r.last_seen),
    firstMinute: numOrNull(r.first_minute),
  };
}

export function toMinuteRow(r: Raw): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(r)) out[k] = numOrNull(v);
  return out;
}

/**
 * Windows of one batch that are stored: inside the retention bounds, and one record per minute
 * (windows of one minute merged, see merge.ts) so a single upsert statement never touches a row twice.
 */
export function keptWindows<T extends HostWindow | InstanceWindow>(list: readonly T[], opts: IngestOptions, merge: (a: T, b: T) => T): { kept: T[]; skipped: number } {
  const inside = (w: T) => (opts.minMinute === undefined || w.Minute >= opts.minMinute) && (opts.maxMinute === undefined || w.Minute <= opts.maxMinute);
  // The common case, one window: no map to build.
  if (list.length === 1) return inside(list[0]!) ? { kept: [list[0]!], skipped: 0 } : { kept: [], skipped: 1 };
  const byMinute = new Map<number, T>();
  let skipped = 0;
  for (const w of list) {
    if (!inside(w)) {
      skipped++;
      continue;
    }
    const had = byMinute.get(w.Minute);
    byMinute.set(w.Minute, had ? merge(had, w) : w);
  }
  return { kept: [...byMinute.values()], skipped };
}

export function toSession(r: Raw): SessionRow {
  return {
    idSha256: String(r.id_sha256),
    accessKeyId: String(r.access_key_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}
