// `vmpulse token create|list|revoke`: credentials in the server's database (VMPULSE_DB).
import { commandOptions } from '../cli-options.js';
import { SERVER_ENV_HELP, loadServerConfig } from './config.js';
import { openBackend } from './app.js';
import { ROLES, type Role } from './store/store.js';

const HELP = `Usage:
  vmpulse token create --role agent|reader|admin NAME [--agent-id ID] [--json]
  vmpulse token list [--json]
  vmpulse token revoke ACCESS_KEY_ID

create prints the secret once; it is never stored (only its SHA-256 is) and cannot be shown again.
The secret is the Bearer token for the REST API and, with the access key id, the AWS secret access
key for SigV4 (Lightsail GetInstanceMetricData).
Roles: agent → POST /v1/ingest only; reader → queries; admin → everything.
An agent credential made without --agent-id is bound to the AgentID of the first valid batch it
writes; from then on it may only write batches of that agent.
Credentials are derived from the server's master key (VMPULSE_SERVER_KEY_FILE): run this with the
same VMPULSE_DB and key file as the server.

${SERVER_ENV_HELP}
`;

const iso = (s: number | null) => (s === null ? null : new Date(s * 1000).toISOString());

export async function main(argv: string[]): Promise<number> {
  const parsed = commandOptions('token', argv, { role: { type: 'string' }, 'agent-id': { type: 'string' }, json: { type: 'boolean' } }, HELP, { positionals: true });
  if (!parsed.ok) return parsed.exitCode;
  const values = {
    role: typeof parsed.values.role === 'string' ? parsed.values.role : undefined,
    'agent-id': typeof parsed.values['agent-id'] === 'string' ? parsed.values['agent-id'] : undefined,
    json: parsed.values.json === true,
  };
  const [sub, ...rest] = parsed.positionals;
  if (!sub) {
    process.stdout.write(HELP);
    return 2;
  }
  const usage = (msg: string) => {
    process.stderr.write(`vmpulse token: ${msg}\n\n${HELP}`);
    return 2;
  };
  if (sub === 'create') {
    const role = values.role as Role | undefined;
    if (!role || !ROLES.includes(role)) return usage('--role must be agent, reader or admin');
    if (rest.length !== 1 || !rest[0]) return usage('create takes exactly one NAME');
    const agentId = values['agent-id'] ?? null;
    if (agentId !== null && role !== 'agent') return usage('--agent-id applies to agent credentials only');
    if (agentId !== null && !/^[A-Za-z0-9._:-]{1,128}$/.test(agentId)) return usage('--agent-id is not a valid AgentID');
    const { store, credentials } = await openBackend(loadServerConfig());
    try {
      const c = await credentials.create(role, rest[0], agentId);
      if (values.json) process.stdout.write(JSON.stringify(c) + '\n');
      else {
        process.stdout.write(
          `access_key_id: ${c.access_key_id}\nsecret:        ${c.secret}\nrole:          ${c.role}\nname:          ${c.name}\n` +
            (c.agent_id ? `agent_id:      ${c.agent_id}\n` : '') +
            'The secret is shown only now; store it safely.\n',
        );
      }
    } finally {
      await store.close();
    }
    return 0;
  }
  if (sub === 'list') {
    if (rest.length) return usage('list takes no arguments');
    const { store } = await openBackend(loadServerConfig());
    try {
      const rows = await store.listTokens();
      const out = rows.map((t) => ({
        access_key_id: t.accessKeyId,
        name: t.name,
        role: t.role,
        agent_id: t.agentId,
        created_at: iso(t.createdAt),
        revoked_at: iso(t.revokedAt),
      }));
      if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
      else {
        process.stdout.write(`${'ACCESS_KEY_ID'.padEnd(22)}${'ROLE'.padEnd(8)}${'NAME'.padEnd(24)}${'AGENT_ID'.padEnd(24)}${'CREATED'.padEnd(26)}REVOKED\n`);
        for (const t of out) {
          process.stdout.write(
            `${t.access_key_id.padEnd(22)}${t.role.padEnd(8)}${t.name.padEnd(24)}${(t.agent_id ?? '-').padEnd(24)}${String(t.created_at).padEnd(26)}${t.revoked_at ?? '-'}\n`,
          );
        }
      }
    } finally {
      await store.close();
    }
    return 0;
  }
  if (sub === 'revoke') {
    if (rest.length !== 1 || !rest[0]) return usage('revoke takes exactly one ACCESS_KEY_ID');
    const { store } = await openBackend(loadServerConfig());
    try {
      const ok = await store.revokeToken(rest[0], Math.floor(Date.now() / 1000));
      if (!ok) {
        process.stderr.write(`vmpulse token: no live credential ${JSON.stringify(rest[0])}\n`);
        return 1;
      }
      process.stdout.write(`revoked ${rest[0]}\n`);
    } finally {
      await store.close();
    }
    return 0;
  }
  return usage(`unknown subcommand ${JSON.stringify(sub)}`);
}
