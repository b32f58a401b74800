// A sysfs attribute holding one unsigned integer and a newline
// (/sys/class/net/<if>/statistics/rx_bytes and the like). Parsed from the bytes in place: four
// of these per TAP per tick.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, uintAt } from './parse-util.js';

export function parseCounter(input: Buffer | string): Outcome<number> {
  const buf = asBytes(input);
  const end = buf.length > 0 && buf[buf.length - 1] === 10 ? buf.length - 1 : buf.length;
  const n = uintAt(buf, 0, end);
  return n < 0 ? malformed('counter', `not a counter: ${JSON.stringify(buf.toString('latin1', 0, Math.min(end, 40)))}`) : ok(n);
}
