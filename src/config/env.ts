// One env-var reader for every component. VMPULSE_ENV_FILE names an optional file of KEY=VALUE
// lines (systemd EnvironmentFile syntax) whose values apply where the process environment has none.
import envVar from 'env-var';
import { readFileSync } from 'node:fs';

export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim().replace(/^export\s+/, '');
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) value = value.slice(1, -1);
    out[key] = value;
  }
  return out;
}

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string | undefined> {
  const file = source.VMPULSE_ENV_FILE;
  if (!file) return { ...source };
  const fromFile = parseEnvFile(readFileSync(file, 'utf8'));
  return { ...fromFile, ...source };
}

/** An env-var reader over the process environment merged with VMPULSE_ENV_FILE. */
export function envReader(source: NodeJS.ProcessEnv = process.env) {
  return envVar.from(loadEnv(source));
}

/** `host:port` → parts; used by every *_LISTEN variable. */
export function parseListen(value: string, name: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ConfigError(name, `${name} must be host:port, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * A configuration value that cannot be used. The commands exit with code 2 and print the message,
 * which always names the variable: a 0 or an absurd interval, window, size or count is refused at
 * start rather than dividing by zero or spinning later.
 */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/** Parses an integer variable within [min, max]; absent (or empty) gives the default. */
export function intSetting(env: Record<string, string | undefined>, name: string, def: number | undefined, range: IntRange): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const text = raw.trim();
  const v = /^[+-]?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < range.min || v > range.max) {
    throw new ConfigError(name, `${name} must be an integer from ${range.min} to ${range.max}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** intSetting for a variable that always has a default. */
export function intVar(env: Record<string, string | undefined>, name: string, def: number, range: IntRange): number {
  return intSetting(env, name, def, range)!;
}
