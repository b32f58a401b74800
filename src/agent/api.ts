// The agent's local HTTP API (Fastify plugin): Hypeman-compatible stats, Nomad-style detail,
// HetrixTools-style history, Prometheus /metrics, health. It reads only the AgentView.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import type { Agg, HostWindow, InstanceWindow } from '../ship/payload.js';
import { buildDetail, type ThreadReads } from './detail.js';
import { hypemanInstanceStats } from './instance-stats.js';
import { type AgentMetrics, createAgentMetrics } from './metrics.js';
import { resolveInstance } from './resolve.js';
import type { AgentView, InstanceView, ThreadUsage } from './view.js';
import { deviceViewJson } from '../collect/disks/present.js';
import { loadAgentApiConfig } from './api-config.js';
import { DebugRequestLog } from '../http-log.js';
import { REDACT } from '../log.js';

export interface AgentApiOptions {
  /** Defaults to VMPULSE_LISTEN (127.0.0.1:9464). Port 0 picks a free port. */
  listen?: { host: string; port: number };
  /** Defaults to VMPULSE_API_TOKEN; undefined or empty: no authentication. */
  token?: string;
  /** Defaults to VMPULSE_METRICS_VM_LIMIT (2000). */
  labelBudget?: number;
  /** A pino logger to log through, or false for none; default: a pino logger at `info`. */
  logger?: FastifyBaseLogger | false;
  extraMetrics?: (registry: Registry) => void;
}

export interface AgentApi {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  readonly url: string;
  readonly metrics: AgentMetrics;
  close(): Promise<void>;
}

export interface AgentApiPluginOptions {
  view: AgentView;
  metrics: AgentMetrics;
  token?: string | undefined;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time bearer check: comparing digests keeps the token's length from leaking too. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  const presented = m ? m[1]!.trim() : '';
  const ok = timingSafeEqual(digest(presented), digest(token));
  return ok && presented.length > 0;
}

function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type('application/json; charset=utf-8').send({ code, message });
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const avg2 = (a: Agg | null) => (a ? round2(a.Avg) : null);

/** One window in the HetrixTools `Stats` style, with the exact aggregates under Detail. */
export function instanceStatsRow(w: InstanceWindow) {
  return {
    Minute: w.Minute,
    CPU: avg2(w.CPU),
    CPUCore: avg2(w.CPUCore),
    RAM: avg2(w.MemoryUtilization),
    NetIn: w.NetIn,
    NetOut: w.NetOut,
    DiskRead: w.DiskRead,
    DiskWrite: w.DiskWrite,
    Steal: avg2(w.Steal),
    Samples: w.Samples,
    /** Seconds of the window no reading covered whose counters it carries (agent restarted). */
    Unsampled: w.Unsampled ?? 0,
    Detail: w,
  };
}

export function hostStatsRow(w: HostWindow) {
  return {
    Minute: w.Minute,
    CPU: avg2(w.CPU),
    IOWait: avg2(w.IOWait),
    RAM: avg2(w.RAM),
    Swap: avg2(w.Swap),
    Disk: avg2(w.Disk),
    NetIn: w.NetIn,
    NetOut: w.NetOut,
    Steal: avg2(w.Steal),
    Load1: avg2(w.Load1),
    Samples: w.Samples,
    Detail: w,
  };
}

// Routes by path, so a known path with a wrong method can answer 405 with Allow.
const ROUTES: { path: string; re: RegExp }[] = [
  '/healthz',
  '/readyz',
  '/metrics',
  '/instances',
  '/instances/:id/stats',
  '/instances/:id/stats/detail',
  '/instances/:id/history',
  '/instances/:id/devices',
  '/host/history',
].map((path) => ({ path, re: new RegExp(`^${path.replace(/:id/g, '[^/]+')}$`) }));

