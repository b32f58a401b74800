// The security review as data: every route the server serves and who may call it. The routes
// enforce this themselves (requireRole, the SigV4 check); test/server-authz.test.ts walks the
// table against a running server (each route × each role × no credential) and fails when a route
// is served that the table does not list, so a new route cannot go unreviewed.
import type { FastifyInstance } from 'fastify';
import type { Role } from './store/store.js';

export interface RouteAccess {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** 'public': no credential needed. Otherwise the roles allowed (admin passes every check). */
  allowed: 'public' | readonly Role[];
  /** How the credential is presented. */
  auth: 'none' | 'bearer' | 'sigv4';
  /** Who owns the route (for the reader of the review). */
  what: string;
}

const READ: readonly Role[] = ['reader', 'admin'];
/** Stands in the table for every GET route of a file the console's build produced (`/` included). */
export const STATIC_ROUTE = '/<console file>';
const STATIC_FILE = /^\/([\w.-]+\.(html|js|css|map|svg|png|ico|txt|woff2?))?$/;

export const ROUTE_ACCESS: readonly RouteAccess[] = [
  { method: 'GET', url: '/healthz', allowed: 'public', auth: 'none', what: 'liveness for load balancers; says only the engine' },
  { method: 'GET', url: '/v1/whoami', allowed: ['agent', 'reader', 'admin'], auth: 'bearer', what: 'the caller’s own credential' },
  { method: 'POST', url: '/v1/ingest', allowed: ['agent', 'admin'], auth: 'bearer', what: 'agent batches (an agent credential only for its own AgentID)' },
  { method: 'GET', url: '/v1/servers', allowed: READ, auth: 'bearer', what: 'hosts' },
  { method: 'GET', url: '/v1/servers/:agentId/stats', allowed: READ, auth: 'bearer', what: 'one host’s latest minutes' },
  { method: 'GET', url: '/v1/instances', allowed: READ, auth: 'bearer', what: 'VMs' },
  { method: 'GET', url: '/v1/instances/:id/stats', allowed: READ, auth: 'bearer', what: 'one VM' },
  { method: 'GET', url: '/v1/instances/:id/disks', allowed: READ, auth: 'bearer', what: 'one VM’s per-disk counters per minute' },
  { method: 'GET', url: '/v1/instances/:id/metric-data', allowed: READ, auth: 'bearer', what: 'GetInstanceMetricData over REST' },
  { method: 'POST', url: '/', allowed: READ, auth: 'sigv4', what: 'Lightsail GetInstanceMetricData (AWS JSON 1.1)' },
  { method: 'PUT', url: '/v1/alarms/:alarmName', allowed: ['admin'], auth: 'bearer', what: 'create or replace an alarm' },
  { method: 'GET', url: '/v1/alarms', allowed: ['admin'], auth: 'bearer', what: 'alarms (contacts hold webhook URLs)' },
  { method: 'GET', url: '/v1/alarms/:alarmName', allowed: ['admin'], auth: 'bearer', what: 'one alarm' },
  { method: 'GET', url: '/v1/alarms/:alarmName/history', allowed: ['admin'], auth: 'bearer', what: 'an alarm’s transitions' },
  { method: 'GET', url: '/v1/servers/:agentId/metrics', allowed: READ, auth: 'bearer', what: 'one host’s history (HetrixTools v3 style) from the tiers' },
  { method: 'GET', url: '/metrics', allowed: READ, auth: 'bearer', what: 'the server’s own Prometheus metrics (ingest, alarm passes, notifications)' },
  { method: 'GET', url: STATIC_ROUTE, allowed: 'public', auth: 'none', what: 'the console’s built files (index.html, its script and styles: one route per file)' },
  { method: 'POST', url: '/console/session', allowed: 'public', auth: 'none', what: 'console sign-in: a reader or admin secret in the body for a session cookie' },
  { method: 'GET', url: '/console/session', allowed: READ, auth: 'bearer', what: 'who is signed in, the CSRF token (bearer or session cookie)' },
  { method: 'POST', url: '/console/logout', allowed: READ, auth: 'bearer', what: 'ends the console session' },
  { method: 'GET', url: '/console/api/fleet', allowed: READ, auth: 'bearer', what: 'the console’s fleet table' },
  { method: 'GET', url: '/console/api/hosts/:agentId', allowed: READ, auth: 'bearer', what: 'the console’s host page' },
  { method: 'GET', url: '/console/api/vms/:agentId/:id', allowed: READ, auth: 'bearer', what: 'the console’s VM page' },
  { method: 'GET', url: '/console/api/alarms', allowed: READ, auth: 'bearer', what: 'alarms and states (contacts only for admins)' },
  { method: 'GET', url: '/console/api/alarms/:name/history', allowed: READ, auth: 'bearer', what: 'an alarm’s history for the console' },
  { method: 'GET', url: '/console/api/credentials', allowed: ['admin'], auth: 'bearer', what: 'credentials (never their secrets)' },
  { method: 'POST', url: '/console/api/credentials', allowed: ['admin'], auth: 'bearer', what: 'create a credential (its secret shown once)' },
  { method: 'DELETE', url: '/console/api/credentials/:id', allowed: ['admin'], auth: 'bearer', what: 'revoke a credential' },
  // Last: the walk in test/server-authz.test.ts deletes the alarm the routes above read.
  { method: 'DELETE', url: '/v1/alarms/:alarmName', allowed: ['admin'], auth: 'bearer', what: 'delete an alarm' },
];

const tracked = new WeakMap<FastifyInstance, { method: string; url: string }[]>();

/** Records every route registered on app from now on (call before any route is added). */
export function trackRoutes(app: FastifyInstance): void {
  const list: { method: string; url: string }[] = [];
  tracked.set(app, list);
  app.addHook('onRoute', (r) => {
    for (const m of Array.isArray(r.method) ? r.method : [r.method]) list.push({ method: String(m), url: r.url ?? r.path });
  });
}

/** The routes app serves, HEAD twins of GET routes left out (Fastify adds them; they answer as the GET does). */
export function servedRoutes(app: FastifyInstance): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  let files = 0;
  for (const r of tracked.get(app) ?? []) {
    if (r.method === 'HEAD') continue;
    if (r.method === 'GET' && STATIC_FILE.test(r.url)) {
      if (files++ === 0) out.push({ method: 'GET', url: STATIC_ROUTE });
    } else out.push(r);
  }
  return out;
}
