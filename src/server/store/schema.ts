// Column layout shared by both engines. The per-minute tables are wide (one column per Agg part)
// rather than JSON so that period statistics are computed from stored Sum/Count/Min/Max with plain
// SQL or a single row scan, never from averages of averages. Column names are fixed identifiers
// from this file only; user input never reaches an identifier.
import type { Agg, HostWindow, InstanceRecord, InstanceWindow, Payload } from '../../ship/payload.js';

export type ColKind = 'text' | 'int' | 'real';
export interface Col {
  readonly name: string;
  readonly kind: ColKind;
}

export const AGG_PARTS = ['avg', 'min', 'max', 'sum', 'count'] as const;

export const HOST_AGGS = {
  CPU: 'cpu',
  IOWait: 'iowait',
  Steal: 'steal',
  RAM: 'ram',
  Swap: 'swap',
  Load1: 'load1',
  Load5: 'load5',
  Load15: 'load15',
  Disk: 'disk',
} as const satisfies Partial<Record<keyof HostWindow, string>>;

export const INSTANCE_AGGS = {
  CPU: 'cpu',
  CPUCore: 'cpu_core',
  CPUUser: 'cpu_user',
  CPUSystem: 'cpu_system',
  VcpuBusy: 'vcpu_busy',
  Steal: 'steal',
  MemoryRSS: 'memory_rss',
  MemorySwap: 'memory_swap',
  MemoryUtilization: 'memory_utilization',
} as const satisfies Partial<Record<keyof InstanceWindow, string>>;

export const INSTANCE_TOTALS = {
  NetIn: 'net_in',
  NetOut: 'net_out',
  NetInPackets: 'net_in_packets',
  NetOutPackets: 'net_out_packets',
  /** Added by migration 8 (null from agents that do not send them, and in minutes stored before). */
  NetInErrors: 'net_in_errors',
  NetOutErrors: 'net_out_errors',
  NetInDropped: 'net_in_dropped',
  NetOutDropped: 'net_out_dropped',
  DiskRead: 'disk_read',
  DiskWrite: 'disk_write',
  ThrottledPeriods: 'throttled_periods',
  ThrottledTimeNs: 'throttled_time_ns',
} as const satisfies Partial<Record<keyof InstanceWindow, string>>;

function aggCols(prefixes: readonly string[]): Col[] {
  const out: Col[] = [];
  for (const p of prefixes) for (const part of AGG_PARTS) out.push({ name: `${p}_${part}`, kind: part === 'count' ? 'int' : 'real' });
  return out;
}

export const HOST_MINUTE_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'minute', kind: 'int' },
  { name: 'seconds', kind: 'int' },
  { name: 'samples', kind: 'int' },
  { name: 'net_in', kind: 'real' },
  { name: 'net_out', kind: 'real' },
  ...aggCols(Object.values(HOST_AGGS)),
  /** How many records were merged into this one (added by migration 4; 1 = never merged). */
  { name: 'parts', kind: 'int' },
];
/** The host_minutes columns migration 1 created. */
export const HOST_MINUTE_COLS_V1: readonly Col[] = HOST_MINUTE_COLS.filter((c) => c.name !== 'parts');

export const INSTANCE_MINUTE_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'instance_id', kind: 'text' },
  { name: 'minute', kind: 'int' },
  { name: 'seconds', kind: 'int' },
  { name: 'samples', kind: 'int' },
  { name: 'missed', kind: 'int' },
  ...Object.values(INSTANCE_TOTALS).map((name): Col => ({ name, kind: 'real' })),
  ...aggCols(Object.values(INSTANCE_AGGS)),
  /** Seconds whose counters the record carries but no reading covered (added by migration 2). */
  { name: 'unsampled', kind: 'int' },
  /** How many records were merged into this one (added by migration 4; 1 = never merged). */
  { name: 'parts', kind: 'int' },
];
/** The columns migration 8 added to instance_minutes: the TAPs' error and drop counters. */
export const INSTANCE_MINUTE_COLS_V8 = ['net_in_errors', 'net_out_errors', 'net_in_dropped', 'net_out_dropped'] as const;
/** The instance_minutes columns migration 1 created (unsampled came with migration 2, parts with 4, the error counters with 8). */
export const INSTANCE_MINUTE_COLS_V1: readonly Col[] = INSTANCE_MINUTE_COLS.filter(
  (c) => c.name !== 'unsampled' && c.name !== 'parts' && !(INSTANCE_MINUTE_COLS_V8 as readonly string[]).includes(c.name),
);

