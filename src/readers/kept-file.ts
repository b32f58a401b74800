// The hot-path I/O primitive: open a procfs/sysfs file once and re-read it with a pread at
// offset 0, which makes the kernel regenerate the content. This is ~8x cheaper than
// open/read/close per tick (DESIGN.md §4). A kept fd on a /proc/<pid>/ file is bound to that
// process: once it exits the read fails with ESRCH, so a reused PID never aliases the old fd.
import { closeSync, openSync, readFileSync, readSync, constants as fsc } from 'node:fs';
import { fail, failureFromError, ok, type Outcome } from './outcome.js';

const MAX_BYTES = 64 * 1024 * 1024;

export class KeptFile {
  private fd: number | null;
  private buf: Buffer;
  /** The last answer, reused while the length stays the same (it views the same bytes). */
  private last: Outcome<Buffer> | null = null;

  private constructor(
    readonly path: string,
    /** Whether the path is under /proc/<pid>/: decides 'gone' versus 'missing' for ENOENT. */
    readonly processFile: boolean,
    fd: number,
    initialSize: number,
    /**
     * A seq_file listing (/proc/net/dev) may be longer than one read returns: the kernel hands
     * out about a page per read(2), however large the buffer. Such a file is read to its end
     * (pread at increasing offsets until 0); a sysfs counter or a /proc/<pid>/stat is whole in one.
     */
    readonly multiRead = false,
  ) {
    this.fd = fd;
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  static open(path: string, processFile: boolean, initialSize = 1024, multiRead = false): Outcome<KeptFile> {
    try {
      const fd = openSync(path, fsc.O_RDONLY);
      return ok(new KeptFile(path, processFile, fd, Math.max(64, initialSize), multiRead));
    } catch (err) {
      return failureFromError(err, path, processFile);
    }
  }

  /**
   * The whole current content. The Buffer is a view into this KeptFile's own buffer: it stays
   * valid only until the next read() (copy it to keep it). A read that fills the buffer may have
   * been cut short, so the buffer doubles and the read is repeated from offset 0.
   */
  read(): Outcome<Buffer> {
    if (this.fd === null) return fail('io', `${this.path}: read after close`);
    if (this.multiRead) return this.readToEnd(this.fd);
    try {
      for (;;) {
        const n = readSync(this.fd, this.buf, 0, this.buf.length, 0);
        if (n < this.buf.length) {
          // Counters keep their length for many ticks: a view and an Outcome per read would be
          // two objects of garbage per file per tick, 22,000 per tick at 1,000 VMs.
          if (this.last?.ok && this.last.value.length === n) return this.last;
          this.last = ok(this.buf.subarray(0, n));
          return this.last;
        }
        if (this.buf.length * 2 > MAX_BYTES) return fail('io', `${this.path}: larger than ${MAX_BYTES} bytes`);
        this.buf = Buffer.allocUnsafe(this.buf.length * 2);
        this.last = null;
      }
    } catch (err) {
      return failureFromError(err, this.path, this.processFile);
    }
  }

  private readToEnd(fd: number): Outcome<Buffer> {
    try {
      // The first pread at 0 makes the kernel start over; each next one continues where the
      // previous stopped (seq_file keeps its position), so the whole costs one generation.
      let at = 0;
      for (;;) {
        if (at === this.buf.length) {
          if (this.buf.length * 2 > MAX_BYTES) return fail('io', `${this.path}: larger than ${MAX_BYTES} bytes`);
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, at);
          this.buf = bigger;
          this.last = null;
        }
        const n = readSync(fd, this.buf, at, this.buf.length - at, at);
        if (n === 0) break;
        at += n;
      }
      if (this.last?.ok && this.last.value.length === at) return this.last;
      this.last = ok(this.buf.subarray(0, at));
      return this.last;
    } catch (err) {
      return failureFromError(err, this.path, this.processFile);
    }
  }

  get isOpen(): boolean {
    return this.fd !== null;
  }

  /** Idempotent; never throws (a failing close leaves nothing the caller could do). */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      closeSync(fd);
    } catch {
      // EBADF/EIO on close of a procfs/sysfs fd: the fd is released either way.
    }
  }
}

/** open/read/close once, for paths read at discovery or start-up rather than every tick. */
export function readOnce(path: string, processFile: boolean): Outcome<Buffer> {
  try {
    return ok(readFileSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}
