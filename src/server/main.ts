// `vmpulse server`: the central server until SIGINT/SIGTERM, then a clean close (exit code 0);
// a second signal during the close exits at once (130).
import { SERVER_ENV_HELP, loadServerConfig } from './config.js';
import { startServer } from './app.js';
import { loadAlertConfig } from './alerts/config.js';
import { drainOnSignal } from '../signals.js';
import { commandOptions } from '../cli-options.js';

export { startServer } from './app.js';

const HELP = `Usage: vmpulse server [--help]

Runs the central server: authenticated ingest (POST /v1/ingest), storage on SQLite or
PostgreSQL, and the query APIs (GET /v1/servers, /v1/servers/{agentId}/stats, /v1/instances,
/v1/instances/{id}/stats, /v1/instances/{id}/metric-data, and Lightsail's
GetInstanceMetricData over the AWS JSON 1.1 protocol at POST /).
Create credentials with \`vmpulse token create\`.

${SERVER_ENV_HELP}
`;

export async function main(argv: string[]): Promise<number> {
  const args = commandOptions('server', argv, {}, HELP);
  if (!args.ok) return args.exitCode;
  const config = loadServerConfig();
  // Read here too so that a refused alerting value stops the start before the store is opened.
  loadAlertConfig();
  const server = await startServer(config);
  server.app.log.info({ url: server.url, engine: server.store.engine }, 'vmpulse server listening');
  return drainOnSignal(server.app.log, 'shutting down: finishing the requests in flight (a second signal exits at once)', async () => {
    await server.close();
    return 0;
  });
}