export const COUNTER_COLS = {
  CPUSeconds: 'cpu_seconds',
  MemoryRSSBytes: 'memory_rss_bytes',
  MemoryVMSBytes: 'memory_vms_bytes',
  MemorySwapBytes: 'memory_swap_bytes',
  MemoryPeakRSSBytes: 'memory_peak_rss_bytes',
  NetworkRxBytes: 'network_rx_bytes',
  NetworkTxBytes: 'network_tx_bytes',
  DiskReadBytes: 'disk_read_bytes',
  DiskWriteBytes: 'disk_write_bytes',
} as const;

/** Identity and allocation: replaced by the newest batch. */
export const INSTANCE_FACT_COLS: readonly Col[] = [
  { name: 'name', kind: 'text' },
  { name: 'hypervisor', kind: 'text' },
  { name: 'pid', kind: 'int' },
  { name: 'start_time', kind: 'int' },
  { name: 'allocated_vcpus', kind: 'int' },
  { name: 'allocated_memory_bytes', kind: 'int' },
  { name: 'tap_devices', kind: 'text' },
  { name: 'running', kind: 'int' },
];
/** Latest counters: replaced only by a newer batch that carried counters. */
export const INSTANCE_COUNTER_COLS: readonly Col[] = [
  { name: 'has_counters', kind: 'int' },
  ...Object.values(COUNTER_COLS).map((name): Col => ({ name, kind: 'real' })),
];
export const INSTANCE_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'instance_id', kind: 'text' },
  ...INSTANCE_FACT_COLS,
  ...INSTANCE_COUNTER_COLS,
  { name: 'first_seen', kind: 'int' },
  { name: 'last_seen', kind: 'int' },
  { name: 'first_minute', kind: 'int' },
];

export const AGENT_FACT_COLS: readonly Col[] = [
  { name: 'hostname', kind: 'text' },
  { name: 'agent_version', kind: 'text' },
  { name: 'operating_system', kind: 'text' },
  { name: 'kernel', kind: 'text' },
  { name: 'cpu_model', kind: 'text' },
  { name: 'cpu_speed', kind: 'real' },
  { name: 'cpu_cores', kind: 'int' },
  { name: 'ram', kind: 'int' },
  { name: 'swap', kind: 'int' },
  { name: 'system_uptime', kind: 'real' },
  { name: 'disks', kind: 'text' },
  { name: 'network_interfaces', kind: 'text' },
];
export const AGENT_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  ...AGENT_FACT_COLS,
  { name: 'first_seen', kind: 'int' },
  { name: 'last_seen', kind: 'int' },
  { name: 'last_created_at', kind: 'int' },
];

export type Value = string | number | null;


// Key lists computed once: these builders run for every record of every batch.
const HOST_AGG_KEYS = Object.keys(HOST_AGGS) as (keyof typeof HOST_AGGS)[];
const INSTANCE_TOTAL_KEYS = Object.keys(INSTANCE_TOTALS) as (keyof typeof INSTANCE_TOTALS)[];
const INSTANCE_AGG_KEYS = Object.keys(INSTANCE_AGGS) as (keyof typeof INSTANCE_AGGS)[];
const COUNTER_KEYS = Object.keys(COUNTER_COLS) as (keyof typeof COUNTER_COLS)[];

function pushAgg(out: Value[], a: Agg | null): void {
  if (a) out.push(a.Avg, a.Min, a.Max, a.Sum, a.Count);
  else out.push(null, null, null, null, null);
}

export function hostMinuteValues(agentId: string, w: HostWindow): Value[] {
  const out: Value[] = [agentId, w.Minute, w.Seconds, w.Samples, w.NetIn, w.NetOut];
  for (const k of HOST_AGG_KEYS) pushAgg(out, w[k]);
  out.push(1);
  return out;
}

