// /proc/<pid>/cmdline: arguments each followed by NUL. Zombies and kernel threads give an empty
// file, which is an empty argv, not an error. A process may rewrite its argv area, so a missing
// final NUL is tolerated.
import { ok, type Outcome } from './outcome.js';
import { asUtf8 } from './parse-util.js';

export function parseCmdline(input: Buffer | string): Outcome<string[]> {
  const text = asUtf8(input);
  if (text.length === 0) return ok([]);
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return ok(parts);
}
