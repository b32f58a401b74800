// The ingest decode workers: gunzip, JSON parse, validation and row building of each batch run on
// Piscina threads, so the event loop only executes the store's statements (and answers queries
// while a large batch is parsed). threads = 0 decodes on the event loop.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { esmWorker } from '../../worker-module.js';
import { ApiError } from '../errors.js';
import type { BatchRows } from '../store/batch-rows.js';
import type { Payload } from '../../ship/payload.js';
import { decodeBatch, decodePayload, type DecodeRefusal, type DecodeTask, type Decoded } from './decode.js';
import { unpackBatch, type PackedBatch } from './packed-rows.js';

function workerFile(): string {
  // dist/workers/ingest-decode.js when compiled, .ts under tsx.
  const ext = fileURLToPath(import.meta.url).endsWith('.ts') ? '.ts' : '.js';
  const file = fileURLToPath(new URL(`../../../workers/ingest-decode${ext}`, import.meta.url));
  if (!existsSync(file)) throw new Error(`ingest decode worker not found at ${file} (run npm run build)`);
  return file;
}

/** One thread per core beyond the event loop's, at least one, at most four (a batch is decoded in a few milliseconds). */
export function defaultIngestThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class DecodePool {
  private readonly piscina: Piscina | null;
  /** Called with the seconds of each decode, accepted or refused (metrics.ts). */
  onDecoded: ((seconds: number) => void) | null = null;

  constructor(readonly threads: number) {
    this.piscina = threads > 0 ? new Piscina({ ...esmWorker(workerFile()), minThreads: threads, maxThreads: threads, idleTimeout: 2 ** 31 - 1 }) : null;
  }

  /** The batch's rows, or the ApiError that refuses the body. */
  decode(t: DecodeTask): Promise<Decoded<BatchRows>> {
    return this.timed(async () => {
      if (!this.piscina) return decodeBatch(t);
      const r = (await this.piscina.run(t)) as Decoded<PackedBatch> | DecodeRefusal;
      if ('refused' in r) throw new ApiError(r.refused.statusCode, r.refused.code, r.refused.message, r.refused.extra);
      return { windowSeconds: r.windowSeconds, batch: unpackBatch(r.batch) };
    });
  }

  /** The batch's payload, one record per minute, decoded on the event loop (for stores that read payloads). */
  payload(t: Omit<DecodeTask, 'opts'>): Promise<Payload> {
    return this.timed(async () => decodePayload(t));
  }

  private async timed<T>(f: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      return await f();
    } finally {
      this.onDecoded?.(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }

  /** Bodies waiting for a thread. */
  queued(): number {
    return this.piscina?.queueSize ?? 0;
  }

  async close(): Promise<void> {
    await this.piscina?.destroy();
  }
}
