// /proc/net/dev: every interface of the reader's network namespace in one read. Two header
// lines, then `name: 8 receive fields 8 transmit fields`.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter } from './parse-util.js';

export interface NetDevCounters {
  readonly name: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrs: number;
  readonly rxDrop: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrs: number;
  readonly txDrop: number;
}

export function parseNetDev(input: Buffer | string): Outcome<NetDevCounters[]> {
  const lines = asText(input).split('\n');
  if (lines.length < 2 || !lines[0]!.includes('|') || !lines[1]!.includes('|')) {
    return malformed('net/dev', 'no header');
  }
  const out: NetDevCounters[] = [];
  for (const line of lines.slice(2)) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return malformed('net/dev', `no "name:" in ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(counter);
    if (f.length !== 16 || f.some((n) => n === null)) return malformed('net/dev', `bad counters for ${name}`);
    out.push({
      name,
      rxBytes: f[0]!,
      rxPackets: f[1]!,
      rxErrs: f[2]!,
      rxDrop: f[3]!,
      txBytes: f[8]!,
      txPackets: f[9]!,
      txErrs: f[10]!,
      txDrop: f[11]!,
    });
  }
  return ok(out);
}