export function instanceMinuteValues(agentId: string, instanceId: string, w: InstanceWindow): Value[] {
  const out: Value[] = [agentId, instanceId, w.Minute, w.Seconds, w.Samples, w.Missed];
  for (const k of INSTANCE_TOTAL_KEYS) out.push(w[k] ?? null);
  for (const k of INSTANCE_AGG_KEYS) pushAgg(out, w[k]);
  out.push(w.Unsampled ?? 0, 1);
  return out;
}

/** `stats`: the windows of the record being stored (by default all of them), for first_minute. */
export function instanceValues(agentId: string, r: InstanceRecord, seenAt: number, stats: readonly InstanceWindow[] = r.Stats): Value[] {
  const c = r.Counters;
  let first: number | null = null;
  for (const s of stats) if (first === null || s.Minute < first) first = s.Minute;
  const out: Value[] = [agentId, r.InstanceID, r.InstanceName, r.Hypervisor, r.PID, r.StartTime, r.AllocatedVcpus, r.AllocatedMemoryBytes, JSON.stringify(r.TapDevices), r.Running ? 1 : 0, c ? 1 : 0];
  for (const k of COUNTER_KEYS) out.push(c ? c[k] : null);
  out.push(seenAt, seenAt, first);
  return out;
}

export function agentValues(p: Payload, receivedAt: number): Value[] {
  return [
    p.AgentID,
    p.Hostname,
    p.AgentVersion,
    p.OperatingSystem,
    p.Kernel,
    p.CPUModel,
    p.CPUSpeed,
    p.CPUCores,
    p.RAM,
    p.Swap,
    p.SystemUptime,
    JSON.stringify(p.Disks),
    JSON.stringify(p.NetworkInterfaces),
    receivedAt,
    receivedAt,
    p.CreatedAt,
  ];
}

export interface Dialect {
  least(a: string, b: string): string;
  greatest(a: string, b: string): string;
}

/**
 * Upsert tails. A batch replayed late from an agent's spool must not overwrite newer facts, so
 * facts follow the newest CreatedAt / last_seen while first/last times widen monotonically.
 */
export function agentUpsertTail(d: Dialect): string {
  const newer = 'excluded.last_created_at >= agents.last_created_at';
  const sets = AGENT_FACT_COLS.map((c) => `${c.name} = CASE WHEN ${newer} THEN excluded.${c.name} ELSE agents.${c.name} END`);
  sets.push(`first_seen = ${d.least('agents.first_seen', 'excluded.first_seen')}`);
  sets.push(`last_seen = ${d.greatest('agents.last_seen', 'excluded.last_seen')}`);
  sets.push(`last_created_at = ${d.greatest('agents.last_created_at', 'excluded.last_created_at')}`);
  return `ON CONFLICT (agent_id) DO UPDATE SET ${sets.join(', ')}`;
}

export function instanceUpsertTail(d: Dialect): string {
  const newer = 'excluded.last_seen >= instances.last_seen';
  const sets = INSTANCE_FACT_COLS.map((c) => `${c.name} = CASE WHEN ${newer} THEN excluded.${c.name} ELSE instances.${c.name} END`);
  for (const c of INSTANCE_COUNTER_COLS) {
    sets.push(`${c.name} = CASE WHEN ${newer} AND excluded.has_counters = 1 THEN excluded.${c.name} ELSE instances.${c.name} END`);
  }
  sets.push(`first_seen = ${d.least('instances.first_seen', 'excluded.first_seen')}`);
  sets.push(`last_seen = ${d.greatest('instances.last_seen', 'excluded.last_seen')}`);
  sets.push(
    `first_minute = ${d.least('COALESCE(instances.first_minute, excluded.first_minute)', 'COALESCE(excluded.first_minute, instances.first_minute)')}`,
  );
  return `ON CONFLICT (agent_id, instance_id) DO UPDATE SET ${sets.join(', ')}`;
}


export const MINUTE_SECONDS = 60;
export const DAY_SECONDS = 86400;

