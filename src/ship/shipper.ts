// Moves spooled batches to the server. The spool is the buffer; p-queue is only the concurrency
// gate, and the shipper takes from the spool only as many records as it has free slots, oldest
// first, so a backlog never moves into memory.
//
// Ordering after an outage: once an attempt fails, the shipper narrows to the oldest pending
// batch alone (retrying it with backoff) and other batches give their slots back; the first
// success reopens every slot. The backlog therefore drains oldest first, at most `concurrency`
// batches apart, instead of whichever retry timer fires first.
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import got, { type Response } from 'got';
import PQueue from 'p-queue';
import { backoffDelay, parseRetryAfter, sleep } from './backoff.js';
import { decodePayload, encodePayload } from './codec.js';
import { silentLogger, type ShipLogger } from './log.js';
import { splitPayload } from './split.js';
import type { PendingRecord, Spool } from './spool.js';

export interface ShipperOptions {
  spool: Spool;
  /** Base URLs in failover order. */
  endpoints: string[];
  token?: string | undefined;
  userAgent: string;
  timeoutMs: number;
  concurrency: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  failbackMs: number;
  logger?: ShipLogger;
  random?: () => number;
}

export interface ShipperStats {
  /** Batches acknowledged with a 2xx. */
  shipped: number;
  /** Attempts that failed in a retryable way (network error, timeout, 408, 429, 5xx, ...). */
  failedAttempts: number;
  /** Attempts that were retries of a batch. */
  retried: number;
  deadLettered: number;
  /** 413 answers that split a batch in two. */
  split: number;
  failovers: number;
  inFlight: number;
  /** Index into the endpoint list currently used. */
  endpoint: number;
  lastError?: { at: number; endpoint: string; message: string } | undefined;
}

const PERMANENT = new Set([400, 401, 403, 422]);
const DEAD_LETTER_FILE = 'dead-letter.jsonl';
const EXCERPT_CHARS = 512;

type Attempt =
  | { kind: 'ok'; status: number }
  | { kind: 'permanent'; status: number; body: string }
  | { kind: 'too-large'; status: number }
  | { kind: 'retry'; status?: number; message: string; retryAfterMs?: number | undefined };

export class Shipper {
  private readonly o: Required<Omit<ShipperOptions, 'token' | 'logger' | 'random'>> & { token?: string | undefined };
  private readonly log: ShipLogger;
  private readonly random: () => number;
  private readonly queue: PQueue;
  private readonly inFlight = new Set<number>();
  private readonly abort = new AbortController();
  private current = 0;
  private nextProbeAt = 0;
  private readonly pausedUntil: number[];
  private healthy = true;
  private running = false;
  private waiters: (() => void)[] = [];
  private s: Omit<ShipperStats, 'inFlight' | 'endpoint'> = {
    shipped: 0,
    failedAttempts: 0,
    retried: 0,
    deadLettered: 0,
    split: 0,
    failovers: 0,
  };