const THREAD_PAIR_GAP_MS = 250;
const THREAD_PREV_MAX_AGE_MS = 300_000;
const MAX_HISTORY = 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const agentApiRoutes: FastifyPluginAsync<AgentApiPluginOptions> = async (app, { view, metrics, token }) => {
  if (token) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz' || req.url.startsWith('/healthz?')) return;
      if (!bearerMatches(req.headers.authorization, token)) {
        reply.header('WWW-Authenticate', 'Bearer realm="vmpulse"');
        return sendError(reply, 401, 'unauthorized', 'a valid "Authorization: Bearer <token>" header is required');
      }
    });
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      req.log.error({ err }, 'request failed');
      return sendError(reply, 500, 'internal', 'internal error');
    }
    // Client errors (bad URL encoding, body on GET ...) carry Fastify's own message, never a stack.
    return sendError(reply, status, 'bad_request', err.message);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD' && ROUTES.some((r) => r.re.test(path))) {
      reply.header('Allow', 'GET, HEAD');
      return sendError(reply, 405, 'method_not_allowed', `${req.method} is not allowed on ${path}; use GET`);
    }
    return sendError(reply, 404, 'not_found', `no route ${req.method} ${path}`);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const h = view.health();
    const body = {
      ready: h.ready,
      ticks: h.ticks,
      discoveries: h.discoveries,
      started_at: new Date(h.startedAtMs).toISOString(),
      last_tick_at: h.lastTickMs === null ? null : new Date(h.lastTickMs).toISOString(),
      last_discovery_at: h.lastDiscoveryMs === null ? null : new Date(h.lastDiscoveryMs).toISOString(),
      overrun_ticks: h.overrunTicks,
      report_queue: { queued: h.reportQueue.queued, capacity: h.reportQueue.capacity, full_waits: h.reportQueue.fullWaits },
    };
    if (h.ready) return body;
    return reply.code(503).send({ code: 'not_ready', message: 'waiting for the first discovery and the first tick', ...body });
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await metrics.render();
    return reply.type(metrics.contentType).send(text);
  });

  app.get('/instances', async () =>
    view.instances().map((iv) => ({
      instance_id: iv.vm.instanceId,
      instance_name: iv.vm.instanceName,
      hypervisor: iv.vm.hypervisor,
      pid: iv.vm.pid,
      starttime: iv.vm.starttime,
      allocated_vcpus: iv.vm.allocatedVcpus,
      allocated_memory_bytes: iv.vm.allocatedMemoryBytes,
      tap_devices: [...iv.vm.taps],
      vcpu_threads: iv.vm.vcpuTids.length,
      state: iv.state,
      id_source: iv.vm.idSource,
      discovered_at: new Date(iv.vm.discoveredAt).toISOString(),
      ...deviceViewJson(iv.devices, view.deviceRoundsEnabled === true),
    })),
  );

  // Per-disk counters, rates and the balloon of one VM, from the latest device round.
  app.get<{ Params: { id: string } }>('/instances/:id/devices', async (req, reply) => {
    const iv = resolve(req.params.id, reply);
    if (!iv) return reply;
    return { instance_id: iv.vm.instanceId, instance_name: iv.vm.instanceName, memory_rss_bytes: iv.latest?.rssBytes ?? null, ...deviceViewJson(iv.devices, view.deviceRoundsEnabled === true) };
  });

  /** Resolve `{id}`, or answer the error and return null. */
  function resolve(id: string, reply: FastifyReply): InstanceView | null {
    const r = resolveInstance(view.instances(), id);
    if (r.ok) return r.instance;
    void sendError(reply, r.code === 'ambiguous' ? 409 : 404, r.code, r.message);
    return null;
  }

  const exitedMessage = (iv: InstanceView) =>
    `instance ${JSON.stringify(iv.vm.instanceId)} is not running: its ${iv.vm.hypervisor} process (pid ${iv.vm.pid}) exited`;

  /** The fresh read of a resolved VM, or the error answered. */
  async function fresh(iv: InstanceView, reply: FastifyReply) {
    if (iv.state === 'gone') {
      void sendError(reply, 404, 'not_found', exitedMessage(iv));
      return null;
    }
    const s = await view.readFresh(iv.vm.key);
    if (s.ok) return s.value;
    if (s.kind === 'gone') void sendError(reply, 404, 'not_found', exitedMessage(iv));
    else void sendError(reply, 503, 'read_failed', `could not read instance ${JSON.stringify(iv.vm.instanceId)}: ${s.kind}`);
    return null;
  }

  app.get<{ Params: { id: string } }>('/instances/:id/stats', async (req, reply) => {
    const iv = resolve(req.params.id, reply);
    if (!iv) return reply;
    const s = await fresh(iv, reply);
    if (!s) return reply;
    return hypemanInstanceStats(iv.vm, s, view.clockTicksPerSecond);
  });

  // The previous thread read per VM: per-thread percentages need an interval, and the agent's
  // tick does not read threads.
  const lastThreads = new Map<string, { tMs: number; threads: readonly ThreadUsage[] }>();

  async function threadReads(key: string): Promise<ThreadReads | { error: string }> {
    const first = await view.threads(key);
    if (!first.ok) return { error: `${first.kind}: ${first.detail}` };
    let now = Date.now();
    let prev = lastThreads.get(key) ?? null;
    let cur = first.value;
    if (!prev || now - prev.tMs > THREAD_PREV_MAX_AGE_MS || now - prev.tMs < THREAD_PAIR_GAP_MS / 2) {
      // No usable earlier read: take a second one a moment later.
      await sleep(THREAD_PAIR_GAP_MS);
      const second = await view.threads(key);
      if (second.ok) {
        prev = { tMs: now, threads: first.value };
        now = Date.now();
        cur = second.value;
      } else prev = null;
    }
    lastThreads.set(key, { tMs: now, threads: cur });
    const live = new Set(view.instances().map((i) => i.vm.key));
    for (const k of lastThreads.keys()) if (!live.has(k)) lastThreads.delete(k);
    return { prev: prev?.threads ?? null, cur, seconds: prev ? (now - prev.tMs) / 1000 : 0 };
  }

  app.get<{ Params: { id: string } }>('/instances/:id/stats/detail', async (req, reply) => {
    const iv = resolve(req.params.id, reply);
    if (!iv) return reply;
    const s = await fresh(iv, reply);
    if (!s) return reply;
    const threads = await threadReads(iv.vm.key);
    return buildDetail(iv, s, threads, view.host().facts.CPUSpeed);
  });

  app.get<{ Params: { id: string } }>('/instances/:id/history', async (req, reply) => {
    const iv = resolve(req.params.id, reply);
    if (!iv) return reply;
    const windows = view.instanceHistory(iv.vm.key).slice(-MAX_HISTORY).reverse();
    return { InstanceID: iv.vm.instanceId, InstanceName: iv.vm.instanceName, Stats: windows.map(instanceStatsRow) };
  });

  app.get('/host/history', async () => {
    const windows = view.hostHistory().slice(-MAX_HISTORY).reverse();
    return { ...view.host().facts, Stats: windows.map(hostStatsRow) };
  });
};
// Not encapsulated (fastify-plugin): the auth hook, error and not-found handlers govern the whole server.
export const agentApiPlugin = fp(agentApiRoutes, { name: 'vmpulse-agent-api', fastify: '5.x' });

