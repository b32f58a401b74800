// The spool's index of settled records (acknowledged, dropped by a bound, or unreadable), kept in
// ack.json by write-temp + fsync + rename + fsync(dir). Per segment it stores `upto` (every record
// below that offset is settled) and the settled offsets above it, so the file stays small while
// the backlog drains in order. An unreadable file means "nothing settled": resending is safe (the
// server stores a BatchID once), treating records as acknowledged is not.
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from './durable-file.js';
import type { ShipLogger } from './log.js';

export const ACK_FILE = 'ack.json';

/** What the index needs of a segment. */
export interface SettledSegment {
  readonly name: string;
  readonly size: number;
  /** Frame offsets of the valid records, ascending. */
  readonly offsets: readonly number[];
  /** Offsets that need no delivery any more. */
  readonly settled: ReadonlySet<number>;
}

interface AckFile {
  version: 1;
  nextSeq: number;
  /** Per segment: every record at an offset below `upto` is settled, plus those in `acked`. */
  segments: Record<string, { upto: number; acked: number[] }>;
}

export class AckIndex {
  private constructor(
    /** The next segment sequence number; kept here so a name is never reused while stale. */
    readonly nextSeq: number,
    private readonly segments: AckFile['segments'],
  ) {}

  /** Reads the index of `dir` (a missing or unreadable one settles nothing). */
  static async read(dir: string, log: ShipLogger): Promise<AckIndex> {
    await unlink(join(dir, `${ACK_FILE}.tmp`)).catch(() => undefined); // a write cut short
    let text: string;
    try {
      text = await readFile(join(dir, ACK_FILE), 'utf8');
    } catch {
      return new AckIndex(1, {});
    }
    try {
      const a = JSON.parse(text) as AckFile;
      if (a.version !== 1 || typeof a.nextSeq !== 'number' || typeof a.segments !== 'object') throw new Error('unknown format');
      return new AckIndex(a.nextSeq, a.segments);
    } catch (err) {
      log.warn({ err: String(err) }, 'spool: ack.json unreadable, every spooled record will be resent');
      return new AckIndex(1, {});
    }
  }

  /** Whether the record at `offset` of segment `name` was settled when the index was written. */
  settledIn(name: string): (offset: number) => boolean {
    const p = this.segments[name];
    if (!p) return () => false;
    const acked = new Set(p.acked);
    return (offset) => offset < p.upto || acked.has(offset);
  }

  /** Writes the settled state of `segments` durably. */
  static async write(dir: string, nextSeq: number, segments: readonly SettledSegment[]): Promise<void> {
    const state: AckFile = { version: 1, nextSeq, segments: {} };
    for (const seg of segments) {
      if (seg.settled.size === 0) continue;
      let i = 0;
      while (i < seg.offsets.length && seg.settled.has(seg.offsets[i]!)) i++;
      const upto = i < seg.offsets.length ? seg.offsets[i]! : seg.size;
      const acked: number[] = [];
      for (let j = i; j < seg.offsets.length; j++) if (seg.settled.has(seg.offsets[j]!)) acked.push(seg.offsets[j]!);
      state.segments[seg.name] = { upto, acked };
    }
    await writeFileDurably(dir, join(dir, ACK_FILE), JSON.stringify(state));
  }
}
