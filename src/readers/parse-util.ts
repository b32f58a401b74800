// Shared number rules for the parsers. Kernel counters are unsigned 64-bit; a JS number holds
// them exactly only up to 2^53-1, so anything larger is refused rather than silently rounded.
import { malformed, type Failure } from './outcome.js';

/** Bytes from procfs/sysfs are ASCII; latin1 never fails and never allocates replacement chars. */
export function asText(input: Buffer | string): string {
  return typeof input === 'string' ? input : input.toString('latin1');
}

/** Text that may hold names chosen by users (argv, comm, interface and cgroup names): UTF-8. */
export function asUtf8(input: Buffer | string): string {
  return typeof input === 'string' ? input : input.toString('utf8');
}

const UINT = /^\d+$/;
const UDEC = /^\d+(\.\d+)?$/;

/** A non-negative safe integer, or null. */
export function counter(s: string | undefined): number | null {
  if (s === undefined || !UINT.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** A non-negative decimal such as a load average or an uptime, or null. */
export function decimal(s: string | undefined): number | null {
  if (s === undefined || !UDEC.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) && n <= Number.MAX_SAFE_INTEGER ? n : null;
}

/** `kB`-suffixed values of status and meminfo, in bytes; the product must stay exact too. */
export function kibToBytes(s: string | undefined): number | null {
  if (s === undefined) return null;
  const m = /^(\d+)\s*kB$/.exec(s.trim());
  if (!m) return null;
  const n = counter(m[1]);
  if (n === null) return null;
  const bytes = n * 1024;
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/**
 * `Key:   value` lines (status, meminfo, cpuinfo, fdinfo, io). Keys keep their case; a later
 * duplicate does not override the first (cpuinfo repeats keys per processor).
 */
export function colonLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const key = line.slice(0, i).trim();
    if (!out.has(key)) out.set(key, line.slice(i + 1).trim());
  }
  return out;
}

// Byte-level helpers for the per-tick parsers: a tick over 1,000 VMs parses ~11,000 small files,
// and turning each into a string, splitting it and running regexes cost several times what the
// kernel needs to produce them. These read the bytes in place and allocate nothing.

/** Bytes to parse: Buffers as they are, strings (tests, callers with text) as latin1. */
export function asBytes(input: Buffer | string): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
}

/** The whitespace of JS `\s` / trim() that latin1 text can hold. */
export function isSpace(b: number): boolean {
  return b === 32 || (b >= 9 && b <= 13) || b === 0xa0;
}

/**
 * buf[start, end) as a non-negative safe integer, or -1 when it is empty, holds a non-digit or
 * is 2^53 or more (the same rule as counter()). Exact: every partial value below 2^53 is exact,
 * and a true value of 2^53 or more never rounds below it.
 */
export function uintAt(buf: Uint8Array, start: number, end: number): number {
  if (start >= end) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v <= Number.MAX_SAFE_INTEGER ? v : -1;
}

/** Like uintAt for `<n> kB` with optional whitespace before kB, in bytes; -1 if not that or not exact. */
export function kibAt(buf: Uint8Array, start: number, end: number): number {
  if (end - start < 3 || buf[end - 2] !== 0x6b /* k */ || buf[end - 1] !== 0x42 /* B */) return -1;
  let digitsEnd = end - 2;
  while (digitsEnd > start && isSpace(buf[digitsEnd - 1]!)) digitsEnd--;
  const n = uintAt(buf, start, digitsEnd);
  if (n < 0) return -1;
  const bytes = n * 1024;
  return Number.isSafeInteger(bytes) ? bytes : -1;
}

/**
 * Whitespace-separated unsigned fields (statm, schedstat): the first out.length values go into
 * `out` (-1 for a field that is not a counter); returns how many fields there are in all.
 */
export function uintFields(buf: Uint8Array, out: Float64Array): number {
  let count = 0;
  let i = 0;
  const n = buf.length;
  for (;;) {
    while (i < n && isSpace(buf[i]!)) i++;
    if (i >= n) return count;
    const start = i;
    while (i < n && !isSpace(buf[i]!)) i++;
    if (count < out.length) out[count] = uintAt(buf, start, i);
    count++;
  }
}

/**
 * Exactly out.length whitespace-separated counters (statm, schedstat) into `out`: null when they
 * are, else the failure saying why not.
 */
export function exactUintFields(input: Buffer | string, out: Float64Array, what: string): Failure | null {
  const count = uintFields(asBytes(input), out);
  if (count !== out.length) return malformed(what, `expected ${out.length} fields, got ${count}`);
  if (out.some((n) => n < 0)) {
    return malformed(what, `non-counter in ${JSON.stringify(asText(input).trim().split(/\s+/).join(' '))}`);
  }
  return null;
}

function bytesEqual(buf: Uint8Array, start: number, end: number, key: string): boolean {
  if (end - start !== key.length) return false;
  for (let j = 0; j < key.length; j++) if (buf[start + j] !== key.charCodeAt(j)) return false;
  return true;
}

/**
 * The byte form of colonLines() for a few wanted keys: for keys[k], spans[2k] and spans[2k+1]
 * become the trimmed value's [start, end) on the FIRST line with that (trimmed) key, or -1.
 */
export function colonSpans(buf: Uint8Array, keys: readonly string[], spans: Int32Array): void {
  spans.fill(-1);
  const n = buf.length;
  let lineStart = 0;
  let found = 0;
  // Stops once every key is found: in status, VmSwap comes about half-way.
  while (lineStart < n && found < keys.length) {
    // Most status lines are not wanted: when a line starts with no wanted key's first letter
    // (and no whitespace a trim would drop), only its end is looked for.
    const first = buf[lineStart]!;
    let wanted = isSpace(first);
    for (let k = 0; k < keys.length && !wanted; k++) wanted = keys[k]!.charCodeAt(0) === first;
    let colon = -1;
    let lineEnd = lineStart;
    if (!wanted) {
      while (lineEnd < n && buf[lineEnd] !== 10) lineEnd++;
      lineStart = lineEnd + 1;
      continue;
    }
    // One pass over the line for its end and its first ':' (Buffer.indexOf is a native call each).
    for (; lineEnd < n; lineEnd++) {
      const b = buf[lineEnd]!;
      if (b === 10) break;
      if (b === 58 && colon < 0) colon = lineEnd;
    }
    if (colon > lineStart) {
      let ks = lineStart;
      let ke = colon;
      while (ks < ke && isSpace(buf[ks]!)) ks++;
      while (ke > ks && isSpace(buf[ke - 1]!)) ke--;
      for (let k = 0; k < keys.length; k++) {
        if (spans[2 * k] !== -1 || !bytesEqual(buf, ks, ke, keys[k]!)) continue;
        let vs = colon + 1;
        let ve = lineEnd;
        while (vs < ve && isSpace(buf[vs]!)) vs++;
        while (ve > vs && isSpace(buf[ve - 1]!)) ve--;
        spans[2 * k] = vs;
        spans[2 * k + 1] = ve;
        found++;
        break;
      }
    }
    lineStart = lineEnd + 1;
  }
}
