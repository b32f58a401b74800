// /proc/<pid>/comm and /proc/<pid>/task/<tid>/comm: the name (at most 15 bytes) and a newline.
import { malformed, ok, type Outcome } from './outcome.js';
import { asUtf8 } from './parse-util.js';

export function parseComm(input: Buffer | string): Outcome<string> {
  const text = asUtf8(input);
  const name = text.endsWith('\n') ? text.slice(0, -1) : text;
  if (name.length === 0) return malformed('comm', 'empty');
  if (name.includes('\n') || name.includes('\0')) return malformed('comm', 'more than one line');
  return ok(name);
}
