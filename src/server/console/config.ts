// The console's environment:
//   VMPULSE_CONSOLE_SESSION_TTL_S   seconds a console sign-in lasts   default 43200 (12 h)
import { intVar, loadEnv } from '../../config/env.js';

export function loadConsoleSessionTtl(source: NodeJS.ProcessEnv = process.env): number {
  return intVar(loadEnv(source), 'VMPULSE_CONSOLE_SESSION_TTL_S', 43200, { min: 60, max: 2_592_000 });
}
