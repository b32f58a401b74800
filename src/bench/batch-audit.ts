// What became of every batch the simulated agents spooled (sim-agents.ts writes one JSON line per
// batch): read straight from the database, not from anything the server or the agents say.
//
//   sent        batches durably spooled by the agents
//   stored      of those, batch ids the server recorded
//   duplicated  batch ids recorded more than once, plus host minutes of the agents beyond one per
//               window (a batch stored twice under another id would show there)
//   lost        sent and not stored
//   partial     stored batches whose minute lacks its host row or has not exactly `vms` VM rows
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';

export interface SentBatch {
  batchId: string;
  agentId: string;
  minute: number;
}

export interface Audit {
  sent: number;
  stored: number;
  duplicated: number;
  lost: number;
  partial: number;
}

export function readSent(idsFile: string): SentBatch[] {
  let text = '';
  try {
    text = readFileSync(idsFile, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as SentBatch);
}

type Rows = Record<string, unknown>[];

/** Runs fn with a query function; every query here has exactly one parameter, written `?`. */
async function withDb<T>(db: string, fn: (q: (sql: string, params: unknown[]) => Promise<Rows>) => Promise<T>): Promise<T> {
  if (/^postgres(ql)?:\/\//i.test(db)) {
    const c = new pg.Client({ connectionString: db });
    await c.connect();
    try {
      return await fn(async (sql, params) => (await c.query(sql.replace('?', '$1'), params)).rows);
    } finally {
      await c.end();
    }
  }
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return await fn(async (sql, params) => d.prepare(sql).all(...params) as Rows);
  } finally {
    d.close();
  }
}

/** Audits the batches of agents whose ids start with `prefix-` against database `db` (a path or a postgres:// URL). */
export async function auditBatches(db: string, sent: readonly SentBatch[], prefix: string, vms: number): Promise<Audit> {
  const like = `${prefix}-%`;
  return withDb(db, async (q) => {
    const batchRows = await q('SELECT batch_id, count(*) AS n FROM batches WHERE agent_id LIKE ? GROUP BY batch_id', [like]);
    const times = new Map(batchRows.map((r) => [String(r.batch_id), Number(r.n)]));
    const hostRows = await q('SELECT agent_id, minute, count(*) AS n FROM host_minutes WHERE agent_id LIKE ? GROUP BY agent_id, minute', [like]);
    const host = new Map(hostRows.map((r) => [`${String(r.agent_id)}/${Number(r.minute)}`, Number(r.n)]));
    const vmRows = await q('SELECT agent_id, minute, count(*) AS n FROM instance_minutes WHERE agent_id LIKE ? GROUP BY agent_id, minute', [like]);
    const vm = new Map(vmRows.map((r) => [`${String(r.agent_id)}/${Number(r.minute)}`, Number(r.n)]));

    let stored = 0;
    let duplicated = 0;
    let partial = 0;
    const windows = new Set<string>();
    for (const b of sent) {
      const n = times.get(b.batchId) ?? 0;
      const key = `${b.agentId}/${b.minute}`;
      windows.add(key);
      if (n === 0) continue;
      stored++;
      duplicated += n - 1;
      if (host.get(key) !== 1 || vm.get(key) !== vms) partial++;
    }
    // Host minutes not accounted for by one window each.
    for (const [key, n] of host) duplicated += windows.has(key) ? n - 1 : n;
    return { sent: sent.length, stored, duplicated, lost: sent.length - stored, partial };
  });
}
