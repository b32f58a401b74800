// The durable outbox. A batch is on disk, fsynced, before anything tries to send it, and it stays
// there until the server has acknowledged it: the shippers that lost data (OTel Collector, Vector,
// Fluent Bit, Telegraf, remote_write) did so through un-fsynced queues, no persisted read position,
// or an in-memory stage in front of the durable one.
//
// Layout of the spool directory:
//   00000000000000000001.seg   append-only segments of framed records
//   ack.json                   which records are acknowledged, per segment (atomic replace)
//   dead-letter.jsonl          batches the server refused for good (written by the shipper)
//   agent-id                   the AgentID when the host has no /etc/machine-id
//
// The record frame is segment-format.ts's; the index of settled records is ack-index.ts's. This
// module is the queue over them: append, pending, read, ack, and the size and age bounds.
//
// fsync policy: append() writes the frame and fdatasyncs the segment (and fsyncs the directory
// when it creates a segment) before it resolves, so every batch the caller has seen spooled
// survives a crash or power loss. One batch per window (a minute by default) makes that one sync
// per minute. Acknowledgements are persisted by write-temp + fsync + rename + fsync(dir), coalesced
// so that at most the records acknowledged during one write can be resent after a crash; the
// server drops those by BatchID.
//
// Memory: only an index (segment, offset, length, BatchID, minute, CreatedAt) of the backlog is
// kept; bodies are read back from disk when they are sent.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir } from './durable-file.js';
import { AckIndex } from './ack-index.js';
import { HEADER_BYTES, scanSegment, segmentSeq } from './segment-format.js';
import { appendFrame, closeSegment, createSegment, readFrame, removeSegmentFile, type Segment } from './segment-file.js';
import { peekMeta, type RecordMeta } from './codec.js';
import { silentLogger, type ShipLogger } from './log.js';

export interface SpoolOptions {
  dir: string;
  maxBytes: number;
  maxAgeSeconds: number;
  segmentMaxBytes: number;
  segmentMaxRecords: number;
  logger?: ShipLogger;
  /** Milliseconds since the epoch; injectable so tests can age records. */
  now?: () => number;
}

export interface PendingRecord {
  /** In-memory handle of the record for read()/ack(); not stable across restarts. */
  id: number;
  batchId: string;
  /** Size of the gzipped body. */
  bytes: number;
  minute?: number | undefined;
  createdAt: number;
}

export interface SpoolStats {
  /** Unacknowledged records. */
  records: number;
  /** Bytes of segment files on disk (what VMPULSE_SPOOL_MAX_BYTES bounds). */
  bytes: number;
  segments: number;
  /** Minute of the oldest unacknowledged batch. */
  oldestMinute?: number | undefined;
  /** Counters since open. */
  appended: number;
  acked: number;
  dropped: number;
  corrupt: number;
}


interface Entry {
  id: number;
  seg: Segment;
  offset: number;
  length: number;
  meta: RecordMeta;
}


export class Spool {
  readonly dir: string;
  private readonly opts: Required<Omit<SpoolOptions, 'logger' | 'now'>>;
  private readonly log: ShipLogger;
  private readonly now: () => number;
  private segments: Segment[] = [];
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;
  private nextSeq = 1;
  private diskBytes = 0;
  private ackDirty = false;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private counters = { appended: 0, acked: 0, dropped: 0, corrupt: 0 };

  private constructor(opts: SpoolOptions) {
    this.dir = opts.dir;
    this.opts = {
      dir: opts.dir,
      maxBytes: opts.maxBytes,
      maxAgeSeconds: opts.maxAgeSeconds,
      segmentMaxBytes: opts.segmentMaxBytes,
      segmentMaxRecords: opts.segmentMaxRecords,
    };
    this.log = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
  }

  /** Opens (creating if needed) the spool and indexes every unacknowledged record in it. */
  static async open(opts: SpoolOptions): Promise<Spool> {
    const s = new Spool(opts);
    await s.load();
    return s;
  }

