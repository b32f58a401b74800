// A stand-in for the server's ingest endpoint: node:http on 127.0.0.1, answering as a test tells
// it (status, Retry-After, a reply slower than the client's timeout, a connection reset, 413 above
// a body size), deduplicating by BatchID the way the server will, and recording every delivery,
// duplicates included, in arrival order.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { repoRoot } from '../../src/paths.js';
import type { ShipConfig } from '../../src/ship/config.js';
import type { ShipLogger } from '../../src/ship/log.js';
import type { Payload } from '../../src/ship/payload.js';

export interface Reply {
  status?: number;
  retryAfter?: string;
  /** Answer only after this long; the batch is stored first, as a slow server would. */
  delayMs?: number;
  /** Destroy the connection without answering (nothing stored). */
  reset?: boolean;
  body?: string;
}

export interface ReceivedRequest {
  n: number;
  at: number;
  batchId: string | undefined;
  bytes: number;
  headers: IncomingHttpHeaders;
  answered: number | 'reset';
}

export interface Delivery {
  batchId: string;
  duplicate: boolean;
  at: number;
  payload: Payload;
}

export type Responder = (req: { n: number; batchId: string | undefined; bytes: number }) => Reply | undefined;

export class Receiver {
  readonly requests: ReceivedRequest[] = [];
  /** Every stored delivery, duplicates included, in arrival order. */
  readonly deliveries: Delivery[] = [];
  /** First delivery of each BatchID. */
  readonly unique = new Map<string, Payload>();
  /** Problems with what the client sent (headers, encoding); tests assert it stays empty. */
  readonly problems: string[] = [];
  /** 413 for bodies larger than this many (compressed) bytes. */
  maxBodyBytes = Infinity;
  responder: Responder | undefined;
  private scripted: Reply[] = [];
  private readonly sockets = new Set<Socket>();
  private server: Server;
  private listening = false;
  port = 0;

  private constructor(private readonly token: string | undefined) {
    this.server = this.makeServer();
  }

  static async start(opts: { token?: string; port?: number } = {}): Promise<Receiver> {
    const r = new Receiver(opts.token);
    r.port = opts.port ?? 0;
    await r.up();
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Deliveries the dedup dropped. */
  get duplicates(): number {
    return this.deliveries.filter((d) => d.duplicate).length;
  }

  /** Unique BatchIDs in order of first arrival. */
  get order(): string[] {
    return [...this.unique.keys()];
  }

  /** Replies for the next requests, one each, before the responder is asked. */
  script(...replies: Reply[]): void {
    this.scripted.push(...replies);
  }

  private makeServer(): Server {
    const server = createServer((req, res) => {
      const n = this.requests.length + 1;
      const batchHeader = req.headers['idempotency-key'];
      const batchId = typeof batchHeader === 'string' ? batchHeader : undefined;
      const reqRecord: ReceivedRequest = { n, at: Date.now(), batchId, bytes: 0, headers: req.headers, answered: 0 };
      this.requests.push(reqRecord);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        reqRecord.bytes = body.length;
        const reply: Reply = this.scripted.shift() ?? this.responder?.({ n, batchId, bytes: body.length }) ?? {};
        if (reply.reset) {
          reqRecord.answered = 'reset';
          req.socket.destroy();
          return;
        }
        let status = reply.status ?? 200;
        if (body.length > this.maxBodyBytes && reply.status === undefined) status = 413;
        if (status >= 200 && status < 300) {
          const problem = this.store(req.headers, body, batchId);
          if (problem) {
            this.problems.push(`request ${n}: ${problem}`);
            status = 400;
          }
        }
        const answer = () => {
          reqRecord.answered = status;
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
          res.writeHead(status, headers);
          res.end(reply.body ?? JSON.stringify({ status }));
        };
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      });
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  private store(headers: IncomingHttpHeaders, body: Buffer, batchId: string | undefined): string | undefined {
    if (headers['content-encoding'] !== 'gzip') return 'Content-Encoding is not gzip';
    if (headers['content-type'] !== 'application/json') return 'Content-Type is not application/json';
    if (!/^vmpulse-agent\/\S+$/.test(String(headers['user-agent']))) return `bad User-Agent ${headers['user-agent']}`;
    if (this.token !== undefined && headers.authorization !== `Bearer ${this.token}`) return 'bad Authorization';
    let payload: Payload;
    try {
      payload = JSON.parse(gunzipSync(body).toString('utf8')) as Payload;
    } catch {
      return 'body is not gzipped JSON';
    }
    if (payload.BatchID !== batchId) return `Idempotency-Key ${batchId} differs from BatchID ${payload.BatchID}`;
    const duplicate = this.unique.has(payload.BatchID);
    if (!duplicate) this.unique.set(payload.BatchID, payload);
    this.deliveries.push({ batchId: payload.BatchID, duplicate, at: Date.now(), payload });
    return undefined;
  }

  /** Stops listening and cuts open connections: clients see refused connections. */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.server = this.makeServer();
  }

  /** Listens again, on the same port once one was assigned. */
  async up(): Promise<void> {
    if (this.listening) return;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as { port: number }).port;
    this.listening = true;
  }

