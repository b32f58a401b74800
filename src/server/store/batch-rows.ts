// One ingest batch as the rows the SQL store writes, computed from the payload alone (no database):
// the windows kept (inside the retention bounds, one record per minute) and every table's values
// in its column order. Pure, so the ingest decode workers (src/server/ingest) build them off the
// event loop and the store's transaction only executes statements.
import type { Payload } from '../../ship/payload.js';
import { DISK_MINUTE_COLS, diskMinuteRows } from './disk-minutes.js';
import { combineHostMinute, combineInstanceMinute } from '../../ship/window-merge.js';
import { pendingRows } from './rollup.js';
import { keptWindows } from './rows.js';
import { HOST_MINUTE_COLS, INSTANCE_COLS, INSTANCE_MINUTE_COLS, agentValues, hostMinuteValues, instanceMinuteValues, instanceValues, type Col } from './schema.js';
import type { Value } from './sql.js';
import type { IngestCounts, IngestOptions } from './store.js';

export interface BatchRows {
  batchId: string;
  agentId: string;
  createdAt: number;
  receivedAt: number;
  /** AGENT_COLS */
  agent: Value[];
  /** HOST_MINUTE_COLS */
  hostMinutes: Value[][];
  /** INSTANCE_COLS */
  instances: Value[][];
  /** INSTANCE_MINUTE_COLS */
  instanceMinutes: Value[][];
  /** DISK_MINUTE_COLS */
  diskMinutes: Value[][];
  /** PENDING_COLS: the 300 s buckets the kept minutes fall in, ascending (rollup.ts). */
  pending: Value[][];
  /** Every kept minute, host and instances (PostgreSQL makes sure their partitions exist). */
  minutes: number[];
  counts: IngestCounts;
}

/** The columns of BatchRows' bulk tables. */
export const BATCH_COLS: Readonly<Record<'hostMinutes' | 'instances' | 'instanceMinutes' | 'diskMinutes', readonly Col[]>> = {
  hostMinutes: HOST_MINUTE_COLS,
  instances: INSTANCE_COLS,
  instanceMinutes: INSTANCE_MINUTE_COLS,
  diskMinutes: DISK_MINUTE_COLS,
};

export function batchRows(p: Payload, opts: IngestOptions): BatchRows {
  const host = keptWindows(p.Stats, opts, combineHostMinute);
  const minutes: number[] = host.kept.map((w) => w.Minute);
  const instances: Value[][] = [];
  const instanceMinutes: Value[][] = [];
  const diskMinutes: Value[][] = [];
  let skippedMinutes = host.skipped;
  for (const rec of p.Instances) {
    const k = keptWindows(rec.Stats, opts, combineInstanceMinute);
    skippedMinutes += k.skipped;
    instances.push(instanceValues(p.AgentID, rec, p.CreatedAt, k.kept));
    for (const w of k.kept) {
      instanceMinutes.push(instanceMinuteValues(p.AgentID, rec.InstanceID, w));
      minutes.push(w.Minute);
    }
    for (const r of diskMinuteRows(p.AgentID, rec.InstanceID, k.kept)) diskMinutes.push(r);
  }
  return {
    batchId: p.BatchID,
    agentId: p.AgentID,
    createdAt: p.CreatedAt,
    receivedAt: opts.receivedAt,
    agent: agentValues(p, opts.receivedAt),
    hostMinutes: host.kept.map((w) => hostMinuteValues(p.AgentID, w)),
    instances,
    instanceMinutes,
    diskMinutes,
    pending: pendingRows(p.AgentID, minutes, opts.receivedAt),
    minutes,
    counts: { hostMinutes: host.kept.length, instanceMinutes: instanceMinutes.length, instances: p.Instances.length, skippedMinutes },
  };
}
