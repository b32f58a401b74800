// A KeptFile that opens on first use and reopens after the object it names disappears. Objects
// outside /proc/<pid> (a TAP's sysfs counters, a cgroup file) can be deleted and recreated under
// the same name, so they are reopened lazily. A per-process file that reported 'gone' is never
// reopened: its pid or tid may by then belong to someone else.
import { KeptFile } from '../readers/kept-file.js';
import { fail, type Failure, type Outcome } from '../readers/outcome.js';

export class KeptSlot {
  private file: KeptFile | null = null;
  private goneFor: Failure | null = null;

  constructor(
    readonly path: string,
    readonly processFile: boolean,
    private readonly multiRead = false,
  ) {}

  /** Open now if not open; a failure is returned and retried on the next call. */
  ensureOpen(): Failure | null {
    if (this.goneFor) return this.goneFor;
    if (this.file) return null;
    const o = KeptFile.open(this.path, this.processFile, this.multiRead);
    if (!o.ok) {
      if (this.processFile && o.kind === 'gone') this.goneFor = o;
      return o;
    }
    this.file = o.value;
    return null;
  }

  /** Content view valid until the next read of any kept file in this thread (see KeptFile.read). */
  read(): Outcome<Buffer> {
    const openFailure = this.ensureOpen();
    if (openFailure) return openFailure;
    const r = this.file!.read();
    if (!r.ok && (r.kind === 'gone' || r.kind === 'missing')) {
      this.file!.close();
      this.file = null;
      if (this.processFile && r.kind === 'gone') this.goneFor = r;
    }
    return r;
  }

  /** Drop the fd but allow a later reopen (a sysfs object that may come back). */
  reset(): void {
    this.file?.close();
    this.file = null;
  }

  close(): void {
    this.file?.close();
    this.file = null;
    this.goneFor ??= fail('io', `${this.path}: closed`);
  }
}