  close(): Promise<void> {
    return this.down();
  }
}

// Duplicates before dedup and losses, per test, for the closing note.
const ledger: { test: string; duplicates: number; losses: number; delivered: number }[] = [];

/**
 * Records how a test went: `expected` are the BatchIDs that must have arrived (losses are those
 * that did not). Prints the line and the running totals; returns the losses.
 */
export function recordLedger(test: string, receivers: Receiver[], expected: Iterable<string>): { duplicates: number; losses: number } {
  const seen = new Set<string>();
  let duplicates = 0;
  for (const r of receivers) {
    for (const d of r.deliveries) {
      if (d.duplicate || seen.has(d.batchId)) duplicates++;
      seen.add(d.batchId);
    }
  }
  let losses = 0;
  let delivered = 0;
  for (const id of expected) {
    if (seen.has(id)) delivered++;
    else losses++;
  }
  ledger.push({ test, duplicates, losses, delivered });
  const total = ledger.reduce((a, l) => ({ d: a.d + l.duplicates, l: a.l + l.losses, n: a.n + l.delivered }), { d: 0, l: 0, n: 0 });
  process.stdout.write(
    `\n  ship ledger: ${test}: delivered ${delivered}, duplicates before dedup ${duplicates}, losses ${losses}` +
      ` (running total: delivered ${total.n}, duplicates ${total.d}, losses ${total.l})\n`,
  );
  return { duplicates, losses };
}

// Shared pieces of the shipping tests: temp spools, bounded waits, schema validation, a recording logger.

export function tempSpool(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `vmpulse-ship-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The suite's one bounded wait (helpers/procs.ts), kept importable from here. */
export { waitFor } from './procs.js';

let validator: ((v: unknown) => boolean) & { errors?: unknown } | undefined;

/** Validates against src/ship/payload.schema.json; returns the errors text or '' when valid. */
export function schemaErrors(value: unknown): string {
  if (!validator) {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'src/ship/payload.schema.json'), 'utf8'));
    validator = new Ajv2020({ allErrors: true, strict: false }).compile(schema);
  }
  return validator(value) ? '' : JSON.stringify(validator.errors);
}

export interface LogLine {
  level: string;
  msg: string;
  obj: object;
}

export function recordingLogger(): ShipLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg: string) => {
    lines.push({ level, msg, obj });
  };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Test-speed shipping configuration: short timeouts and backoff. */
export function testConfig(dir: string, endpoints: string[], over: Partial<ShipConfig> = {}): ShipConfig {
  return {
    endpoints,
    token: 'test-token-secret',
    agentId: 'test-agent',
    spoolDir: dir,
    spoolMaxBytes: 64 * 1024 * 1024,
    spoolMaxAgeSeconds: 7 * 24 * 3600,
    segmentMaxBytes: 4 * 1024 * 1024,
    segmentMaxRecords: 4,
    timeoutMs: 1000,
    concurrency: 2,
    backoffInitialMs: 50,
    backoffMaxMs: 400,
    failbackMs: 500,
    flushMs: 2000,
    ...over,
  };
}
