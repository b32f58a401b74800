// What an ingest body becomes before the store sees it: gunzip within the size bound, parse and
// validate (validate.ts), one record per minute (minutes.ts), and the rows of every table
// (batch-rows.ts). Runs in the decode workers (decode-pool.ts) or, without them, on the event loop.
import type { Payload } from '../../ship/payload.js';
import type { BatchRows } from '../store/batch-rows.js';
import { batchRows } from '../store/batch-rows.js';
import type { IngestOptions } from '../store/store.js';
import { ApiError } from '../errors.js';
import { toMinuteRecords } from '../minutes.js';
import { decodeBody, parsePayload } from '../validate.js';
import { packBatch, type PackedBatch } from './packed-rows.js';

export interface DecodeTask {
  body: Uint8Array;
  /** The Content-Encoding header. */
  encoding: string | undefined;
  maxBodyBytes: number;
  opts: IngestOptions;
}

export interface Decoded<B> {
  windowSeconds: number | undefined;
  batch: B;
}

/** A refused body, as the worker hands it back (an ApiError's own fields do not survive a thread's structured clone). */
export interface DecodeRefusal {
  refused: { statusCode: number; code: string; message: string; extra: Record<string, unknown> };
}

/** The body as a payload with one record per minute. */
export async function decodePayload(t: Omit<DecodeTask, 'opts'>): Promise<Payload> {
  const raw = Buffer.isBuffer(t.body) ? t.body : Buffer.from(t.body.buffer, t.body.byteOffset, t.body.byteLength);
  return toMinuteRecords(parsePayload(await decodeBody(raw, t.encoding, t.maxBodyBytes)));
}

export async function decodeBatch(t: DecodeTask): Promise<Decoded<BatchRows>> {
  const p = await decodePayload(t);
  return { windowSeconds: p.WindowSeconds, batch: batchRows(p, t.opts) };
}

/** The worker's task: decodeBatch with its rows packed, or the refusal. */
export async function decodePacked(t: DecodeTask): Promise<Decoded<PackedBatch> | DecodeRefusal> {
  try {
    const d = await decodeBatch(t);
    return { windowSeconds: d.windowSeconds, batch: packBatch(d.batch) };
  } catch (e) {
    if (e instanceof ApiError) return { refused: { statusCode: e.statusCode, code: e.code, message: e.message, extra: e.extra } };
    throw e;
  }
}