export async function startAgentApi(view: AgentView, opts: AgentApiOptions = {}): Promise<AgentApi> {
  const needEnv = opts.listen === undefined || opts.token === undefined || opts.labelBudget === undefined;
  const cfg = needEnv ? loadAgentApiConfig() : null;
  const listen = opts.listen ?? cfg!.listen;
  const token = opts.token !== undefined ? opts.token || undefined : cfg!.token;
  const labelBudget = opts.labelBudget ?? cfg!.labelBudget;
  const metrics = createAgentMetrics(view, { labelBudget, ...(opts.extraMetrics ? { extraMetrics: opts.extraMetrics } : {}) });

  let app: FastifyInstance;
  const quiet = { logController: new DebugRequestLog() };
  if (opts.logger === false) app = Fastify({ logger: false });
  else if (opts.logger) app = Fastify({ ...quiet, loggerInstance: opts.logger.child({ component: 'agent-api' }, { redact: REDACT }) }) as unknown as FastifyInstance;
  else app = Fastify({ ...quiet, logger: { level: 'info', redact: REDACT } }) as unknown as FastifyInstance;

  await app.register(agentApiPlugin, { view, metrics, token });
  await app.listen({ host: listen.host, port: listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : listen.port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return { url: `http://${host}:${port}`, metrics, close: () => app.close() };
}
