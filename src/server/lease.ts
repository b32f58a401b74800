// Exactly one holder among the server processes sharing a database, for the work that must run
// once (alarm evaluation, notification delivery, retention) while ingest and queries run on every
// replica.
//
// PostgreSQL: a session-level advisory lock on a connection of its own. The lock lives exactly as
// long as that session, so when the holder dies (kill -9, a crash, a lost host) PostgreSQL drops
// it as soon as the session ends and the next replica to ask gets it; replicas ask at every tick,
// so the work moves within one tick. The holder checks its session at every tick too (a query on
// the same connection) and stops working the moment the session is gone, before anyone else can
// have taken the lock. When PostgreSQL cannot see the holder's death (the host vanished without
// a FIN), the session lasts until TCP keepalive gives up; keepalive is on for this connection.
//
// SQLite: one server process per database file (the README says so), so the lease is always held.
import pg from 'pg';
import { isPostgresUrl } from '../config/db-url.js';

/** pg_try_advisory_lock key: "vmpw" (the store uses "vmpu"/"vmpv" for migrations and partitions). */
export const EVALUATOR_LOCK_KEY = 0x766d7077;

export interface Lease {
  /** True when this process holds the lease now (acquiring it when it is free). Never throws. */
  acquire(): Promise<boolean>;
  /** Whether the last acquire() found the lease held by this process. */
  readonly holding: boolean;
  /** Gives the lease up (closes its session). */
  release(): Promise<void>;
}

export interface LeaseLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

class LocalLease implements Lease {
  holding = true;
  async acquire(): Promise<boolean> {
    return true;
  }
  async release(): Promise<void> {
    this.holding = false;
  }
}

class PgAdvisoryLease implements Lease {
  holding = false;
  private client: pg.Client | null = null;
  private busy: Promise<boolean> | null = null;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly key: number,
    private readonly name: string,
    private readonly connectTimeoutMs: number,
    private readonly log?: LeaseLog,
  ) {}

  acquire(): Promise<boolean> {
    this.busy ??= this.attempt().finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private lost(why: string): void {
    if (this.holding) this.log?.warn({ lease: this.name, why }, 'lease lost: this replica stops the work that runs once');
    this.holding = false;
    const c = this.client;
    this.client = null;
    c?.end().catch(() => {});
  }

  private async attempt(): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (!this.client) {
        const c = new pg.Client({ connectionString: this.url, keepAlive: true, connectionTimeoutMillis: this.connectTimeoutMs });
        // The session is the lease: an error or end on it means the lock is gone.
        c.on('error', (e) => this.lost(e.message));
        c.on('end', () => {
          if (this.client === c) this.lost('session ended');
        });
        await c.connect();
        this.client = c;
      }
      const c = this.client;
      if (this.holding) {
        // Still our session, so still our lock.
        await c.query({ text: 'SELECT 1', query_timeout: this.connectTimeoutMs } as pg.QueryConfig);
        return this.client === c && this.holding;
      }
      const r = await c.query({ text: 'SELECT pg_try_advisory_lock($1::bigint) AS ok', values: [this.key], query_timeout: this.connectTimeoutMs } as pg.QueryConfig);
      this.holding = this.client === c && r.rows[0]?.ok === true;
      if (this.holding) this.log?.info({ lease: this.name }, 'lease acquired: this replica runs the work that runs once');
      return this.holding;
    } catch (e) {
      this.lost((e as Error).message);
      return false;
    }
  }

  async release(): Promise<void> {
    this.closed = true;
    await this.busy?.catch(() => false);
    const c = this.client;
    this.client = null;
    this.holding = false;
    // Ending the session releases the advisory lock.
    await c?.end().catch(() => {});
  }
}

export function openLease(db: string, opts: { name?: string; key?: number; connectTimeoutMs?: number; log?: LeaseLog } = {}): Lease {
  if (isPostgresUrl(db)) return new PgAdvisoryLease(db, opts.key ?? EVALUATOR_LOCK_KEY, opts.name ?? 'evaluator', opts.connectTimeoutMs ?? 5000, opts.log);
  return new LocalLease();
}