  constructor(opts: ShipperOptions) {
    if (opts.endpoints.length === 0) throw new Error('the shipper needs at least one endpoint');
    const { logger, random, ...rest } = opts;
    this.o = rest;
    this.log = logger ?? silentLogger;
    this.random = random ?? Math.random;
    this.queue = new PQueue({ concurrency: opts.concurrency });
    this.pausedUntil = opts.endpoints.map(() => 0);
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  /** Something was appended to the spool. */
  wake(): void {
    this.pump();
  }

  private pump(): void {
    if (!this.running) return;
    // Unhealthy: only the head of the spool is tried, so the backlog drains in order.
    const slots = (this.healthy ? this.o.concurrency : 1) - this.inFlight.size;
    for (const rec of this.o.spool.pending(slots, this.inFlight)) {
      this.inFlight.add(rec.id);
      let failed = false;
      void this.queue
        .add(() => this.deliver(rec))
        .catch((err: unknown) => {
          failed = true;
          this.noteError('-', `delivery of ${rec.batchId} failed locally: ${String(err)}`);
        })
        .finally(() => {
          this.inFlight.delete(rec.id);
          this.notify();
          // A local failure (disk) must not become a hot loop: come back after the initial backoff.
          if (this.running) {
            const t = setTimeout(() => this.pump(), failed ? this.o.backoffInitialMs : 0);
            if (failed) t.unref();
          }
        });
    }
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private isHead(id: number): boolean {
    return this.o.spool.pending(1)[0]?.id === id;
  }

  private async deliver(rec: PendingRecord): Promise<void> {
    const body = await this.o.spool.read(rec.id);
    if (!body) return;
    for (let attempt = 0; this.running; attempt++) {
      if (!this.o.spool.has(rec.id)) return; // dropped by the spool bound meanwhile
      const idx = this.chooseEndpoint();
      if (idx < 0) {
        const wait = Math.min(...this.pausedUntil) - Date.now();
        if (!(await sleep(wait, this.abort.signal))) return;
        attempt--;
        continue;
      }
      if (attempt > 0) this.s.retried++;
      const probing = idx !== this.current;
      const r = await this.attempt(idx, rec, body);
      if (r.kind === 'retry' && !this.running) return; // cut by stop(): the batch stays spooled
      if (r.kind === 'ok') {
        if (idx !== this.current) {
          this.log.info({ endpoint: this.o.endpoints[idx] }, 'ship: endpoint answers again, using it');
          this.current = idx;
        }
        this.healthy = true;
        this.s.shipped++;
        await this.o.spool.ack(rec.id);
        return;
      }
      if (r.kind === 'permanent') {
        await this.deadLetter(rec, body, r.status, r.body);
        return;
      }
      if (r.kind === 'too-large') {
        await this.split(rec, body, idx);
        return;
      }
      this.s.failedAttempts++;
      this.noteError(this.o.endpoints[idx]!, r.message);
      if (r.retryAfterMs !== undefined) this.pausedUntil[idx] = Date.now() + r.retryAfterMs;
      if (probing) {
        // The first endpoint is still not answering: stay where we were, look again later.
        this.nextProbeAt = Date.now() + this.o.failbackMs;
        attempt--;
        continue;
      }
      this.failOver(idx);
      this.healthy = false;
      if (!this.isHead(rec.id)) return; // give the slot to the oldest batch
      const delay = Math.max(backoffDelay(attempt, { initialMs: this.o.backoffInitialMs, maxMs: this.o.backoffMaxMs }, this.random), 0);
      if (!(await sleep(delay, this.abort.signal))) return;
    }
  }

  /** The endpoint for the next attempt, or -1 when every endpoint is paused by Retry-After. */
  private chooseEndpoint(): number {
    const now = Date.now();
    const n = this.o.endpoints.length;
    if (this.current !== 0 && now >= this.nextProbeAt && this.pausedUntil[0]! <= now) {
      this.nextProbeAt = now + this.o.failbackMs;
      return 0;
    }
    for (let k = 0; k < n; k++) {
      const i = (this.current + k) % n;
      if (this.pausedUntil[i]! <= now) {
        if (i !== this.current) this.failOver(this.current, i);
        return i;
      }
    }
    return -1;
  }

  private failOver(from: number, to: number = (from + 1) % this.o.endpoints.length): void {
    if (from !== this.current || to === from) return; // another slot already moved on
    this.current = to;
    this.s.failovers++;
    if (to !== 0) this.nextProbeAt = Date.now() + this.o.failbackMs;
    this.log.warn({ from: this.o.endpoints[from], to: this.o.endpoints[to] }, 'ship: failing over');
  }

  private async attempt(idx: number, rec: PendingRecord, body: Buffer): Promise<Attempt> {
    const url = `${this.o.endpoints[idx]}/v1/ingest`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
      'idempotency-key': rec.batchId,
      'user-agent': this.o.userAgent,
    };
    if (this.o.token) headers.authorization = `Bearer ${this.o.token}`;
    let res: Response<string>;
    try {
      res = await got.post(url, {
        body,
        headers,
        timeout: { request: this.o.timeoutMs },
        retry: { limit: 0 },
        throwHttpErrors: false,
        followRedirect: false,
        signal: this.abort.signal,
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return { kind: 'retry', message: `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}` };
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { kind: 'ok', status };
    if (status === 413) return { kind: 'too-large', status };
    if (PERMANENT.has(status)) return { kind: 'permanent', status, body: String(res.body ?? '').slice(0, EXCERPT_CHARS) };
    // 408, 429, 5xx, and anything else unexpected (404 from a wrong path, 3xx from a proxy) is
    // retried: dropping a window on a misconfiguration would be worse than waiting for a fix.
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : undefined;
    return { kind: 'retry', status, message: `HTTP ${status}`, retryAfterMs };
  }

  private noteError(endpoint: string, message: string): void {
    this.s.lastError = { at: Date.now(), endpoint, message };
    this.log.warn({ endpoint, error: message }, 'ship: attempt failed');
  }

  private async deadLetter(rec: PendingRecord, body: Buffer, status: number, excerpt: string): Promise<void> {
    const line =
      JSON.stringify({
        batchId: rec.batchId,
        status,
        response: excerpt,
        time: new Date().toISOString(),
        body: body.toString('base64'),
      }) + '\n';
    const fh = await open(join(this.o.spool.dir, DEAD_LETTER_FILE), 'a', 0o600);
    try {
      await fh.appendFile(line);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.s.deadLettered++;
    this.log.error({ batchId: rec.batchId, status, response: excerpt.slice(0, 200) }, 'ship: server refused the batch for good, dead-lettered');
    await this.o.spool.ack(rec.id);
  }

  private async split(rec: PendingRecord, body: Buffer, idx: number): Promise<void> {
    const parts = splitPayload(await decodePayload(body));
    if (!parts) {
      await this.deadLetter(rec, body, 413, 'payload too large and cannot be split further');
      return;
    }
    // Children are durable before the parent goes: a crash in between resends the parent, which
    // splits again into the same child BatchIDs.
    for (const p of parts) {
      const { gz, meta } = await encodePayload(p);
      await this.o.spool.append(gz, meta);
    }
    this.s.split++;
    this.log.warn({ batchId: rec.batchId, endpoint: this.o.endpoints[idx], bytes: body.length }, 'ship: 413, batch split in two');
    await this.o.spool.ack(rec.id);
  }

  stats(): ShipperStats {
    return { ...this.s, inFlight: this.inFlight.size, endpoint: this.current };
  }

  /**
   * Delivers what is pending until the spool is empty or `deadlineMs` has passed; resolves with
   * the number of records still pending.
   */
  async flush(deadlineMs: number): Promise<number> {
    const end = Date.now() + deadlineMs;
    this.pump();
    while (this.o.spool.stats().records > 0 && Date.now() < end && this.running) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(100, Math.max(0, end - Date.now())));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.o.spool.stats().records;
  }

  /** Stops sending: sleeps and requests in flight are cut; their batches stay spooled. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.notify();
    await this.queue.onIdle();
  }
}
