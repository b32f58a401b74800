// /proc/<pid>/io. read_bytes/write_bytes are what reached the storage layer; rchar/wchar count
// every read()/write() including pipes and page-cache hits.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, colonLines, counter } from './parse-util.js';

export interface ProcIo {
  readonly rchar: number;
  readonly wchar: number;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly cancelledWriteBytes: number;
}

const KEYS = ['rchar', 'wchar', 'read_bytes', 'write_bytes', 'cancelled_write_bytes'] as const;

export function parseIo(input: Buffer | string): Outcome<ProcIo> {
  const lines = colonLines(asText(input));
  const v: Record<string, number> = {};
  for (const k of KEYS) {
    const n = counter(lines.get(k));
    if (n === null) return malformed('io', `${k} missing or not a counter`);
    v[k] = n;
  }
  return ok({
    rchar: v.rchar!,
    wchar: v.wchar!,
    readBytes: v.read_bytes!,
    writeBytes: v.write_bytes!,
    cancelledWriteBytes: v.cancelled_write_bytes!,
  });
}
