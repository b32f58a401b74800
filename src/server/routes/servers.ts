// HetrixTools-style host views: GET /v1/servers and GET /v1/servers/{agentId}/stats.
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../errors.js';
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
};
