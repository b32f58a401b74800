// POST /v1/ingest: one agent batch, stored whole or not at all, at most once per BatchID.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { IngestGate } from '../backpressure.js';
import { ApiError } from '../errors.js';
import { decodeBody, parsePayload } from '../validate.js';
import { toMinuteRecords } from '../minutes.js';
import { learnAgentWindow } from '../agent-windows.js';

export interface IngestOptions {
  maxBodyBytes: number;
  retentionDays: number;
  /** Admission before authentication and before the body is buffered. */
  gate?: IngestGate;
}

const DAY = 86400;

export const ingestRoutes: FastifyPluginAsync<IngestOptions> = async (app: FastifyInstance, opts) => {
  // The raw bytes are needed (gunzip, then parse); this scope replaces Fastify's JSON parser.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.maxBodyBytes }, (_req, body, done) => done(null, body));

  app.post('/v1/ingest', { onRequest: opts.gate ? [opts.gate.admitHook(), app.requireRole('agent')] : app.requireRole('agent'), preHandler: opts.gate ? opts.gate.slotHook() : [], bodyLimit: opts.maxBodyBytes }, async (req, reply) => {
    const raw = req.body;
    if (!Buffer.isBuffer(raw) || raw.length === 0) throw new ApiError(400, 'invalid_json', 'the body is empty');
    const enc = req.headers['content-encoding'];
    const body = await decodeBody(raw, Array.isArray(enc) ? enc.join(',') : enc, opts.maxBodyBytes);
    const payload = parsePayload(body);

    const key = req.headers['idempotency-key'];
    if (key !== undefined && key !== payload.BatchID) {
      throw new ApiError(400, 'idempotency_key_mismatch', 'the Idempotency-Key header must equal the BatchID of the body', { field: '/BatchID' });
    }

    const token = req.principal!;
    if (token.role === 'agent') {
      // An unbound agent credential is bound to the first AgentID it writes a valid batch for.
      const bound = token.agentId ?? (await app.store.bindToken(token.accessKeyId, payload.AgentID));
      if (bound !== payload.AgentID) {
        throw new ApiError(403, 'agent_mismatch', `this credential is bound to agent ${JSON.stringify(bound)} and may not write batches of agent ${JSON.stringify(payload.AgentID)}`);
      }
    }

    const now = Math.floor(Date.now() / 1000);
    const minutes = toMinuteRecords(payload);
    const result = await app.store.ingest(minutes, {
      receivedAt: now,
      minMinute: now - opts.retentionDays * DAY,
      maxMinute: now + DAY,
    });
    if (result.status === 'duplicate') return reply.code(200).send({ status: 'duplicate', batch_id: payload.BatchID });
    learnAgentWindow(app.store, payload.AgentID, payload.WindowSeconds);
    const c = result.counts;
    return reply.code(200).send({
      status: 'stored',
      batch_id: payload.BatchID,
      host_minutes: c.hostMinutes,
      instance_minutes: c.instanceMinutes,
      instances: c.instances,
      skipped_minutes: c.skippedMinutes,
    });
  });
};
