// Tier rollups, off the ingest path. Ingest stores minutes and marks each (agent, 300 s bucket)
// it wrote into as pending (rollup_pending, tier 300). A rollup takes the pending buckets that are
// closed, rebuilds them set-based (tiers.ts: rollupSql), and marks the coarser bucket pending in
// turn: 300 s rows make their hour pending, hours their day. Readers never wait for it: statRows
// and maskRows read a pending bucket from finer data (sql-store.ts), and the alarms' fleet scan
// rolls up what it is about to read (alerts/bulk-source.ts). Per VM-minute this is a fifth of a
// 300 s row, a sixtieth of an hour row and a 1,440th of a day row, instead of three upserts in every
// batch's transaction.
//
// Concurrency (PostgreSQL, several servers on one database): ingest marks with an upsert, which
// takes the pending row's lock until its transaction commits. A rollup claims rows by deleting
// them, and reads the finer rows in later statements of the same transaction (READ COMMITTED: each
// statement sees what committed before it began). So a minute is either visible to the rollup that
// claimed its bucket (the claim waited for the minute's transaction) or its bucket is pending again
// (its mark was inserted after the claim, or waited for the claim to commit). Rollups of several
// servers take turns under an advisory lock.
import { LOCK_ROLLUP } from './postgres.js';
import type { Col } from './schema.js';
import { TIER_SECONDS, type TierSeconds } from './schema.js';
import type { Exec, SqlDb, Value } from './sql.js';
import { rollupSql } from './tiers.js';

export const PENDING_COLS: readonly Col[] = [
  { name: 'agent_id', kind: 'text' },
  { name: 'bucket', kind: 'int' },
  { name: 'tier', kind: 'int' },
  { name: 'marked_at', kind: 'int' },
];
export const PENDING_TAIL = 'ON CONFLICT (agent_id, bucket, tier) DO UPDATE SET marked_at = excluded.marked_at';

/** Agent-buckets per transaction: a fleet-wide backlog is rolled up in short transactions that ingest runs between. */
const CHUNK = 64;
/** PostgreSQL: a rollup that deleted at least this many pending rows vacuums the table. */
const VACUUM_AFTER = 5000;

export interface RollupResult {
  /** Agent-buckets rebuilt, per tier. */
  buckets: Record<TierSeconds, number>;
}

export interface RollupBacklog {
  tier: TierSeconds;
  buckets: number;
  /** Unix seconds at which the earliest pending bucket ends (null: nothing pending). */
  oldestEnd: number | null;
}

/** Pending agent-buckets per tier, every tier listed. */
export async function rollupBacklog(db: SqlDb): Promise<RollupBacklog[]> {
  const rows = await db.all('SELECT tier, COUNT(*) AS n, MIN(bucket) AS oldest FROM rollup_pending GROUP BY tier');
  return TIER_SECONDS.map((tier) => {
    const r = rows.find((x) => Number(x.tier) === tier);
    return { tier, buckets: r ? Number(r.n) : 0, oldestEnd: r ? Number(r.oldest) + tier : null };
  });
}

/** The pending rows (tier 300) of one batch's kept minutes, ascending (a fixed lock order). */
export function pendingRows(agentId: string, minutes: Iterable<number>, markedAt: number): Value[][] {
  const buckets = new Set<number>();
  for (const m of minutes) buckets.add(Math.floor(m / 300) * 300);
  return [...buckets].sort((a, b) => a - b).map((b) => [agentId, b, 300, markedAt]);
}

/**
 * Rolls up every pending bucket that ends at or before `closedBy`, tier by tier (300 s, then the
 * hours those made pending, then the days). Buckets still open stay pending: rolled up now they
 * would be rebuilt again with each new minute.
 */
