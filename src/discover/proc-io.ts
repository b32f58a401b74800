// The synchronous reads discovery makes of every process, answered as Outcomes (files read once
// elsewhere use the readers' readOnce; the per-tick path keeps fds open).
import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { failureFromError, ok, type Outcome } from '../readers/outcome.js';

// procfs reports size 0, so readFileSync allocates a fresh 64 KiB buffer per file; on a full
// scan of 10,000 processes that garbage costs more than the reads. One scratch buffer instead.
let scratch = Buffer.allocUnsafe(64 * 1024);
const MAX_FILE = 1024 * 1024;

export function readBytes(path: string, processFile = true): Outcome<Buffer> {
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    let len = 0;
    for (;;) {
      if (len === scratch.length) {
        if (scratch.length >= MAX_FILE) break;
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger, 0, 0, len);
        scratch = bigger;
      }
      const n = readSync(fd, scratch, len, scratch.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return ok(Buffer.from(scratch.subarray(0, len)));
  } catch (err) {
    return failureFromError(err, path, processFile);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export function readLink(path: string, processFile = true): Outcome<string> {
  try {
    return ok(readlinkSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}

export function listDir(path: string, processFile = true): Outcome<string[]> {
  try {
    return ok(readdirSync(path));
  } catch (err) {
    return failureFromError(err, path, processFile);
  }
}
