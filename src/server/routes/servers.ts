// HetrixTools-style host views: GET /v1/servers, GET /v1/servers/{agentId}/stats (v1) and
// GET /v1/servers/{agentId}/metrics (v3-style history from the tiers, host-history.ts).
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';
import { hostHistory, parseHistoryQuery } from '../host-history.js';
import { instanceStats, serverFacts, serverMinute } from '../present.js';

export const serverRoutes: FastifyPluginAsync = async (app) => {
  const reader = { onRequest: app.requireRole('reader') };

  app.get('/v1/servers', reader, async () => (await app.store.listAgents()).map(serverFacts));

  app.get<{ Params: { agentId: string } }>('/v1/servers/:agentId/stats', reader, async (req) => {
    const agent = await app.store.getAgent(req.params.agentId);
    if (!agent) throw new ApiError(404, 'not_found', `no server with AgentID ${JSON.stringify(req.params.agentId)}`);
    // "the last 60 recorded minutes", newest first, as the HetrixTools API returns them.
    const minutes = await app.store.latestHostMinutes(agent.agentId, 60);
    const instances = await app.store.listInstances({ host: agent.agentId });
    return {
      ...serverFacts(agent),
      Stats: minutes.map(serverMinute),
      Instances: instances.filter((i) => i.agentId === agent.agentId).map(instanceStats),
    };
  });

  app.get<{ Params: { agentId: string }; Querystring: Record<string, unknown> }>('/v1/servers/:agentId/metrics', reader, async (req) => {
    const agent = await app.store.getAgent(req.params.agentId);
    if (!agent) throw new ApiError(404, 'not_found', `no server with AgentID ${JSON.stringify(req.params.agentId)}`);
    const now = Math.floor(Date.now() / 1000);
    const q = parseHistoryQuery(req.query, now);
    return { agent_id: agent.agentId, hostname: agent.hostname, interval: q.interval, from: q.from, to: q.to, data: await hostHistory(app.store, agent.agentId, q, now) };
  });
};
