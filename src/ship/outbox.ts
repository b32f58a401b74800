// What the agent uses to ship: one object over the spool and the shipper.
//
//   const outbox = await openOutbox(readShipConfig(), logger);   // only when an endpoint is set
//   await outbox.enqueue(payload);      // when a window closes: durable once this resolves
//   outbox.stats();                     // for /metrics
//   await outbox.close({ flushMs });    // SIGTERM / SIGINT
//
// With no VMPULSE_ENDPOINT the agent creates no outbox: it samples and serves its local API, and
// nothing is spooled (a spool that nothing drains would only fill the disk up to its bound).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { encodePayload, type RecordMeta } from './codec.js';
import type { ShipConfig } from './config.js';
import { resolveAgentId } from './identity.js';
import type { ShipLogger } from './log.js';
import type { Payload } from './payload.js';
import { Shipper, type ShipperStats } from './shipper.js';
import { Spool, type SpoolStats } from './spool.js';

export interface OutboxStats {
  spool: SpoolStats;
  shipper: ShipperStats;
}

export interface Outbox {
  /** The AgentID payloads must carry (VMPULSE_AGENT_ID, /etc/machine-id, or kept in the spool). */
  readonly agentId: string;
  /** gzip + fsynced spool append, then wakes the shipper. Resolves once the batch is durable. */
  enqueue(payload: Payload): Promise<void>;
  /** As enqueue, for a batch already encoded (encodePayload); the bytes are spooled as given. */
  enqueueEncoded(batch: { gz: Buffer; meta: RecordMeta }): Promise<void>;
  /** BatchIDs of the spooled batches not yet acknowledged. */
  pendingBatchIds(): Set<string>;
  stats(): OutboxStats;
  /**
   * Tries to deliver what is pending for at most `flushMs` (default VMPULSE_SHIP_FLUSH_MS), then
   * stops. Acknowledged records are gone from disk; unacknowledged ones stay for the next start.
   * Resolves with how many remain.
   */
  close(opts?: { flushMs?: number }): Promise<{ remaining: number }>;
}

export function agentVersion(): string {
  try {
    return String(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
  } catch {
    return '0.0.0';
  }
}

/** How often the age bound is enforced when nothing is being appended. */
const EXPIRE_EVERY_MS = 60_000;

export async function openOutbox(config: ShipConfig, logger: ShipLogger, opts: { version?: string } = {}): Promise<Outbox> {
  if (config.endpoints.length === 0) throw new Error('openOutbox needs VMPULSE_ENDPOINT; without one the agent ships nothing');
  const spool = await Spool.open({
    dir: config.spoolDir,
    maxBytes: config.spoolMaxBytes,
    maxAgeSeconds: config.spoolMaxAgeSeconds,
    segmentMaxBytes: config.segmentMaxBytes,
    segmentMaxRecords: config.segmentMaxRecords,
    logger,
  });
  const { agentId } = resolveAgentId({ configured: config.agentId, spoolDir: config.spoolDir });
  if (!config.token) logger.warn({}, 'ship: VMPULSE_TOKEN is not set, batches are sent without Authorization');
  const shipper = new Shipper({
    spool,
    endpoints: config.endpoints,
    token: config.token,
    userAgent: `vmpulse-agent/${opts.version ?? agentVersion()}`,
    timeoutMs: config.timeoutMs,
    concurrency: config.concurrency,
    backoffInitialMs: config.backoffInitialMs,
    backoffMaxMs: config.backoffMaxMs,
    failbackMs: config.failbackMs,
    logger,
  });
  shipper.start();
  const expiry = setInterval(() => {
    spool.expire().catch((err: unknown) => logger.error({ err: String(err) }, 'spool: age expiry failed'));
  }, Math.min(EXPIRE_EVERY_MS, config.spoolMaxAgeSeconds * 1000));
  expiry.unref();
  let closing: Promise<{ remaining: number }> | undefined;

  return {
    agentId,
    async enqueue(payload) {
      if (closing) throw new Error('outbox is closed');
      const { gz, meta } = await encodePayload(payload);
      await spool.append(gz, meta);
      shipper.wake();
    },
    async enqueueEncoded({ gz, meta }) {
      if (closing) throw new Error('outbox is closed');
      await spool.append(gz, meta);
      shipper.wake();
    },
    pendingBatchIds() {
      return new Set(spool.pending(Number.MAX_SAFE_INTEGER).map((r) => r.batchId));
    },
    stats() {
      return { spool: spool.stats(), shipper: shipper.stats() };
    },
    close(o = {}) {
      closing ??= (async () => {
        clearInterval(expiry);
        const remaining = await shipper.flush(o.flushMs ?? config.flushMs);
        await shipper.stop();
        await spool.close();
        if (remaining > 0) logger.warn({ remaining }, 'ship: stopping with batches still spooled; they go out on the next start');
        return { remaining: spool.stats().records };
      })();
      return closing;
    },
  };
}
