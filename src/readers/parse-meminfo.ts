// /proc/meminfo. Every `kB` line is kept (in bytes) so callers can pick fields without a new
// parser; the usual ones are named. MemAvailable is absent on kernels before 3.14: null then.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, kibToBytes } from './parse-util.js';

export interface Meminfo {
  readonly memTotalBytes: number;
  readonly memFreeBytes: number;
  readonly memAvailableBytes: number | null;
  readonly buffersBytes: number;
  readonly cachedBytes: number;
  readonly swapTotalBytes: number;
  readonly swapFreeBytes: number;
  /** Every `kB` line, bytes, by its meminfo name. */
  readonly all: Readonly<Record<string, number>>;
}

export function parseMeminfo(input: Buffer | string): Outcome<Meminfo> {
  const all: Record<string, number> = {};
  for (const line of asText(input).split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const raw = line.slice(i + 1).trim();
    if (!raw.endsWith('kB')) continue; // HugePages_Total and friends are counts, not sizes
    const v = kibToBytes(raw);
    if (v === null) return malformed('meminfo', `bad value in ${JSON.stringify(line)}`);
    all[line.slice(0, i)] = v;
  }
  const need = (k: string): number | null => all[k] ?? null;
  const memTotalBytes = need('MemTotal');
  const memFreeBytes = need('MemFree');
  const buffersBytes = need('Buffers');
  const cachedBytes = need('Cached');
  const swapTotalBytes = need('SwapTotal');
  const swapFreeBytes = need('SwapFree');
  if (memTotalBytes === null || memFreeBytes === null || buffersBytes === null || cachedBytes === null ||
      swapTotalBytes === null || swapFreeBytes === null) {
    return malformed('meminfo', 'MemTotal, MemFree, Buffers, Cached, SwapTotal or SwapFree missing');
  }
  return ok({
    memTotalBytes,
    memFreeBytes,
    memAvailableBytes: need('MemAvailable'),
    buffersBytes,
    cachedBytes,
    swapTotalBytes,
    swapFreeBytes,
    all,
  });
}
