// The spool's segment file format. A segment is an append-only file of framed records:
// [magic u32][length u32][crc32 u32 of the body][body] (big-endian); the body is the gzipped JSON
// of one batch, exactly the bytes the shipper POSTs. Segments are named by a 20-digit sequence
// number so that a directory listing sorts them oldest first. Pure: no I/O here.
import { crc32 } from './crc32.js';

export const MAGIC = 0x56505331; // "VPS1"
export const HEADER_BYTES = 12;
export const SEGMENT_RE = /^(\d{20})\.seg$/;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.seg`;
}

export function segmentSeq(name: string): number | null {
  const m = SEGMENT_RE.exec(name);
  return m ? Number(m[1]) : null;
}

export function frameHeader(body: Buffer): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(MAGIC, 0);
  h.writeUInt32BE(body.length, 4);
  h.writeUInt32BE(crc32(body), 8);
  return h;
}

const MAGIC_BYTES = (() => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(MAGIC, 0);
  return b;
})();

/** A frame at `pos` whose header and CRC check out: its body length, else -1. */
export function validFrameAt(buf: Buffer, pos: number): number {
  if (pos + HEADER_BYTES > buf.length) return -1;
  if (buf.readUInt32BE(pos) !== MAGIC) return -1;
  const len = buf.readUInt32BE(pos + 4);
  if (pos + HEADER_BYTES + len > buf.length) return -1;
  return crc32(buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len)) === buf.readUInt32BE(pos + 8) ? len : -1;
}

export interface ScannedFrame {
  offset: number;
  length: number;
}

/**
 * Frames of a segment image. A frame that fails magic, length or CRC starts a bad region which
 * ends at the next magic whose frame validates; each bad region is reported once.
 */
export function scanSegment(buf: Buffer): { frames: ScannedFrame[]; bad: { offset: number; bytes: number }[] } {
  const frames: ScannedFrame[] = [];
  const bad: { offset: number; bytes: number }[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const len = validFrameAt(buf, pos);
    if (len >= 0) {
      frames.push({ offset: pos, length: len });
      pos += HEADER_BYTES + len;
      continue;
    }
    let next = buf.indexOf(MAGIC_BYTES, pos + 1);
    while (next !== -1 && validFrameAt(buf, next) < 0) next = buf.indexOf(MAGIC_BYTES, next + 1);
    const end = next === -1 ? buf.length : next;
    bad.push({ offset: pos, bytes: end - pos });
    pos = end;
  }
  return { frames, bad };
}
