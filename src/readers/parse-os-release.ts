// /etc/os-release (os-release(5)): shell-style KEY=value with optional quotes. PRETTY_NAME
// defaults to "Linux" when absent, as the specification says.
import { ok, type Outcome } from './outcome.js';
import { asText } from './parse-util.js';

export interface OsRelease {
  readonly prettyName: string;
  readonly fields: Readonly<Record<string, string>>;
}

function unquote(v: string): string {
  if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v[v.length - 1] === v[0]) {
    const inner = v.slice(1, -1);
    return v[0] === '"' ? inner.replace(/\\(["\\`$])/g, '$1') : inner;
  }
  return v;
}

export function parseOsRelease(input: Buffer | string): Outcome<OsRelease> {
  const fields: Record<string, string> = {};
  for (const raw of asText(input).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue; // the spec says to ignore lines that are not assignments
    fields[m[1]!] = unquote(m[2]!);
  }
  return ok({ prettyName: fields.PRETTY_NAME || 'Linux', fields });
}
