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
  /** Filled in once alerting has started (the routes are registered before, in buildApp). */
  alarms: { readonly service: AlarmService | null };
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
  const svc = (): AlarmService => {
    if (!opts.alarms.service) throw new LightsailError('ServiceException', 'alerting is not running on this server');
    return opts.alarms.service;
  };
  app.setErrorHandler((e, _req, reply) => sendError(reply, e));
  const admin = { onRequest: app.requireRole('admin') };

  app.put<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req, reply) => {
    const def = parseAlarm(req.body ?? null, req.params.alarmName);
    const outcome = await svc().put(def, 'api');
    return reply.code(outcome === 'created' ? 201 : 200).send({ alarmName: def.alarmName, outcome, alarm: await svc().get(def.alarmName) });
  });

  app.get('/v1/alarms', admin, async () => ({ alarms: await svc().list() }));

  app.get<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req) => svc().get(req.params.alarmName));

  app.delete<{ Params: { alarmName: string } }>('/v1/alarms/:alarmName', admin, async (req) => {
    await svc().delete(req.params.alarmName);
    return { alarmName: req.params.alarmName, deleted: true };
  });

  // The route schema checks the query (Fastify coerces `limit` to an integer); its failure is
  // worded as before and answered through sendError as an InvalidInputException.
  const history = {
    ...admin,
    schema: { querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000 }, instanceId: { type: 'string' } } } },
    schemaErrorFormatter: () => new Error('limit must be an integer from 1 to 10000'),
  };
  app.get<{ Params: { alarmName: string }; Querystring: { limit?: number; instanceId?: string } }>('/v1/alarms/:alarmName/history', history, async (req) => {
    const q = req.query;
    const limit = q.limit;
    const entries = await svc().history(req.params.alarmName, { limit, instanceId: q.instanceId });
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
