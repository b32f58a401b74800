// BatchIDs are ULIDs: time-ordered, so the server (and a human reading a dead-letter file) can
// tell roughly when a batch was made, and 26 characters that fit the schema's pattern. A monotonic
// factory keeps IDs made within one millisecond in creation order.
import { monotonicFactory } from 'ulid';

const next = monotonicFactory();

/** The schema's BatchID pattern: a ULID, optionally followed by `-N` split suffixes. */
export const BATCH_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}(-[0-9]{1,4})*$/;

/** A new BatchID; fix it when the batch is made and never change it across retries or restarts. */
export function newBatchId(now: number = Date.now()): string {
  return next(now);
}

/**
 * The BatchID of part `i` (1-based) of a batch split after a 413. Derived rather than fresh so that
 * a resend of the parent after a crash splits into the same children, which the server dedups.
 */
export function childBatchId(parent: string, i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > 9999) throw new RangeError(`split index out of range: ${i}`);
  return `${parent}-${i}`;
}

export function isBatchId(value: unknown): value is string {
  return typeof value === 'string' && BATCH_ID_PATTERN.test(value);
}
