// One pino logger per process: JSON lines by default (what journald and log shippers want),
// readable lines when stdout is a terminal or VMPULSE_LOG_FORMAT=pretty. Secrets are redacted.
import { pino, type Logger } from 'pino';
import { envReader } from './config/env.js';

/** The one list of what is never logged, whatever a log level or serializer would include. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'request.headers.authorization',
  'headers.authorization',
  'authorization',
  'req.headers["x-amz-security-token"]',
  // A console session cookie opens the API as its credential does.
  'req.headers.cookie',
  'request.headers.cookie',
  'headers.cookie',
  'res.headers["set-cookie"]',
  'token',
  'secret',
  '*.token',
  '*.secret',
];

/** pino's `redact` option for REDACT_PATHS (also for a child of a logger made elsewhere). */
export const REDACT = { paths: REDACT_PATHS, censor: '[redacted]' };

export function createLogger(name: string, source: NodeJS.ProcessEnv = process.env, levelOverride?: string): Logger {
  const env = envReader(source);
  const level = levelOverride ?? env.get('VMPULSE_LOG_LEVEL').default('info').asEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  const format = env.get('VMPULSE_LOG_FORMAT').default(process.stdout.isTTY ? 'pretty' : 'json').asEnum(['json', 'pretty']);
  const base = { level, name, redact: REDACT };
  if (format === 'pretty') {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base);
}
