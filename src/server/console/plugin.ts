// The fleet console: the browser app's files at `/` (built by `npm run build` into dist/console),
// sign-in and sign-out, and the JSON the pages read. Everything under /console/api is ordinary
// role-checked API (a Bearer credential works as well as the session cookie); statistics come from
// the same code as GetInstanceMetricData, never recomputed in the browser.
//
//   POST /console/session                   {token} → session cookie + {role, name, csrf, expires_at}
//   GET  /console/session                   who is signed in, and the CSRF token
//   POST /console/logout                    revokes the session (x-csrf-token)
//   GET  /console/api/fleet                 hosts, every VM with its latest window, totals
//   GET  /console/api/hosts/:agentId        facts, recent host minutes (?minutes=60..1440), its VMs
//   GET  /console/api/vms/:agentId/:id      facts, counters, every metric over ?range=&statistic=
//   GET  /console/api/alarms                alarms with per-instance states (contacts left out)
//   GET  /console/api/alarms/:name/history  transitions, newest first
//   GET|POST /console/api/credentials, DELETE /console/api/credentials/:id   (admin)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { RANGE_KEYS, RANGES, STATISTICS, VM_METRICS, rangeBounds, type RangeKey } from '../../console/ranges.js';
import { distRoot } from '../../paths.js';
import type { AlarmService } from '../alerts/service.js';
import { ApiError, AuthError, LightsailError } from '../errors.js';
import { getMetricDataFor } from '../metric-data.js';
import { instanceStats, serverFacts, serverMinute } from '../present.js';
import { ROLES, type Role } from '../store/store.js';
import { buildFleet, FLEET_WINDOW_COLUMNS } from './fleet.js';
import { SESSION_COOKIE, Sessions, clearedCookie, cookieValue, csrfTokenFor, foreignOrigin, sessionCookie } from './sessions.js';
import { diskTotals } from '../store/disk-minutes.js';

export const CONSOLE_ASSETS = join(distRoot, 'console');

/** Filled in once alerting has started (startServer); the alarm views read it per request. */
export interface ConsoleAlarms {
  service: AlarmService | null;
}

export interface ConsoleOptions {
  sessions: Sessions;
  /** Served over TLS: the cookie gets Secure. */
  secure: boolean;
  alarms: ConsoleAlarms;
  /** Where the built browser app is (default dist/console). */
  assets?: string;
}

const SECURITY_HEADERS: Record<string, string> = {
  // Nothing from elsewhere: scripts, styles and data all come from this server.
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

function sendApiError(reply: FastifyReply, e: unknown): FastifyReply {
  if (e instanceof ApiError) return reply.code(e.statusCode).send(e.body());
  if (e instanceof AuthError) return reply.code(e.kind === 'unauthenticated' ? 401 : 403).send({ code: e.kind === 'unauthenticated' ? 'unauthorized' : 'forbidden', message: e.message });
  if (e instanceof LightsailError) return reply.code(e.statusCode).send({ code: e.type, message: e.message });
  const fe = e as { statusCode?: number; code?: string; message?: string };
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return reply.code(fe.statusCode).send({ code: (fe.code ?? 'bad_request').toLowerCase(), message: fe.message ?? 'bad request' });
  }
  reply.log.error({ err: e }, 'console request failed');
  return reply.code(500).send({ code: 'internal', message: 'internal server error' });
}

