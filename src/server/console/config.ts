// The console's environment:
//   VMPULSE_CONSOLE_SESSION_TTL_S   seconds a console sign-in lasts   default 43200 (12 h)
import { envReader } from '../../config/env.js';

export function loadConsoleSessionTtl(source: NodeJS.ProcessEnv = process.env): number {
  return envReader(source).get('VMPULSE_CONSOLE_SESSION_TTL_S').default(43200).asIntPositive();
}
