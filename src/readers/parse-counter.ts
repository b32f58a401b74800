// A sysfs attribute holding one unsigned integer and a newline
// (/sys/class/net/<if>/statistics/rx_bytes and the like).
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export function parseCounter(input: Buffer | string): Outcome<number> {
  const text = asText(input);
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  const n = counter(body);
  return n === null ? malformed('counter', `not a counter: ${JSON.stringify(body.slice(0, 40))}`) : ok(n);
}
