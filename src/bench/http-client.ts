// The server benches' HTTP client: node:http over keep-alive connections. It costs the process
// less per request than fetch() (undici), and in bench:server the measured process is the server.
//
// Run as a program (a child of bench:server), it is the ingest load: it reads gzipped batches from
// BENCH_BODIES (each a 4-byte big-endian length, then the body), says "ready", and on "go" posts
// them to BENCH_URL with BENCH_CONCURRENCY requests in flight, then sends the wall seconds taken.
// The client lives in its own process so the server's CPU and heap are the server's alone.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export class BenchClient {
  private readonly agent: http.Agent;
  constructor(
    private readonly base: string,
    private readonly secret: string,
    sockets = 4,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  }

  private request(method: string, path: string, headers: http.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; text: string }> {
    const u = new URL(path, this.base);
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, agent: this.agent, headers: { authorization: `Bearer ${this.secret}`, ...headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The answer's status and text, once its last byte arrived. */
  get(path: string): Promise<{ status: number; text: string }> {
    return this.request('GET', path, {});
  }

  async getJson(path: string): Promise<{ status: number; body: unknown }> {
    const r = await this.get(path);
    return { status: r.status, body: JSON.parse(r.text) };
  }

  async postBatch(body: Buffer, batchId?: string): Promise<void> {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length };
    if (batchId) headers['idempotency-key'] = batchId;
    const r = await this.request('POST', '/v1/ingest', headers, body);
    if (r.status !== 200) throw new Error(`ingest answered ${r.status}: ${r.text}`);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Length-prefixed bodies, the file format the child reads. */
export function packBodies(bodies: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const b of bodies) {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  }
  return Buffer.concat(parts);
}

function unpackBodies(all: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const n = all.readUInt32BE(at);
    out.push(all.subarray(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

async function child(): Promise<void> {
  const bodies = unpackBodies(readFileSync(process.env.BENCH_BODIES!));
  const client = new BenchClient(process.env.BENCH_URL!, process.env.BENCH_SECRET!, Number(process.env.BENCH_CONCURRENCY ?? 4));
  process.send!('ready');
  await new Promise((r) => process.once('message', r));
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(process.env.BENCH_CONCURRENCY ?? 4) }, async () => {
      while (next < bodies.length) await client.postBatch(bodies[next++]!);
    }),
  );
  process.send!(Number(process.hrtime.bigint() - t0) / 1e9);
  client.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  child().then(
    () => process.disconnect?.(),
    (e) => {
      process.stderr.write(`bench client failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
