// Payload <-> spooled bytes. A record body is the gzipped JSON exactly as it goes on the wire, so
// the shipper sends it without re-encoding. Version, BatchID, CreatedAt and the host Stats are
// serialised first: reopening the spool then reads a record's metadata from a few KiB inflated
// off its head instead of inflating the whole batch.
import { constants, gunzip, gunzipSync, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { isBatchId } from './batch-id.js';
import type { Payload } from './payload.js';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** What the spool indexes per record, so it never needs the body until it is sent. */
export interface RecordMeta {
  batchId: string;
  /** Unix seconds of the first window in the batch, when known. */
  minute?: number | undefined;
  /** Payload CreatedAt (unix seconds): what the age bound is measured against. */
  createdAt: number;
}

export function payloadMeta(p: Payload): RecordMeta {
  const minute = p.Stats[0]?.Minute ?? p.Instances[0]?.Stats[0]?.Minute;
  return { batchId: p.BatchID, minute, createdAt: p.CreatedAt };
}

export function serialise(p: Payload): string {
  if (!isBatchId(p.BatchID)) throw new Error(`payload has no valid BatchID: ${JSON.stringify(p.BatchID)}`);
  const { Version, BatchID, AgentID, CreatedAt, Stats, ...rest } = p;
  return JSON.stringify({ Version, BatchID, AgentID, CreatedAt, Stats, ...rest });
}

export async function encodePayload(p: Payload): Promise<{ gz: Buffer; meta: RecordMeta }> {
  return { gz: await gzipAsync(serialise(p)), meta: payloadMeta(p) };
}

export async function decodePayload(gz: Buffer): Promise<Payload> {
  return JSON.parse((await gunzipAsync(gz)).toString('utf8')) as Payload;
}

const HEAD_BYTES = 4096;

/**
 * Metadata from the head of a gzipped record. Falls back to inflating the whole record when the
 * head does not hold the fields (a record written by something else). Undefined when not a batch.
 */
export function peekMeta(gz: Buffer): RecordMeta | undefined {
  const grab = (text: string): RecordMeta | undefined => {
    const id = /"BatchID":"([^"]+)"/.exec(text)?.[1];
    const created = /"CreatedAt":(\d+)/.exec(text)?.[1];
    if (!id || !isBatchId(id) || created === undefined) return undefined;
    const minute = /"Minute":(\d+)/.exec(text)?.[1];
    return { batchId: id, createdAt: Number(created), minute: minute === undefined ? undefined : Number(minute) };
  };
  try {
    const head = gunzipSync(gz.subarray(0, HEAD_BYTES), { finishFlush: constants.Z_SYNC_FLUSH }).toString('utf8');
    const m = grab(head);
    if (m) return m;
    if (gz.length <= HEAD_BYTES) return undefined;
    return grab(gunzipSync(gz).toString('utf8'));
  } catch {
    return undefined;
  }
}
