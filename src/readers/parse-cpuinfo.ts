// /proc/cpuinfo: one block per logical CPU. Only x86 (and some others) print `model name` and
// `cpu MHz`; where they are absent the value is null rather than a guess.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, colonLines, decimal } from './parse-util.js';

export interface CpuInfo {
  readonly modelName: string | null;
  /** Current clock of the first CPU, MHz. */
  readonly mhz: number | null;
  /** Number of `processor` entries: logical CPUs. */
  readonly count: number;
}

export function parseCpuinfo(input: Buffer | string): Outcome<CpuInfo> {
  const text = asText(input);
  const count = text.split('\n').filter((l) => /^processor\s*:/.test(l)).length;
  if (count === 0) return malformed('cpuinfo', 'no processor entries');
  const lines = colonLines(text);
  const rawMhz = lines.get('cpu MHz');
  const mhz = rawMhz === undefined ? null : decimal(rawMhz);
  if (rawMhz !== undefined && mhz === null) return malformed('cpuinfo', `bad cpu MHz ${JSON.stringify(rawMhz)}`);
  const modelName = lines.get('model name') ?? null;
  return ok({ modelName: modelName === '' ? null : modelName, mhz, count });
}
