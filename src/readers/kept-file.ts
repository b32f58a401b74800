// The hot-path I/O primitive: open a procfs/sysfs file once and re-read it with a pread at
// offset 0, which makes the kernel regenerate the content. This is ~8x cheaper than
// open/read/close per tick (DESIGN.md §4). A kept fd on a /proc/<pid>/ file is bound to that
// process: once it exits the read fails with ESRCH, so a reused PID never aliases the old fd.
import { closeSync, openSync, readFileSync, readSync, constants as fsc } from 'node:fs';
import { fail, failureFromError, ok, type Outcome } from './outcome.js';

const MAX_BYTES = 64 * 1024 * 1024;

/**
 * The one read buffer of this thread, shared by every KeptFile in it. Every caller parses what a
 * read returns before it reads again (KeptSlot's contract), so 7,000 kept files at 1,000 VMs need
 * not hold 7,000 buffers (about 6 MB of a sampler worker's 16 MB live heap, and as many cache lines
 * cold at each read). It grows to the largest file read and never shrinks.
 */
let scratch = Buffer.allocUnsafeSlow(16 * 1024);

export class KeptFile {
  private fd: number | null;
  /** The last answer, reused while the length and the scratch stay the same (it views the same bytes). */
  private last: Outcome<Buffer> | null = null;
  private lastScratch: Buffer | null = null;

  private constructor(
    readonly path: string,
    /** Whether the path is under /proc/<pid>/: decides 'gone' versus 'missing' for ENOENT. */
    readonly processFile: boolean,
    fd: number,
    /**
     * A seq_file listing (/proc/net/dev) may be longer than one read returns: the kernel hands
     * out about a page per read(2), however large the buffer. Such a file is read to its end
     * (pread at increasing offsets until 0); a sysfs counter or a /proc/<pid>/stat is whole in one.
     */
    readonly multiRead = false,
  ) {
    this.fd = fd;
  }

  static open(path: string, processFile: boolean, multiRead = false): Outcome<KeptFile> {
    try {
      const fd = openSync(path, fsc.O_RDONLY);
      return ok(new KeptFile(path, processFile, fd, multiRead));
    } catch (err) {
      return failureFromError(err, path, processFile);
    }
  }

  /** `scratch` viewed over [0, n), as the same Outcome as last time when nothing changed. */
  private answer(n: number): Outcome<Buffer> {
    // Counters keep their length for many ticks: a view and an Outcome per read would be two
    // objects of garbage per file per tick, 22,000 per tick at 1,000 VMs.
    if (this.last?.ok && this.lastScratch === scratch && this.last.value.length === n) return this.last;
    this.last = ok(scratch.subarray(0, n));
    this.lastScratch = scratch;
    return this.last;
  }

  /**
   * The whole current content. The Buffer views this thread's shared read buffer: it stays valid
   * only until the next read() of any KeptFile in the thread (copy it to keep it). A read that
   * fills the buffer may have been cut short, so the buffer doubles and the read is repeated.
   */
  read(): Outcome<Buffer> {
    if (this.fd === null) return fail('io', `${this.path}: read after close`);
    if (this.multiRead) return this.readToEnd(this.fd);
    try {
      for (;;) {
        const n = readSync(this.fd, scratch, 0, scratch.length, 0);
        if (n < scratch.length) return this.answer(n);
        if (scratch.length * 2 > MAX_BYTES) return fail('io', `${this.path}: larger than ${MAX_BYTES} bytes`);
        scratch = Buffer.allocUnsafeSlow(scratch.length * 2);
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
        if (at === scratch.length) {
          if (scratch.length * 2 > MAX_BYTES) return fail('io', `${this.path}: larger than ${MAX_BYTES} bytes`);
          const bigger = Buffer.allocUnsafeSlow(scratch.length * 2);
          scratch.copy(bigger, 0, 0, at);
          scratch = bigger;
        }
        const n = readSync(fd, scratch, at, scratch.length - at, at);
        if (n === 0) break;
        at += n;
      }
      return this.answer(at);
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
