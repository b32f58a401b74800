// Verified credentials kept in memory, so that an authenticated request on PostgreSQL costs no
// round trip for its token (0.3 ms of a 2.1 ms metric-data call on this machine kind, more where
// the database is across a network).
//
// A cached credential must not outlive its revocation, on this server or any other sharing the
// database. So the cache is only used while this server LISTENs on the channel that a trigger on
// the tokens table notifies on every change (migration 10, by the CLI, the console, another
// replica, or hand-written SQL alike). Any notification, a lost or not yet established LISTEN
// session, and this process's own token writes empty it. A lookup whose answer left the database
// before such an event is not kept (the generation check), so a row read just before a revocation
// committed cannot be stored after the notification that removed it. The TTL bounds what a
// notification that never comes could cost (triggers skipped during a restore with
// session_replication_role = replica, say). SQLite stores never listen: its lookups cost
// microseconds, and the CLI writes the file from another process without telling anyone.
import { isPostgresUrl } from '../config/db-url.js';
import type { TokenRow } from './store/store.js';
import { PgListener, type ListenerLog } from './store/pg-listener.js';

/** The channel migration 10's trigger notifies on. */
export const TOKENS_CHANNEL = 'vmpulse_tokens';
const MAX_ENTRIES = 10_000;

export class TokenCache {
  private readonly rows = new Map<string, { row: TokenRow; until: number }>();
  private generation = 0;
  private live = false;
  /** Running totals for the server's metrics: answered from memory, from the database while listening, from the database while not. */
  readonly lookups = { hit: 0, miss: 0, uncached: 0 };

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly maxEntries = MAX_ENTRIES,
  ) {}

  /** True while changes to the tokens table are being heard (only then is anything cached). */
  get listening(): boolean {
    return this.live;
  }

  get size(): number {
    return this.rows.size;
  }

  setListening(on: boolean): void {
    this.live = on && this.ttlMs > 0;
    this.invalidate();
  }

  invalidate(): void {
    this.generation++;
    this.rows.clear();
  }

  /** The credential under `key`, from memory when it is there and fresh, else from `load`. Only live credentials are kept. */
  async get(key: string, load: () => Promise<TokenRow | null>): Promise<TokenRow | null> {
    if (!this.live) {
      this.lookups.uncached++;
      return load();
    }
    const e = this.rows.get(key);
    if (e && e.until > this.now()) {
      this.lookups.hit++;
      return e.row;
    }
    if (e) this.rows.delete(key);
    this.lookups.miss++;
    const generation = this.generation;
    const row = await load();
    if (row && row.revokedAt === null && this.live && generation === this.generation) {
      // Oldest first: Map keeps insertion order.
      if (this.rows.size >= this.maxEntries) this.rows.delete(this.rows.keys().next().value!);
      this.rows.set(key, { row: Object.freeze(row), until: this.now() + this.ttlMs });
    }
    return row;
  }
}

export interface TokenWatch {
  close(): Promise<void>;
}

/**
 * Listens for token changes on PostgreSQL and keeps `cache` live while it does. Resolves once the
 * first attempt to listen has succeeded or failed (a failure is retried at every heartbeat and
 * leaves the cache off meanwhile); null for SQLite.
 */
export async function watchTokens(db: string, cache: TokenCache, opts: { heartbeatMs?: number; timeoutMs?: number; log?: ListenerLog } = {}): Promise<TokenWatch | null> {
  if (!isPostgresUrl(db)) return null;
  const listener = new PgListener(db, TOKENS_CHANNEL, {
    notify: () => cache.invalidate(),
    listening: (on) => cache.setListening(on),
  }, { heartbeatMs: opts.heartbeatMs ?? 5000, timeoutMs: opts.timeoutMs ?? 5000, log: opts.log, applicationName: 'vmpulse-token-listener' });
  await listener.start();
  return listener;
}
