// POST /v1/ingest: one agent batch, stored whole or not at all, at most once per BatchID.
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { IngestGate } from '../backpressure.js';
import { ApiError } from '../errors.js';
import type { DecodePool } from '../ingest/decode-pool.js';
import type { IngestOptions as StoreIngestOptions, IngestResult } from '../store/store.js';
import { learnAgentWindow } from '../agent-windows.js';

export interface IngestOptions {
  maxBodyBytes: number;
  retentionDays: number;
  /** Admission before authentication and before the body is buffered. */
  gate?: IngestGate;
  /** Decodes bodies: into rows, off the event loop, for stores that take rows (Store.ingestRows); into payloads for the others. */
  decoder: DecodePool;
}

const DAY = 86400;

/** What the route needs of a decoded body, whichever way it was decoded. */
interface Received {
  batchId: string;
  agentId: string;
  windowSeconds: number | undefined;
  store(): Promise<IngestResult>;
}

export const ingestRoutes: FastifyPluginAsync<IngestOptions> = async (app: FastifyInstance, opts) => {
  // The raw bytes are needed (gunzip, then parse); this scope replaces Fastify's JSON parser.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: opts.maxBodyBytes }, (_req, body, done) => done(null, body));

  const decode = async (raw: Buffer, encoding: string | undefined, bounds: StoreIngestOptions): Promise<Received> => {
    const store = app.store;
    const task = { body: raw, encoding, maxBodyBytes: opts.maxBodyBytes };
    if (store.ingestRows) {
      const d = await opts.decoder.decode({ ...task, opts: bounds });
      return { batchId: d.batch.batchId, agentId: d.batch.agentId, windowSeconds: d.windowSeconds, store: () => store.ingestRows!(d.batch) };
    }
    const payload = await opts.decoder.payload(task);
    return { batchId: payload.BatchID, agentId: payload.AgentID, windowSeconds: payload.WindowSeconds, store: () => store.ingest(payload, bounds) };
  };

  app.post('/v1/ingest', { onRequest: opts.gate ? [opts.gate.admitHook(), app.requireRole('agent')] : app.requireRole('agent'), preHandler: opts.gate ? opts.gate.slotHook() : [], bodyLimit: opts.maxBodyBytes }, async (req, reply) => {
    const raw = req.body;
    if (!Buffer.isBuffer(raw) || raw.length === 0) throw new ApiError(400, 'invalid_json', 'the body is empty');
    const enc = req.headers['content-encoding'];
    const now = Math.floor(Date.now() / 1000);
    const batch = await decode(raw, Array.isArray(enc) ? enc.join(',') : enc, { receivedAt: now, minMinute: now - opts.retentionDays * DAY, maxMinute: now + DAY });

    const key = req.headers['idempotency-key'];
    if (key !== undefined && key !== batch.batchId) {
      throw new ApiError(400, 'idempotency_key_mismatch', 'the Idempotency-Key header must equal the BatchID of the body', { field: '/BatchID' });
    }

    const token = req.principal!;
    if (token.role === 'agent') {
      // An unbound agent credential is bound to the first AgentID it writes a valid batch for.
      const bound = token.agentId ?? (await app.store.bindToken(token.accessKeyId, batch.agentId));
      if (bound !== batch.agentId) {
        throw new ApiError(403, 'agent_mismatch', `this credential is bound to agent ${JSON.stringify(bound)} and may not write batches of agent ${JSON.stringify(batch.agentId)}`);
      }
    }

    const result = await batch.store();
    if (result.status === 'duplicate') return reply.code(200).send({ status: 'duplicate', batch_id: batch.batchId });
    learnAgentWindow(app.store, batch.agentId, batch.windowSeconds);
    const c = result.counts;
    return reply.code(200).send({
      status: 'stored',
      batch_id: batch.batchId,
      host_minutes: c.hostMinutes,
      instance_minutes: c.instanceMinutes,
      instances: c.instances,
      skipped_minutes: c.skippedMinutes,
    });
  });
};
