// /proc/loadavg: `0.12 0.49 0.36 2/140 10726`.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, counter, decimal } from './parse-util.js';

export interface LoadAvg {
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
  readonly runnable: number;
  readonly entities: number;
  readonly lastPid: number;
}

export function parseLoadavg(input: Buffer | string): Outcome<LoadAvg> {
  const f = asText(input).trim().split(/\s+/);
  if (f.length !== 5) return malformed('loadavg', `expected 5 fields, got ${f.length}`);
  const [load1, load5, load15] = f.slice(0, 3).map(decimal);
  const slash = f[3]!.split('/');
  const runnable = counter(slash[0]);
  const entities = counter(slash[1]);
  const lastPid = counter(f[4]);
  if (load1 == null || load5 == null || load15 == null || slash.length !== 2 || runnable === null ||
      entities === null || lastPid === null) {
    return malformed('loadavg', `bad content ${JSON.stringify(f.join(' '))}`);
  }
  return ok({ load1, load5, load15, runnable, entities, lastPid });
}
