// Rows in PostgreSQL's binary COPY format (COPY ... FROM STDIN WITH (FORMAT binary)), the bulk
// path for rows that are almost always new (ingest's minutes, an alarm's cold pass): every field is
// length-prefixed, so nothing is escaped or quoted, numbers go as 8 bytes instead of digits, and
// the bytes go straight into buffers without one string per row. Pure: rows in, Buffers out.
import type { ColKind } from './schema.js';
import type { Value } from './sql.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const CHUNK = 64 * 1024;
const TWO32 = 4294967296;

/** Why a value cannot go into a column of that kind (the same error the text form would give). */
export class CopyValueError extends Error {}

/** The COPY stream of `rows` for columns of `kinds`, in chunks of about 64 kB. */
export function* copyBinary(rows: readonly (readonly Value[])[], kinds: readonly ColKind[]): Generator<Buffer> {
  let buf = Buffer.allocUnsafe(CHUNK);
  let at = 0;
  /** Makes room for n more bytes; returns the filled part to send when a new buffer was needed. */
  const room = (n: number): Buffer | null => {
    if (at + n <= buf.length) return null;
    const full = buf.subarray(0, at);
    // A field larger than a chunk gets a buffer of its own size.
    buf = Buffer.allocUnsafe(Math.max(CHUNK, n));
    at = 0;
    return full;
  };
  let full: Buffer | null;
  SIGNATURE.copy(buf, 0);
  at = SIGNATURE.length;
  buf.writeInt32BE(0, at); // flags
  buf.writeInt32BE(0, at + 4); // header extension length
  at += 8;
  const width = kinds.length;
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if ((full = room(2))) yield full;
    buf.writeInt16BE(width, at);
    at += 2;
    for (let c = 0; c < width; c++) {
      const v = row[c];
      const kind = kinds[c]!;
      if (v === null || v === undefined) {
        if ((full = room(4))) yield full;
        buf.writeInt32BE(-1, at);
        at += 4;
        continue;
      }
      if (kind === 'text') {
        const s = typeof v === 'string' ? v : String(v);
        // Room for the worst case (3 bytes per UTF-16 unit) makes one write enough.
        if ((full = room(4 + s.length * 3))) yield full;
        const n = buf.write(s, at + 4, 'utf8');
        buf.writeInt32BE(n, at);
        at += 4 + n;
        continue;
      }
      const x = typeof v === 'number' ? v : Number(v);
      if ((full = room(12))) yield full;
      buf.writeInt32BE(8, at);
      if (kind === 'int') {
        if (!Number.isSafeInteger(x)) throw new CopyValueError(`invalid input for a bigint column: ${String(v)}`);
        const hi = Math.floor(x / TWO32);
        buf.writeInt32BE(hi, at + 4);
        buf.writeUInt32BE(x - hi * TWO32, at + 8);
      } else {
        if (typeof v !== 'number' && Number.isNaN(x)) throw new CopyValueError(`invalid input for a double precision column: ${String(v)}`);
        buf.writeDoubleBE(x, at + 4);
      }
      at += 12;
    }
  }
  if ((full = room(2))) yield full;
  buf.writeInt16BE(-1, at);
  at += 2;
  yield buf.subarray(0, at);
}