  // Every mutation (append, settle persistence, segment deletion) runs one at a time, in order.
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async load(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const ack = await AckIndex.read(this.dir, this.log);
    this.nextSeq = ack.nextSeq;
    const names = (await readdir(this.dir)).filter((n) => segmentSeq(n) !== null).sort();
    for (const name of names) {
      const seq = segmentSeq(name)!;
      this.nextSeq = Math.max(this.nextSeq, seq + 1);
      const buf = await readFile(join(this.dir, name));
      const seg: Segment = { name, seq, size: buf.length, offsets: [], settled: new Set(), ids: new Map(), active: false };
      const wasSettled = ack.settledIn(name);
      const { frames, bad } = scanSegment(buf);
      for (const b of bad) {
        this.counters.corrupt++;
        this.log.warn({ segment: name, offset: b.offset, bytes: b.bytes }, 'spool: skipped a corrupt record (bad magic, length or CRC)');
      }
      for (const f of frames) {
        seg.offsets.push(f.offset);
        if (wasSettled(f.offset)) {
          seg.settled.add(f.offset);
          continue;
        }
        const meta = peekMeta(buf.subarray(f.offset + HEADER_BYTES, f.offset + HEADER_BYTES + f.length));
        if (!meta) {
          this.counters.corrupt++;
          seg.settled.add(f.offset);
          this.log.warn({ segment: name, offset: f.offset }, 'spool: skipped a record that is not a gzipped batch');
          continue;
        }
        this.addEntry(seg, f.offset, f.length, meta);
      }
      this.segments.push(seg);
      this.diskBytes += seg.size;
    }
    this.ackDirty = true;
    await this.serial(async () => {
      this.expireLocked();
      await this.flushLocked(true);
    });
    if (this.entries.size > 0) {
      this.log.info({ records: this.entries.size, segments: this.segments.length, bytes: this.diskBytes }, 'spool: backlog to deliver');
    }
  }

  private addEntry(seg: Segment, offset: number, length: number, meta: RecordMeta): Entry {
    const e: Entry = { id: this.nextId++, seg, offset, length, meta };
    this.entries.set(e.id, e);
    seg.ids.set(offset, e.id);
    return e;
  }

  /**
   * Spools one gzipped batch; resolves once it is fsynced, with its pending handle, or null when
   * the batch alone is larger than the spool bound (dropped and counted).
   */
  append(gz: Buffer, meta: RecordMeta): Promise<PendingRecord | null> {
    return this.serial(async () => {
      if (this.closed) throw new Error('spool is closed');
      const frameBytes = HEADER_BYTES + gz.length;
      if (frameBytes > this.opts.maxBytes) {
        this.counters.dropped++;
        this.log.error({ batchId: meta.batchId, bytes: gz.length, maxBytes: this.opts.maxBytes }, 'spool: batch larger than VMPULSE_SPOOL_MAX_BYTES dropped');
        return null;
      }
      this.expireLocked();
      while (this.diskBytes + frameBytes > this.opts.maxBytes && this.segments.length > 0) {
        await this.dropSegment(this.segments[0]!, 'VMPULSE_SPOOL_MAX_BYTES');
      }
      let seg = this.segments.at(-1);
      if (
        !seg?.active ||
        seg.offsets.length >= this.opts.segmentMaxRecords ||
        (seg.size > 0 && seg.size + frameBytes > this.opts.segmentMaxBytes)
      ) {
        if (seg?.active) seg.active = false;
        seg = await this.newSegment();
      }
      const offset = await appendFrame(seg, gz);
      const e = this.addEntry(seg, offset, gz.length, meta);
      this.diskBytes += frameBytes;
      this.counters.appended++;
      await this.flushLocked(false);
      return this.toPending(e);
    });
  }

  private async newSegment(): Promise<Segment> {
    const seg = await createSegment(this.dir, this.nextSeq++);
    this.segments.push(seg);
    // The ack file carries nextSeq, so a name is never reused while a stale entry could name it.
    this.ackDirty = true;
    return seg;
  }

  private async dropSegment(seg: Segment, reason: string): Promise<void> {
    const lost: string[] = [];
    for (const [offset, id] of seg.ids) {
      const e = this.entries.get(id);
      if (e) lost.push(e.meta.batchId);
      this.entries.delete(id);
      seg.settled.add(offset);
    }
    seg.ids.clear();
    this.counters.dropped += lost.length;
    await this.removeSegment(seg);
    await syncDir(this.dir);
    if (lost.length > 0) {
      this.log.warn({ reason, segment: seg.name, dropped: lost.length, first: lost[0], last: lost.at(-1) }, 'spool: full, dropped the oldest batches');
    }
  }

