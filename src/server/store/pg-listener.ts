// A LISTEN session of its own on PostgreSQL. Notifications reach only a session that is listening
// when they are sent, so whoever relies on them must know, at every moment, whether one could
// have been missed: `listening(false)` is called the moment the session fails (an error, its end,
// a heartbeat query that does not answer in time), `listening(true)` only once LISTEN has
// returned on a new session. A heartbeat also notices a session that died without a word
// (keepalive is on as well) and reconnects.
import pg from 'pg';

export interface ListenerLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
}

export interface ListenerHandlers {
  notify(payload: string): void;
  listening(on: boolean): void;
}

export interface ListenerOptions {
  heartbeatMs: number;
  timeoutMs: number;
  applicationName: string;
  log?: ListenerLog;
}

export class PgListener {
  private client: pg.Client | null = null;
  private live = false;
  private busy: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly channel: string,
    private readonly on: ListenerHandlers,
    private readonly opts: ListenerOptions,
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
  }

  /** The first attempt; later ones come with the heartbeat. Never throws. */
  async start(): Promise<void> {
    this.timer = setInterval(() => void this.tick(), this.opts.heartbeatMs);
    this.timer.unref();
    await this.tick();
  }

  private tick(): Promise<void> {
    this.busy ??= this.beat().finally(() => {
      this.busy = null;
    });
    return this.busy;
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    const c = this.client;
    if (!c) return this.connect();
    try {
      await c.query({ text: 'SELECT 1', query_timeout: this.opts.timeoutMs } as pg.QueryConfig);
    } catch (e) {
      void this.lost(c, (e as Error).message);
    }
  }

  private async connect(): Promise<void> {
    const c = new pg.Client({
      connectionString: this.url,
      keepAlive: true,
      connectionTimeoutMillis: this.opts.timeoutMs,
      application_name: this.opts.applicationName,
    });
    this.client = c;
    c.on('error', (e) => void this.lost(c, e.message));
    c.on('end', () => void this.lost(c, 'session ended'));
    c.on('notification', (n) => {
      if (this.client === c && n.channel === this.channel) this.on.notify(n.payload ?? '');
    });
    try {
      await c.connect();
      await c.query({ text: `LISTEN ${this.channel}`, query_timeout: this.opts.timeoutMs } as pg.QueryConfig);
    } catch (e) {
      void this.lost(c, (e as Error).message);
      return;
    }
    if (this.client !== c || this.closed) return;
    this.live = true;
    this.on.listening(true);
    this.opts.log?.info({ channel: this.channel }, 'listening for changes');
  }

  private lost(c: pg.Client, why: string): Promise<void> {
    if (this.client !== c) return Promise.resolve();
    this.client = null;
    if (this.live) {
      this.live = false;
      this.on.listening(false);
      if (!this.closed) this.opts.log?.warn({ channel: this.channel, why }, 'stopped listening for changes; retrying at the next heartbeat');
    }
    return c.end().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.busy?.catch(() => {});
    const c = this.client;
    // Bounded: end() waits for the server's goodbye, which a dead peer never sends.
    if (c) await Promise.race([this.lost(c, 'closed'), new Promise((r) => setTimeout(r, this.opts.timeoutMs).unref())]);
  }
}
