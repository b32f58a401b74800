// Hypeman-style instance views: GET /v1/instances (the fleet) and GET /v1/instances/{id}/stats.
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
};
