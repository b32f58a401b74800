// One segment file of the spool on disk: created exclusively and synced into its directory,
// appended to with a data sync per frame, read back frame by frame (checked against its CRC), and
// removed. The spool owns the set of segments and what each record means; this is the file.
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './durable-file.js';
import { HEADER_BYTES, frameHeader, segmentName, validFrameAt } from './segment-format.js';

export interface Segment {
  name: string;
  seq: number;
  size: number;
  /** Frame offsets of the valid records, ascending. */
  offsets: number[];
  /** Offsets that need no delivery any more: acknowledged, dropped by age, or unreadable. */
  settled: Set<number>;
  /** Offset → in-memory id of the records still pending. */
  ids: Map<number, number>;
  /** Still appended to (only the newest segment, and only until a write fails). */
  active: boolean;
  handle?: Promise<FileHandle> | undefined;
}

/** A new, empty, active segment `seq` in `dir`, its name durable in the directory. */
export async function createSegment(dir: string, seq: number): Promise<Segment> {
  const name = segmentName(seq);
  // The directory may have been removed under a running agent; recreate it rather than fail
  // every window from now on.
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const handle = open(join(dir, name), 'wx+', 0o600);
  const seg: Segment = { name, seq, size: 0, offsets: [], settled: new Set(), ids: new Map(), active: true, handle };
  await handle;
  await syncDir(dir);
  return seg;
}

/** Appends one frame at the segment's end and syncs its data; returns the frame's offset. */
export async function appendFrame(seg: Segment, body: Buffer): Promise<number> {
  const fh = await seg.handle!;
  const offset = seg.size;
  try {
    await fh.writev([frameHeader(body), body], offset);
    await fh.datasync();
  } catch (err) {
    // The tail may hold part of a frame: stop appending here; the scan on next open skips it.
    seg.active = false;
    throw err;
  }
  seg.offsets.push(offset);
  seg.size += HEADER_BYTES + body.length;
  return offset;
}

/** The body of the frame at `offset`, or null when it does not check out (length, magic, CRC). */
export async function readFrame(dir: string, seg: Segment, offset: number, length: number): Promise<Buffer | null> {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + length);
  seg.handle ??= open(join(dir, seg.name), 'r');
  const fh = await seg.handle;
  const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
  return bytesRead === buf.length && validFrameAt(buf, 0) === length ? buf.subarray(HEADER_BYTES) : null;
}

export async function closeSegment(seg: Segment): Promise<void> {
  const h = seg.handle;
  seg.handle = undefined;
  if (h) await (await h).close().catch(() => undefined);
}

/** Closes and deletes the segment's file (the caller syncs the directory). */
export async function removeSegmentFile(dir: string, seg: Segment): Promise<void> {
  await closeSegment(seg);
  await unlink(join(dir, seg.name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
