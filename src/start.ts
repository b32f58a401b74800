// `vmpulse start` (what `npm start` runs): the server on the embedded SQLite store and the agent
// shipping to it over loopback, in one process. Credentials are provisioned on the first start and
// kept (mode 0600) beside the database, so later starts reuse them.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createLogger } from './log.js';
import { isPostgresUrl } from './config/db-url.js';
import { loadServerConfig } from './server/config.js';
import { startServer, type RunningServer } from './server/app.js';
import { readShipConfig } from './ship/config.js';
import { startAgent, type RunningAgent } from './agent/main.js';
import { drainOnSignal } from './signals.js';
import { commandOptions } from './cli-options.js';

const HELP = `Usage: vmpulse start

Runs the server (VMPULSE_DB, default ./data/vmpulse.db on SQLite, listening on
VMPULSE_SERVER_LISTEN, default 127.0.0.1:8480) and the agent (local API on VMPULSE_LISTEN,
default 127.0.0.1:9464), the agent shipping every window to the server over loopback.

The fleet console is at the server's URL (http://127.0.0.1:8480/ by default); it is printed first.
On the first start it creates, next to the database:
  agent.token    the agent's credential (role agent, bound to this host's AgentID on first use)
  reader.token   a reader credential for the query APIs:
                 curl -H "Authorization: Bearer $(cat data/reader.token)" http://127.0.0.1:8480/v1/servers
The agent's spool defaults to data/spool (VMPULSE_SPOOL_DIR). Ctrl-C stops both: the open window
is closed and delivered before the server stops.`;

/** A credential kept in `file`; created when absent or no longer valid (revoked, other db). */
async function provision(server: RunningServer, file: string, role: 'agent' | 'reader', name: string): Promise<{ secret: string; created: boolean }> {
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    const row = await server.credentials.verifyBearer(secret);
    if (row && row.role === role) return { secret, created: false };
  }
  const c = await server.credentials.create(role, name);
  writeFileSync(file, c.secret + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { secret: c.secret, created: true };
}

export async function main(argv: string[]): Promise<number> {
  const args = commandOptions('start', argv, {}, HELP);
  if (!args.ok) return args.exitCode;
  const log = createLogger('vmpulse');
  const serverConfig = loadServerConfig();
  const sqlite = !isPostgresUrl(serverConfig.db);
  const dataDir = sqlite ? dirname(resolve(serverConfig.db)) : resolve('data');
  mkdirSync(dataDir, { recursive: true });
  const server = await startServer(serverConfig);
  let agent: RunningAgent | null = null;
  try {
    const agentToken = await provision(server, join(dataDir, 'agent.token'), 'agent', 'local agent (vmpulse start)');
    const readerToken = await provision(server, join(dataDir, 'reader.token'), 'reader', 'local reader (vmpulse start)');
    const ship = readShipConfig({ VMPULSE_SPOOL_DIR: join(dataDir, 'spool'), ...process.env, VMPULSE_ENDPOINT: server.url, VMPULSE_TOKEN: agentToken.secret });
    agent = await startAgent({ log, ship });
    const lines = [
      '',
      'vmpulse is running:',
      `  console       ${server.url}/   (sign in with the secret in ${join(dataDir, 'reader.token')})`,
      `  agent API     ${agent.api.url}/instances   (metrics: ${agent.api.url}/metrics)`,
      `  server API    ${server.url}/v1/servers     (Bearer token in ${join(dataDir, 'reader.token')})`,
      `  database      ${sqlite ? resolve(serverConfig.db) : 'PostgreSQL'}`,
      `  AgentID       ${agent.agentId}`,
      ...(agentToken.created || readerToken.created ? [`  credentials   created in ${dataDir} (agent.token, reader.token)`] : []),
      'Press Ctrl-C to stop.',
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } catch (err) {
    await agent?.stop().catch(() => {});
    await server.close().catch(() => {});
    throw err;
  }
  const running = agent;
  return drainOnSignal(log, 'stopping: the agent delivers its open window, then the server stops', async () => {
    const { remaining } = await running.stop();
    await server.close();
    log.info({ remaining }, 'stopped');
    return 0;
  });
}
