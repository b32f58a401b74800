// /proc/<pid>/io. read_bytes/write_bytes are what reached the storage layer; rchar/wchar count
// every read()/write() including pipes and page-cache hits. Parsed from the bytes in place (one
// of these per VM per tick); same rules as colonLines + counter.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, colonSpans, uintAt } from './parse-util.js';

export interface ProcIo {
  readonly rchar: number;
  readonly wchar: number;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly cancelledWriteBytes: number;
}

const KEYS = ['rchar', 'wchar', 'read_bytes', 'write_bytes', 'cancelled_write_bytes'] as const;
const spans = new Int32Array(2 * KEYS.length);
const values = new Float64Array(KEYS.length);

export function parseIo(input: Buffer | string): Outcome<ProcIo> {
  const buf = asBytes(input);
  colonSpans(buf, KEYS, spans);
  for (let k = 0; k < KEYS.length; k++) {
    const n = spans[2 * k]! < 0 ? -1 : uintAt(buf, spans[2 * k]!, spans[2 * k + 1]!);
    if (n < 0) return malformed('io', `${KEYS[k]} missing or not a counter`);
    values[k] = n;
  }
  return ok({
    rchar: values[0]!,
    wchar: values[1]!,
    readBytes: values[2]!,
    writeBytes: values[3]!,
    cancelledWriteBytes: values[4]!,
  });
}
