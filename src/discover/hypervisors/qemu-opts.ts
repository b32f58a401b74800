// QEMU's option-value syntax (util/qemu-option.c): `key=value,key=value`, a doubled comma `,,`
// stands for a literal comma inside a value, the first element may omit its key (the "implied"
// key: `-name foo` is `-name guest=foo`, `-m 512` is `-m size=512`), a bare `flag` means
// flag=on. libvirt writes the newer JSON form (`-object {"qom-type":...}`), recognised by `{`.

/** Reads one value up to a single comma; returns the value and the index after that comma. */
function readValue(s: string, i: number): [string, number] {
  let v = '';
  while (i < s.length) {
    const c = s[i]!;
    if (c === ',') {
      if (s[i + 1] === ',') {
        v += ',';
        i += 2;
        continue;
      }
      return [v, i + 1];
    }
    v += c;
    i++;
  }
  return [v, i];
}

function fromJson(text: string): Map<string, string> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (typeof v === 'string') out.set(k, v);
    else if (typeof v === 'number' && Number.isFinite(v)) out.set(k, String(v));
    else if (typeof v === 'boolean') out.set(k, v ? 'on' : 'off');
  }
  return out;
}

/**
 * Key/value pairs of one option value; null when JSON was announced but did not parse.
 * Numbers from JSON come back as decimal strings (JSON sizes are bytes).
 */
export function parseQemuOpts(value: string, impliedKey: string | null): Map<string, string> | null {
  if (value.trimStart().startsWith('{')) return fromJson(value);
  const out = new Map<string, string>();
  let i = 0;
  let first = true;
  while (i < value.length) {
    const rest = value.slice(i);
    const stop = rest.search(/[=,]/);
    if (stop === -1 || rest[stop] === ',') {
      if (first && impliedKey) {
        const [v, next] = readValue(value, i);
        out.set(impliedKey, v);
        i = next;
      } else {
        const name = stop === -1 ? rest : rest.slice(0, stop);
        if (name) out.set(name, 'on');
        i += stop === -1 ? rest.length : stop + 1;
      }
    } else {
      const [v, next] = readValue(value, i + stop + 1);
      out.set(rest.slice(0, stop), v);
      i = next;
    }
    first = false;
  }
  return out;
}

/** Whether the value was written as JSON (then sizes are bytes, never MiB). */
export function isJsonOpts(value: string): boolean {
  return value.trimStart().startsWith('{');
}
