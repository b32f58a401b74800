// GetInstanceMetricData, served twice with Lightsail's error names:
//  - AWS JSON 1.1: POST / with X-Amz-Target: Lightsail_20161128.GetInstanceMetricData, SigV4-signed
//    with a credential's access_key_id and secret (any region), so the AWS SDK works unchanged;
//  - REST: GET /v1/instances/{id}/metric-data?metricName=&period=&startTime=&endTime=&unit=&statistics=
//    with Bearer auth.
import type { FastifyError, FastifyPluginAsync, FastifyReply } from 'fastify';
import { roleAllows } from '../auth.js';
import { AuthError, LightsailError, lightsailFromAuth } from '../errors.js';
import { classifyFault, replyFault } from '../fault.js';
import { getMetricDataFor, parseTime, type MetricDataResult } from '../metric-data.js';
import { resolveInstance } from '../resolve.js';
import { parseAuthorization, verifySigV4 } from '../sigv4.js';

const TARGET = 'Lightsail_20161128.GetInstanceMetricData';
const JSON11 = 'application/x-amz-json-1.1';

function wire(r: MetricDataResult): Record<string, unknown> {
  return { metricName: r.metricName, metricData: r.datapoints };
}

function numberParam(v: unknown, name: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new LightsailError('InvalidInputException', `${name} must be a number`);
  return n;
}

function stringParam(v: unknown, name: string): string {
  if (typeof v !== 'string' || v === '') throw new LightsailError('InvalidInputException', `${name} is required`);
  return v;
}

function statisticsParam(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => String(x).split(',')).map((s) => s.trim()).filter(Boolean);
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  throw new LightsailError('InvalidInputException', 'statistics is required');
}

export const lightsailRoutes: FastifyPluginAsync = async (app) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError | Error, req, reply: FastifyReply) => {
    const fault = classifyFault(err);
    if (fault) return replyFault(reply, fault, 'lightsail');
    let e: LightsailError;
    if (err instanceof LightsailError) e = err;
    else if (err instanceof AuthError) e = lightsailFromAuth(err);
    else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) e = new LightsailError('InvalidInputException', err.message);
    else {
      req.log.error({ err }, 'GetInstanceMetricData failed');
      e = new LightsailError('ServiceException', 'internal error');
    }
    void reply
      .code(e.statusCode)
      .header('x-amzn-ErrorType', e.type)
      .header('content-type', req.method === 'POST' ? JSON11 : 'application/json; charset=utf-8')
      .send(Buffer.from(JSON.stringify(e.body())));
  });

  app.post('/', async (req, reply) => {
    const target = req.headers['x-amz-target'];
    if (target !== TARGET) throw new LightsailError('UnknownOperationException', `unsupported operation ${JSON.stringify(target ?? '')}; only ${TARGET} is served`);
    const auth = parseAuthorization(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined);
    if (!auth) throw new LightsailError('UnauthenticatedException', 'missing or malformed AWS4-HMAC-SHA256 Authorization header');
    const cred = await app.credentials.forAccessKey(auth.accessKeyId);
    if (!cred) throw new LightsailError('UnauthenticatedException', 'the access key id is unknown or revoked');
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const why = verifySigV4({ method: req.method, url: req.raw.url ?? '/', headers: req.headers, body }, auth, cred.secret, 'lightsail');
    if (why) throw new LightsailError('UnauthenticatedException', why);
    if (!roleAllows(cred.token.role, 'reader')) throw new LightsailError('AccessDeniedException', `a ${cred.token.role} credential may not read metrics`);

    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.length ? body.toString('utf8') : '{}');
    } catch {
      throw new LightsailError('InvalidInputException', 'the request body is not JSON');
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw new LightsailError('InvalidInputException', 'the request body must be a JSON object');
    const instanceName = stringParam(input.instanceName, 'instanceName');
    const r = await resolveInstance(app.store, instanceName, false);
    if (!r.ok) throw new LightsailError(r.kind === 'not_found' ? 'NotFoundException' : 'InvalidInputException', r.message);
    const result = await getMetricDataFor(app.store, r.row, {
      metricName: stringParam(input.metricName, 'metricName'),
      period: numberParam(input.period, 'period'),
      startTime: parseTime(input.startTime, 'startTime'),
      endTime: parseTime(input.endTime, 'endTime'),
      unit: stringParam(input.unit, 'unit'),
      statistics: statisticsParam(input.statistics),
    });
    // A Buffer keeps the content type exactly as AWS sends it (no charset parameter).
    return reply.header('content-type', JSON11).send(Buffer.from(JSON.stringify(wire(result))));
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/instances/:id/metric-data',
    { onRequest: app.requireRole('reader') },
    async (req) => {
      const q = req.query;
      const r = await resolveInstance(app.store, req.params.id, true);
      if (!r.ok) throw new LightsailError(r.kind === 'not_found' ? 'NotFoundException' : 'InvalidInputException', r.message);
      const result = await getMetricDataFor(app.store, r.row, {
        metricName: stringParam(q.metricName, 'metricName'),
        period: numberParam(q.period, 'period'),
        startTime: parseTime(q.startTime, 'startTime'),
        endTime: parseTime(q.endTime, 'endTime'),
        unit: stringParam(q.unit, 'unit'),
        statistics: statisticsParam(q.statistics),
      });
      return { instance_id: r.row.instanceId, agent_id: r.row.agentId, ...wire(result) };
    },
  );
};
