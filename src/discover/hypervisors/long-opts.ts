// GNU/clap-style command lines (Cloud Hypervisor, Firecracker, crosvm): `--opt value`,
// `--opt=value`, `-c value`, and clap's multi-value form `--net "tap=a" "tap=b"`, where every
// following argument that does not start with `-` belongs to the option. Single-valued options
// read values[0]; a trailing positional (crosvm's kernel) may land in values[1..], harmlessly.

export interface LongOption {
  readonly name: string;
  readonly values: readonly string[];
}

export function collectOptions(argv: readonly string[]): LongOption[] {
  const out: { name: string; values: string[] }[] = [];
  let current: { name: string; values: string[] } | null = null;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
      const name = (eq > 0 ? arg.slice(0, eq) : arg).replace(/^--?/, '');
      current = { name, values: eq > 0 ? [arg.slice(eq + 1)] : [] };
      out.push(current);
    } else if (current) {
      current.values.push(arg);
    }
  }
  return out;
}

/** Values of every occurrence of any of the names, in order. */
export function valuesOf(opts: readonly LongOption[], ...names: string[]): string[][] {
  return opts.filter((o) => names.includes(o.name)).map((o) => [...o.values]);
}

/** First value of the last occurrence (the last one wins, as in most parsers). */
export function lastValue(opts: readonly LongOption[], ...names: string[]): string | null {
  const all = valuesOf(opts, ...names);
  for (let i = all.length - 1; i >= 0; i--) if (all[i]!.length > 0) return all[i]![0]!;
  return null;
}

/**
 * `key=value,key=value` where values may hold bracketed lists with commas
 * (`affinity=[0@[0,2]]`, `fd=[3,4]`). A leading element without `=` is stored under `implied`.
 */
export function parseKeyValues(text: string, implied: string | null = null): Map<string, string> {
  const out = new Map<string, string>();
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of text) {
    if (c === '[') depth++;
    else if (c === ']') depth = Math.max(0, depth - 1);
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  parts.forEach((p, idx) => {
    const eq = p.indexOf('=');
    if (eq > 0) out.set(p.slice(0, eq).trim(), p.slice(eq + 1).trim());
    else if (idx === 0 && implied && p.trim()) out.set(implied, p.trim());
    else if (p.trim()) out.set(p.trim(), 'on');
  });
  return out;
}
