// Shared number rules for the parsers. Kernel counters are unsigned 64-bit; a JS number holds
// them exactly only up to 2^53-1, so anything larger is refused rather than silently rounded.

/** Bytes from procfs/sysfs are ASCII; latin1 never fails and never allocates replacement chars. */
export function asText(input: Buffer | string): string {
  return typeof input === 'string' ? input : input.toString('latin1');
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
