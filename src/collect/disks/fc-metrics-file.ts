// Firecracker's metrics file, followed from where the last round stopped. Only a regular file is
// ever opened: a FIFO's lines are consumed by whoever reads them, so opening one would take the
// orchestrator's metrics away from it (and a FIFO opened for reading changes what its writer
// sees). The path is checked with stat before the open, and the opened fd with fstat (same inode,
// still a regular file) before any read, so a FIFO swapped in between is never read.
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fail, failureFromError, ok, type Outcome } from '../../readers/outcome.js';
import type { DiskCounters } from './device-stats.js';
import { compareDeviceNames } from './device-order.js';
import { parseFcMetricsLine } from './parse-fc.js';

/** At most this much of the file is read per round; the rest waits for the next round. */
const MAX_READ_PER_ROUND = 4 * 1024 * 1024;

interface Totals {
  readBytes: number;
  writeBytes: number;
  readOps: number;
  writeOps: number;
  flushOps: number;
}

export class FcMetricsFile {
  private ino = -1;
  private dev = -1;
  /** Bytes of the file consumed: everything before the last complete line read. */
  private offset = 0;
  private totals = new Map<string, Totals>();
  private readonly buf = Buffer.alloc(256 * 1024);

  constructor(readonly path: string) {}

  /** Cumulative per-drive counters: the sum of every line of the file so far. */
  read(): Outcome<DiskCounters[]> {
    let st;
    try {
      st = statSync(this.path);
    } catch (err) {
      return failureFromError(err, this.path, false);
    }
    if (!st.isFile()) return fail('missing', `${this.path} is not a regular file (a FIFO belongs to its reader): not opened`);
    let fd: number;
    try {
      fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (err) {
      return failureFromError(err, this.path, false);
    }
    try {
      const fst = fstatSync(fd);
      if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) return fail('io', `${this.path} changed while being opened: not read`);
      // A new file (rotated, recreated) or a shorter one (truncated) starts its sums again.
      if (fst.ino !== this.ino || fst.dev !== this.dev || fst.size < this.offset) {
        this.ino = fst.ino;
        this.dev = fst.dev;
        this.offset = 0;
        this.totals = new Map();
      }
      const end = Math.min(fst.size, this.offset + MAX_READ_PER_ROUND);
      let pos = this.offset;
      let carry = '';
      while (pos < end) {
        const n = readSync(fd, this.buf, 0, Math.min(this.buf.length, end - pos), pos);
        if (n <= 0) break;
        pos += n;
        const text = carry + this.buf.toString('utf8', 0, n);
        const lastNl = text.lastIndexOf('\n');
        if (lastNl < 0) {
          carry = text;
          continue;
        }
        for (const line of text.slice(0, lastNl).split('\n')) this.add(line);
        carry = text.slice(lastNl + 1);
      }
      // A line still being written is read again next round, whole.
      this.offset = pos - Buffer.byteLength(carry);
      return ok(this.snapshot());
    } catch (err) {
      return failureFromError(err, this.path, false);
    } finally {
      closeSync(fd);
    }
  }

  private add(line: string): void {
    if (line.trim() === '') return;
    const r = parseFcMetricsLine(line);
    if (!r.ok) return; // a line that is not metrics JSON adds nothing
    for (const d of r.value) {
      const t = this.totals.get(d.device) ?? { readBytes: 0, writeBytes: 0, readOps: 0, writeOps: 0, flushOps: 0 };
      t.readBytes += d.readBytes;
      t.writeBytes += d.writeBytes;
      t.readOps += d.readOps;
      t.writeOps += d.writeOps;
      t.flushOps += d.flushOps;
      this.totals.set(d.device, t);
    }
  }

  private snapshot(): DiskCounters[] {
    return [...this.totals]
      .map(([device, t]) => ({ device, ...t, readTimeNs: null, writeTimeNs: null, flushTimeNs: null }))
      .sort((a, b) => compareDeviceNames(a.device, b.device));
  }
}
