// Hypeman-style instance views: GET /v1/instances (the fleet) and GET /v1/instances/{id}/stats;
// GET /v1/instances/{id}/disks: per virtual disk, per minute (the hypervisor's disk counters).
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';
import { instanceStats } from '../present.js';
import { resolveInstance } from '../resolve.js';
import { globToRegExp } from '../glob.js';

interface ListQuery {
  host?: string;
  hypervisor?: string;
  name?: string;
}

export const instanceRoutes: FastifyPluginAsync = async (app) => {
  const reader = { onRequest: app.requireRole('reader') };

  app.get<{ Querystring: ListQuery }>('/v1/instances', reader, async (req) => {
    const q = req.query;
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    let rows = await app.store.listInstances({ host: str(q.host), hypervisor: str(q.hypervisor) });
    const name = str(q.name);
    if (name !== undefined) {
      const re = globToRegExp(name);
      rows = rows.filter((r) => re.test(r.name));
    }
    return rows.map(instanceStats);
  });

  app.get<{ Params: { id: string } }>('/v1/instances/:id/stats', reader, async (req) => {
    const r = await resolveInstance(app.store, req.params.id, true);
    if (!r.ok) throw new ApiError(r.kind === 'not_found' ? 404 : 409, r.kind, r.message);
    return instanceStats(r.row);
  });

  app.get<{ Params: { id: string }; Querystring: { start?: string; end?: string } }>('/v1/instances/:id/disks', reader, async (req) => {
    const now = Math.floor(Date.now() / 1000);
    const int = (v: string | undefined, name: string, def: number): number => {
      if (v === undefined || v === '') return def;
      if (!/^\d{1,12}$/.test(v)) throw new ApiError(400, 'invalid_parameter', `${name} must be unix seconds`);
      return Number(v);
    };
    const end = int(req.query.end, 'end', now);
    const start = int(req.query.start, 'start', end - 3600);
    if (start >= end) throw new ApiError(400, 'invalid_parameter', 'start must be before end');
    if (end - start > 15 * 86400) throw new ApiError(400, 'invalid_parameter', 'at most 15 days of minutes per request');
    const r = await resolveInstance(app.store, req.params.id, true);
    if (!r.ok) throw new ApiError(r.kind === 'not_found' ? 404 : 409, r.kind, r.message);
    const minutes = await app.store.instanceDiskMinutes(r.row.agentId, r.row.instanceId, start, end);
    return { instance_id: r.row.instanceId, instance_name: r.row.name, agent_id: r.row.agentId, start, end, minutes };
  });
};