export async function rollup(db: SqlDb, closedBy: number, now: number): Promise<RollupResult> {
  const buckets: Record<TierSeconds, number> = { 300: 0, 3600: 0, 86400: 0 };
  for (const [i, tier] of TIER_SECONDS.entries()) {
    const next = TIER_SECONDS[i + 1];
    for (;;) {
      const n = await db.tx((e) => rollupChunk(db, e, tier, next, closedBy, now));
      buckets[tier] += n;
      if (n < CHUNK) break;
    }
  }
  // A large backlog just rolled up (after an outage, a restart, a migration) leaves as many dead
  // rows in rollup_pending, which every read's lookup of pending buckets would walk past until
  // autovacuum comes: 22,000 of them made that lookup take 2.8 ms instead of 0.05.
  if (db.dialect.kind === 'postgres' && buckets[300] + buckets[3600] + buckets[86400] >= VACUUM_AFTER) await db.exec('VACUUM rollup_pending');
  return { buckets };
}

async function rollupChunk(db: SqlDb, e: Exec, tier: TierSeconds, next: TierSeconds | undefined, closedBy: number, now: number): Promise<number> {
  const pg = db.dialect.kind === 'postgres';
  let work: string;
  let workParams: Value[];
  let claimed: { agent: string; bucket: number }[];
  if (pg) {
    await e.all('SELECT pg_advisory_xact_lock(?::bigint) AS l', [LOCK_ROLLUP]);
    const rows = await e.all(
      `DELETE FROM rollup_pending WHERE (agent_id, bucket, tier) IN (SELECT agent_id, bucket, tier FROM rollup_pending WHERE tier = ? AND bucket <= ? ORDER BY bucket, agent_id LIMIT ${CHUNK}) RETURNING agent_id, bucket`,
      [tier, closedBy - tier],
    );
    claimed = rows.map((r) => ({ agent: String(r.agent_id), bucket: Number(r.bucket) }));
    work = 'unnest(CAST(? AS text[]), CAST(? AS bigint[])) AS w(w_agent, w_bucket)';
    workParams = [claimed.map((c) => c.agent) as unknown as Value, claimed.map((c) => c.bucket) as unknown as Value];
  } else {
    // SQLite: one writer, so reading the rows and deleting them in one transaction is a claim.
    const rows = await e.all(`SELECT agent_id, bucket FROM rollup_pending WHERE tier = ? AND bucket <= ? ORDER BY bucket, agent_id LIMIT ${CHUNK}`, [tier, closedBy - tier]);
    claimed = rows.map((r) => ({ agent: String(r.agent_id), bucket: Number(r.bucket) }));
    // Nothing pending (the alarm pass's usual case): no work table to fill.
    if (claimed.length === 0) return 0;
    await e.exec('CREATE TEMP TABLE IF NOT EXISTS rollup_work (w_agent TEXT NOT NULL, w_bucket INTEGER NOT NULL, PRIMARY KEY (w_agent, w_bucket)) WITHOUT ROWID');
    await e.run('DELETE FROM temp.rollup_work');
    for (const c of claimed) {
      await e.run('DELETE FROM rollup_pending WHERE agent_id = ? AND bucket = ? AND tier = ?', [c.agent, c.bucket, tier]);
      await e.run('INSERT INTO temp.rollup_work (w_agent, w_bucket) VALUES (?, ?)', [c.agent, c.bucket]);
    }
    work = 'temp.rollup_work w';
    workParams = [];
  }
  if (claimed.length === 0) return 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const c of claimed) {
    lo = Math.min(lo, c.bucket);
    hi = Math.max(hi, c.bucket + tier);
  }
  // PostgreSQL cannot estimate how many rows the work list joins to, guesses one, and sorts them
  // for a GroupAggregate: on text keys that took longer than the rest of the statement (500 VMs ×
  // 5 minutes: 19 ms with the sort, 10 ms with a HashAggregate).
  if (pg) await e.exec('SET LOCAL enable_sort = off');
  for (const kind of ['host', 'instance'] as const) await e.run(rollupSql(kind, tier, work, db.dialect.kind), [...workParams, lo, hi]);
  if (next !== undefined) {
    const marks = new Map<string, Value[]>();
    for (const c of claimed) {
      const b = Math.floor(c.bucket / next) * next;
      marks.set(`${c.agent}\u0000${b}`, [c.agent, b, next, now]);
    }
    await db.insertRows(e, 'rollup_pending', PENDING_COLS, [...marks.values()], PENDING_TAIL);
  }
  return claimed.length;
}