  private async removeSegment(seg: Segment): Promise<void> {
    await removeSegmentFile(this.dir, seg);
    this.segments = this.segments.filter((s) => s !== seg);
    this.diskBytes -= seg.size;
    this.ackDirty = true;
  }

  private expireLocked(): void {
    const cutoff = this.now() / 1000 - this.opts.maxAgeSeconds;
    const old: Entry[] = [];
    for (const e of this.entries.values()) if (e.meta.createdAt < cutoff) old.push(e);
    if (old.length === 0) return;
    for (const e of old) this.settleEntry(e);
    this.counters.dropped += old.length;
    this.log.warn(
      { reason: 'VMPULSE_SPOOL_MAX_AGE_SECONDS', dropped: old.length, first: old[0]!.meta.batchId, last: old.at(-1)!.meta.batchId },
      'spool: dropped batches older than the age bound',
    );
  }

  /** Drops batches past the age bound; the outbox calls it periodically. */
  expire(): Promise<void> {
    return this.serial(async () => {
      this.expireLocked();
      await this.flushLocked(false);
    });
  }

  private settleEntry(e: Entry): void {
    this.entries.delete(e.id);
    e.seg.ids.delete(e.offset);
    e.seg.settled.add(e.offset);
    this.ackDirty = true;
  }

  /** Persists settled state, then deletes segments with nothing left to deliver. */
  private async flushLocked(force: boolean): Promise<void> {
    if (this.ackDirty || force) {
      this.ackDirty = false;
      await AckIndex.write(this.dir, this.nextSeq, this.segments);
    }
    // A segment goes only once every record in it is settled, and only after that state is on
    // disk: deleting first and crashing would be fine too, but this order never needs the argument.
    let removed = false;
    for (const seg of [...this.segments]) {
      if (seg.ids.size > 0) continue;
      if (seg.active && seg.offsets.length === 0) continue;
      await this.removeSegment(seg);
      removed = true;
    }
    if (removed) await syncDir(this.dir);
  }

  /** Oldest-first unacknowledged records, skipping those in `skip` (in flight). */
  pending(limit: number, skip?: ReadonlySet<number>): PendingRecord[] {
    const out: PendingRecord[] = [];
    if (limit <= 0) return out;
    for (const e of this.entries.values()) {
      if (skip?.has(e.id)) continue;
      out.push(this.toPending(e));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Whether the record still needs delivery. */
  has(id: number): boolean {
    return this.entries.has(id);
  }

  private toPending(e: Entry): PendingRecord {
    return { id: e.id, batchId: e.meta.batchId, bytes: e.length, minute: e.meta.minute, createdAt: e.meta.createdAt };
  }

  /**
   * The gzipped body of a pending record, checked against its CRC. Null when the record is no
   * longer pending (acknowledged or dropped meanwhile) or is unreadable (then counted as corrupt
   * and settled, so the rest keeps flowing).
   */
  async read(id: number): Promise<Buffer | null> {
    const e = this.entries.get(id);
    if (!e) return null;
    try {
      const body = await readFrame(this.dir, e.seg, e.offset, e.length);
      if (body) return body;
    } catch (err) {
      if (!this.entries.has(id)) return null;
      throw err;
    }
    if (!this.entries.has(id)) return null;
    this.counters.corrupt++;
    this.log.error({ segment: e.seg.name, offset: e.offset, batchId: e.meta.batchId }, 'spool: record failed its CRC on read, skipped');
    this.settleEntry(e);
    await this.serial(() => this.flushLocked(false));
    return null;
  }

  /** Marks a record acknowledged; resolves once that is persisted. Unknown ids are ignored. */
  async ack(id: number): Promise<void> {
    const e = this.entries.get(id);
    if (!e) return;
    this.settleEntry(e);
    this.counters.acked++;
    // Coalesced: a write already queued after this mark carries it, and later calls find nothing
    // dirty, so a burst of acks costs one or two writes.
    await this.serial(() => this.flushLocked(false));
  }

  stats(): SpoolStats {
    const first = this.entries.values().next();
    return {
      records: this.entries.size,
      bytes: this.diskBytes,
      segments: this.segments.length,
      oldestMinute: first.done ? undefined : first.value.meta.minute,
      ...this.counters,
    };
  }

  /** Persists the acknowledged state and closes files. Unacknowledged records stay on disk. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      await this.flushLocked(true);
      this.closed = true;
      for (const seg of this.segments) await closeSegment(seg);
    });
  }
}