/**
 * Tiers: 300 s and 3600 s rows beside the minutes, each holding for every metric what all its
 * statistics need (Minimum, Maximum, Sum, SampleCount) plus a bit per minute of the bucket (bit k
 * = minute bucket + 60k; `mask_lo` bits 0..29, `mask_hi` bits 30..59): for hosts, the minutes that
 * have a host record; for instances, the minutes in which the VM was sampled. StatusCheckFailed
 * for any range is counted from the two masks.
 *
 * The 86400 s tier (issue 13: 455 days at period 86400 read 455 rows, not 10,920 hourly ones)
 * has the same columns, but its masks stay 0: a day has 1,440 minutes, more than two integers
 * hold, so status checks are never read from it (planPieces gives it to statistics only).
 */
export const TIER_SECONDS = [300, 3600, 86400] as const;
export type TierSeconds = (typeof TIER_SECONDS)[number];
export const STAT_PARTS = ['min', 'max', 'sum', 'count'] as const;

/** Gauges (statistics over samples) and totals (one value per minute) kept in the tiers. */
export const HOST_TIER_GAUGES = { CPU: 'cpu', RAM: 'ram', Disk: 'disk', Load1: 'load1', IOWait: 'iowait' } as const satisfies Partial<Record<keyof HostWindow, string>>;
export const HOST_TIER_TOTALS = { NetIn: 'net_in', NetOut: 'net_out' } as const satisfies Partial<Record<keyof HostWindow, string>>;
export const INSTANCE_TIER_GAUGES = { CPU: 'cpu', MemoryUtilization: 'memory_utilization', Steal: 'steal' } as const satisfies Partial<Record<keyof InstanceWindow, string>>;
const pick = <T extends object, K extends keyof T>(o: T, keys: readonly K[]): Pick<T, K> => Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
/** The instance totals kept in the tiers: all but the cgroup's throttling (minutes only); packets, errors and drops since migration 8. */
export const INSTANCE_TIER_TOTALS = pick(INSTANCE_TOTALS, ['NetIn', 'NetOut', 'DiskRead', 'DiskWrite', 'NetInPackets', 'NetOutPackets', 'NetInErrors', 'NetOutErrors', 'NetInDropped', 'NetOutDropped']);
/** The instance tier statistics migration 8 added (the tables of migrations 4 and 6 have the others). */
export const INSTANCE_TIER_STATS_V8 = ['net_in_packets', 'net_out_packets', 'net_in_errors', 'net_out_errors', 'net_in_dropped', 'net_out_dropped'] as const;

function statCols(prefixes: readonly string[]): Col[] {
  return prefixes.flatMap((p) => STAT_PARTS.map((part): Col => ({ name: `${p}_${part}`, kind: part === 'count' ? 'int' : 'real' })));
}

export const HOST_TIER_KEY = ['agent_id', 'bucket'] as const;
export const INSTANCE_TIER_KEY = ['agent_id', 'instance_id', 'bucket'] as const;
export const HOST_TIER_STATS: readonly string[] = [...Object.values(HOST_TIER_GAUGES), ...Object.values(HOST_TIER_TOTALS)];
export const INSTANCE_TIER_STATS: readonly string[] = [...Object.values(INSTANCE_TIER_GAUGES), ...Object.values(INSTANCE_TIER_TOTALS)];
export const HOST_TIER_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'bucket', kind: 'int' },
  { name: 'mask_lo', kind: 'int' },
  { name: 'mask_hi', kind: 'int' },
  ...statCols(HOST_TIER_STATS),
];
export const INSTANCE_TIER_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'instance_id', kind: 'text' },
  { name: 'bucket', kind: 'int' },
  { name: 'mask_lo', kind: 'int' },
  { name: 'mask_hi', kind: 'int' },
  ...statCols(INSTANCE_TIER_STATS),
];
/** The columns of an instance tier table as migrations 4 and 6 created it; migration 8 adds these. */
export const INSTANCE_TIER_COLS_V8: readonly Col[] = statCols(INSTANCE_TIER_STATS_V8);
export const INSTANCE_TIER_COLS_V4: readonly Col[] = INSTANCE_TIER_COLS.filter((c) => !INSTANCE_TIER_COLS_V8.some((x) => x.name === c.name));
export const tierTable = (kind: 'host' | 'instance', tier: TierSeconds): string => `${kind}_${tier === 300 ? '5m' : tier === 3600 ? '1h' : '1d'}`;
