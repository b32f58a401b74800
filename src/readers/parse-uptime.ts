// /proc/uptime: seconds since boot and summed idle seconds of all CPUs.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText, decimal } from './parse-util.js';

export interface Uptime {
  readonly uptimeSeconds: number;
  readonly idleSeconds: number;
}

export function parseUptime(input: Buffer | string): Outcome<Uptime> {
  const f = asText(input).trim().split(/\s+/);
  const [uptimeSeconds, idleSeconds] = f.map(decimal);
  if (f.length !== 2 || uptimeSeconds == null || idleSeconds == null) {
    return malformed('uptime', `bad content ${JSON.stringify(f.join(' ').slice(0, 60))}`);
  }
  return ok({ uptimeSeconds, idleSeconds });
}