export const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app: FastifyInstance, opts) => {
  const { sessions } = opts;
  const reader = { onRequest: app.requireRole('reader') };
  const admin = { onRequest: app.requireRole('admin') };
  app.setErrorHandler((e, _req, reply) => sendApiError(reply, e));
  app.addHook('onSend', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (req.url.startsWith('/console/')) reply.header('cache-control', 'no-store');
  });

  const assets = opts.assets ?? CONSOLE_ASSETS;
  if (existsSync(join(assets, 'index.html'))) {
    // wildcard: false registers one GET route per built file, so nothing else under / is shadowed.
    await app.register(fastifyStatic, { root: assets, prefix: '/', wildcard: false, index: ['index.html'], cacheControl: false });
  } else {
    app.get('/', async (_req, reply) =>
      reply.code(503).type('text/plain; charset=utf-8').send('The console is not built: run `npm run build` (it bundles src/console/web into dist/console).\n'),
    );
  }

  app.post<{ Body: unknown }>('/console/session', async (req, reply) => {
    // A login form posted from another site must not sign the browser in (login CSRF).
    if (foreignOrigin(req)) throw new AuthError('forbidden', 'cross-origin sign-in refused');
    const body = req.body as { token?: unknown } | null;
    const secret = body && typeof body === 'object' ? body.token : undefined;
    if (typeof secret !== 'string' || secret.trim() === '') throw new ApiError(400, 'bad_request', 'send {"token": "<secret>"} as JSON');
    const s = await sessions.signIn(secret.trim());
    if (!s) throw new AuthError('unauthenticated', 'that secret is not a valid reader or admin credential');
    req.log.info({ access_key_id: s.token.accessKeyId, role: s.token.role }, 'console sign-in');
    return reply
      .header('set-cookie', sessionCookie(s.id, sessions.ttlS, { secure: opts.secure }))
      .send({ role: s.token.role, name: s.token.name, access_key_id: s.token.accessKeyId, csrf: s.csrf, expires_at: s.expiresAt });
  });

  app.get('/console/session', reader, async (req) => {
    const t = req.principal!;
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const live = id ? await sessions.lookup(id) : null;
    return { role: t.role, name: t.name, access_key_id: t.accessKeyId, csrf: id && live ? csrfTokenFor(id) : null, expires_at: live?.expiresAt ?? null };
  });

  app.post('/console/logout', reader, async (req, reply) => {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    const revoked = id ? await sessions.signOut(id) : false;
    return reply.header('set-cookie', clearedCookie({ secure: opts.secure })).send({ signed_out: revoked });
  });

  app.get('/console/api/fleet', reader, async () => {
    const now = Math.floor(Date.now() / 1000);
    const agents = await app.store.listAgents();
    const hostLatest = new Map<string, Record<string, number | null> | null>();
    for (const a of agents) hostLatest.set(a.agentId, (await app.store.latestHostMinutes(a.agentId, 1))[0] ?? null);
    const instances = await app.store.listInstances();
    // Windows older than this are stale for a "now" table; the VM still shows, without figures.
    const latest = await app.store.latestInstanceWindows(now - 15 * 60, FLEET_WINDOW_COLUMNS);
    const alarmCounts = new Map<string, number>();
    if (opts.alarms.service) {
      for (const a of await opts.alarms.service.list()) {
        for (const s of a.states) if (s.state === 'ALARM') alarmCounts.set(`${s.agentId}\u0000${s.instanceId}`, (alarmCounts.get(`${s.agentId}\u0000${s.instanceId}`) ?? 0) + 1);
      }
    }
    return buildFleet(now, agents, hostLatest, instances, latest, alarmCounts);
  });

  app.get<{ Params: { agentId: string }; Querystring: { minutes?: string } }>('/console/api/hosts/:agentId', reader, async (req) => {
    const agent = await app.store.getAgent(req.params.agentId);
    if (!agent) throw new ApiError(404, 'not_found', `no host with AgentID ${JSON.stringify(req.params.agentId)}`);
    const minutes = req.query.minutes === undefined ? 60 : Number(req.query.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) throw new ApiError(400, 'bad_request', 'minutes must be an integer from 1 to 1440');
    const rows = await app.store.latestHostMinutes(agent.agentId, minutes);
    const vms = (await app.store.listInstances({ host: agent.agentId })).filter((i) => i.agentId === agent.agentId);
    return {
      ...serverFacts(agent),
      // Ascending, with the load averages and steal the HetrixTools record leaves out.
      Stats: rows.reverse().map((m) => ({ ...serverMinute(m), Steal: m.steal_avg ?? null, Load1: m.load1_avg ?? null, Load5: m.load5_avg ?? null, Load15: m.load15_avg ?? null, Seconds: m.seconds })),
      Instances: vms.map(instanceStats),
    };
  });

  app.get<{ Params: { agentId: string; id: string }; Querystring: { range?: string; statistic?: string } }>('/console/api/vms/:agentId/:id', reader, async (req) => {
    const rows = (await app.store.findInstances({ id: req.params.id })).filter((r) => r.agentId === req.params.agentId);
    const inst = rows[0];
    if (!inst) throw new ApiError(404, 'not_found', `no instance ${JSON.stringify(req.params.id)} on host ${JSON.stringify(req.params.agentId)}`);
    const range = (req.query.range ?? '1h') as RangeKey;
    if (!RANGE_KEYS.includes(range)) throw new ApiError(400, 'bad_request', `range must be one of ${RANGE_KEYS.join(', ')}`);
    const statistic = req.query.statistic ?? 'Average';
    if (!(STATISTICS as readonly string[]).includes(statistic)) throw new ApiError(400, 'bad_request', `statistic must be one of ${STATISTICS.join(', ')}`);
    const b = rangeBounds(range, Date.now() / 1000);
    const metrics: Record<string, { unit: string; points: [number, number][] }> = {};
    const key = ({ Average: 'average', Maximum: 'maximum', Minimum: 'minimum', Sum: 'sum', SampleCount: 'sampleCount' } as const)[statistic as (typeof STATISTICS)[number]];
    // Concurrently: on PostgreSQL each goes to a connection of the pool.
    const answers = await Promise.all(
      VM_METRICS.map((m) => getMetricDataFor(app.store, inst, { metricName: m.name, unit: m.unit, period: b.period, startTime: b.startTime, endTime: b.endTime, statistics: [statistic] })),
    );
    for (const [i, m] of VM_METRICS.entries()) metrics[m.name] = { unit: m.unit, points: answers[i]!.datapoints.map((d) => [d.timestamp, d[key]!]) };
    // Disk counters are kept per minute only (the minute tier's retention): a longer range adds up
    // what is kept, and says from when.
    const disksFrom = Math.max(b.startTime, b.endTime - app.store.retentionDays[60] * 86400);
    const disks = { from: disksFrom, to: b.endTime, devices: diskTotals(await app.store.instanceDiskMinutes(inst.agentId, inst.instanceId, disksFrom, b.endTime)) };
    return { instance: instanceStats(inst), range: { key: range, label: RANGES[range].label, ...b, statistic }, metrics, disks };
  });

  const alarmService = (): AlarmService => {
    if (!opts.alarms.service) throw new ApiError(503, 'alerting_unavailable', 'alerting is not running on this server');
    return opts.alarms.service;
  };
  app.get('/console/api/alarms', reader, async (req) => {
    const list = await alarmService().list();
    // Contacts may hold webhook URLs with secrets in them: admins only.
    const isAdmin = req.principal!.role === 'admin';
    return { alarms: list.map((a) => (isAdmin ? a : { ...a, contacts: null })) };
  });
  app.get<{ Params: { name: string }; Querystring: { instanceId?: string } }>('/console/api/alarms/:name/history', reader, async (req) => {
    const h = await alarmService().history(req.params.name, { limit: 200, instanceId: req.query.instanceId || undefined });
    return { history: h.map((x) => ({ timestamp: new Date(x.atMs).toISOString(), instanceId: x.instanceId, instanceName: x.instanceName, agentId: x.agentId, oldState: x.oldState, newState: x.newState, reason: x.reason })) };
  });

  const credentialView = (t: { accessKeyId: string; name: string; role: Role; agentId: string | null; createdAt: number; revokedAt: number | null }) => ({
    access_key_id: t.accessKeyId,
    name: t.name,
    role: t.role,
    agent_id: t.agentId,
    created_at: t.createdAt,
    revoked_at: t.revokedAt,
  });
  app.get('/console/api/credentials', admin, async () => ({ credentials: (await app.store.listTokens()).map(credentialView) }));
  app.post<{ Body: unknown }>('/console/api/credentials', admin, async (req, reply) => {
    const b = (req.body ?? {}) as { role?: unknown; name?: unknown };
    if (typeof b.role !== 'string' || !(ROLES as readonly string[]).includes(b.role)) throw new ApiError(400, 'bad_request', `role must be one of ${ROLES.join(', ')}`, { field: 'role' });
    if (typeof b.name !== 'string' || b.name.trim() === '' || b.name.length > 200) throw new ApiError(400, 'bad_request', 'name must be 1 to 200 characters', { field: 'name' });
    const c = await app.credentials.create(b.role as Role, b.name.trim());
    req.log.info({ access_key_id: c.access_key_id, role: c.role }, 'credential created from the console');
    // The secret is shown once, to the admin who made it; it is not stored anywhere.
    return reply.code(201).send(c);
  });
  app.delete<{ Params: { id: string } }>('/console/api/credentials/:id', admin, async (req) => {
    const revoked = await app.store.revokeToken(req.params.id, Math.floor(Date.now() / 1000));
    if (!revoked) throw new ApiError(404, 'not_found', `no live credential ${JSON.stringify(req.params.id)}`);
    return { access_key_id: req.params.id, revoked: true };
  });
};
