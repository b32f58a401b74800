// The alarms API, admin credentials only:
//   PUT    /v1/alarms/{alarmName}          create or replace (PutAlarm fields + selector + contacts)
//   GET    /v1/alarms                      every alarm with its state per instance
//   GET    /v1/alarms/{alarmName}          one alarm
//   DELETE /v1/alarms/{alarmName}
//   GET    /v1/alarms/{alarmName}/history  transitions, newest first (?instanceId=&limit=)
// Errors are Lightsail-shaped (`{"__type": "InvalidInputException", "message", "code"}`), like
// the server's metric-data API, with the matching HTTP status.
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { AuthError, LightsailError, lightsailFromAuth } from '../errors.js';
import { classifyFault, replyFault } from '../fault.js';
import type { AlarmService } from './service.js';
import { parseAlarm } from './validate.js';

export interface AlarmRoutesOptions {
  service: AlarmService;
}

function sendError(reply: FastifyReply, e: unknown): FastifyReply {
  const fault = classifyFault(e);
  if (fault) return replyFault(reply, fault, 'lightsail') as FastifyReply;
  let le: LightsailError;
  if (e instanceof LightsailError) le = e;
  else if (e instanceof AuthError) le = lightsailFromAuth(e);
  else {
    const err = e as { statusCode?: number; message?: string };
    le =
      err.statusCode && err.statusCode >= 400 && err.statusCode < 500
        ? new LightsailError('InvalidInputException', err.message ?? 'bad request')
        : new LightsailError('ServiceException', 'internal error');
    if (!(err.statusCode && err.statusCode < 500)) reply.log.error({ err: e }, 'alarms API failed');
  }
  return reply.code(le.statusCode).type('application/json').send(le.body());
}

export const alarmRoutes: FastifyPluginAsync<AlarmRoutesOptions> = async (app: FastifyInstance, opts) => {
  const svc = opts.service;
  app.setErrorHandler((e, _req, reply) => sendError(reply, e));
  const admin = { onRequest: app.requireRole('admin') };

  app.put<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req, reply) => {
    const def = parseAlarm(req.body ?? null, req.params.alarmName);
    const outcome = await svc.put(def, 'api');
    return reply.code(outcome === 'created' ? 201 : 200).send({ alarmName: def.alarmName, outcome, alarm: await svc.get(def.alarmName) });
  });

  app.get('/v1/alarms', admin, async () => ({ alarms: await svc.list() }));

  app.get<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req) => svc.get(req.params.alarmName));

  app.delete<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req) => {
    await svc.delete(req.params.alarmName);
    return { alarmName: req.params.alarmName, deleted: true };
  });

  app.get<{ Params: { alarmName: string }; Querystring: { limit?: string; instanceId?: string } }>('/v1/alarms/:alarmName/history', admin, async (req) => {
    const q = req.query;
    let limit: number | undefined;
    if (q.limit !== undefined) {
      limit = Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw new LightsailError('InvalidInputException', 'limit must be an integer from 1 to 10000');
    }
    const entries = await svc.history(req.params.alarmName, { limit, instanceId: q.instanceId });
    return {
      alarmName: req.params.alarmName,
      history: entries.map((h) => ({
        timestamp: new Date(h.atMs).toISOString(),
        instanceId: h.instanceId,
        instanceName: h.instanceName,
        agentId: h.agentId,
        oldState: h.oldState,
        newState: h.newState,
        reason: h.reason,
        datapoints: h.datapoints,
      })),
    };
  });
};
