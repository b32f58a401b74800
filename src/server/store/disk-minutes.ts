// Per virtual disk, per instance and minute: the hypervisor's disk counters (InstanceWindow.Disks,
// from libvirt, Cloud Hypervisor or Firecracker) as the server keeps them. The smallest honest
// addition: one plain table of minutes, merged like every other counter (a minute written again
// adds, the BatchID check in the same transaction keeps a batch from adding twice), deleted with
// the other minutes by retention, read back per instance. No 300 s / 3600 s tiers and no
// VictoriaMetrics series: with VictoriaMetrics these rows stay in SQLite/PostgreSQL.
import type { InstanceWindow } from '../../ship/payload.js';
import type { DiskTotal } from '../../console/json-types.js';
import type { Col } from './schema.js';
import type { Dialect, Exec, SqlDb, Value } from './sql.js';
import { colDefs } from './sql.js';

export const DISK_MINUTES_TABLE = 'instance_disk_minutes';

export const DISK_MINUTE_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'instance_id', kind: 'text' },
  { name: 'minute', kind: 'int' },
  { name: 'device', kind: 'text' },
  { name: 'read_bytes', kind: 'int' },
  { name: 'write_bytes', kind: 'int' },
  { name: 'read_ops', kind: 'int' },
  { name: 'write_ops', kind: 'int' },
];

const COUNTERS = ['read_bytes', 'write_bytes', 'read_ops', 'write_ops'] as const;

export function diskMinutesDdl(d: Dialect): string {
  return `CREATE TABLE ${DISK_MINUTES_TABLE} (
  ${colDefs(d, DISK_MINUTE_COLS, DISK_MINUTE_COLS.map((c) => c.name))},
  PRIMARY KEY (agent_id, instance_id, minute, device)
)${d.kind === 'postgres' ? '' : ' WITHOUT ROWID'};
CREATE INDEX ${DISK_MINUTES_TABLE}_minute ON ${DISK_MINUTES_TABLE} (minute);`;
}

/** Counters add when a minute is written again (a window shorter than a minute, a restarted VM). */
export const DISK_MINUTE_MERGE_TAIL = `ON CONFLICT (agent_id, instance_id, minute, device) DO UPDATE SET ${COUNTERS.map((c) => `${c} = ${DISK_MINUTES_TABLE}.${c} + excluded.${c}`).join(', ')}`;

export function diskMinuteRows(agentId: string, instanceId: string, windows: readonly InstanceWindow[]): Value[][] {
  const out: Value[][] = [];
  for (const w of windows) for (const d of w.Disks ?? []) out.push([agentId, instanceId, w.Minute, d.Device, d.ReadBytes, d.WriteBytes, d.ReadOps, d.WriteOps]);
  return out;
}

/** Inside the ingest transaction, after the batch id was recorded as new. */
export async function insertDiskMinutes(db: SqlDb, e: Exec, rows: readonly Value[][]): Promise<number> {
  if (rows.length > 0) await db.insertRows(e, DISK_MINUTES_TABLE, DISK_MINUTE_COLS, rows, DISK_MINUTE_MERGE_TAIL);
  return rows.length;
}

/** One disk's counters in one minute (the server's API shape). */
export interface DiskMinuteRow {
  minute: number;
  device: string;
  read_bytes: number;
  write_bytes: number;
  read_ops: number;
  write_ops: number;
}

export async function readDiskMinutes(db: SqlDb, agentId: string, instanceId: string, from: number, to: number): Promise<DiskMinuteRow[]> {
  const rows = await db.all(
    `SELECT minute, device, ${COUNTERS.join(', ')} FROM ${DISK_MINUTES_TABLE} WHERE agent_id = ? AND instance_id = ? AND minute >= ? AND minute < ? ORDER BY minute, device`,
    [agentId, instanceId, from, to],
  );
  return rows.map((r) => ({
    minute: Number(r.minute),
    device: String(r.device),
    read_bytes: Number(r.read_bytes),
    write_bytes: Number(r.write_bytes),
    read_ops: Number(r.read_ops),
    write_ops: Number(r.write_ops),
  }));
}

/** The console's VM page: each disk's minutes added up, by device name. */
export function diskTotals(rows: readonly DiskMinuteRow[]): DiskTotal[] {
  const by = new Map<string, DiskTotal>();
  for (const r of rows) {
    let t = by.get(r.device);
    if (!t) by.set(r.device, (t = { device: r.device, read_bytes: 0, write_bytes: 0, read_ops: 0, write_ops: 0, minutes: 0 }));
    for (const c of COUNTERS) t[c] += r[c];
    t.minutes++;
  }
  return [...by.values()].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
}

/** Retention: minutes before `cutoff`, in bounded chunks (each its own short transaction). */
export async function retainDiskMinutes(db: SqlDb, cutoff: number, chunk: number): Promise<number> {
  const key = 'agent_id, instance_id, minute, device';
  const sql =
    db.dialect.kind === 'postgres'
      ? `DELETE FROM ${DISK_MINUTES_TABLE} WHERE ctid IN (SELECT ctid FROM ${DISK_MINUTES_TABLE} WHERE minute < ? LIMIT ${chunk})`
      : `DELETE FROM ${DISK_MINUTES_TABLE} WHERE (${key}) IN (SELECT ${key} FROM ${DISK_MINUTES_TABLE} WHERE minute < ? LIMIT ${chunk})`;
  let deleted = 0;
  for (;;) {
    const n = await db.tx((e) => e.run(sql, [cutoff]));
    deleted += n;
    if (n < chunk) return deleted;
    await new Promise((r) => setImmediate(r));
  }
}
