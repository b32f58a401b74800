// Webhook notifications: one JSON POST per state transition. Delivery is at-least-once (the outbox
// retries until the receiver answers 2xx), so every copy of one transition carries the same
// dedupKey and a receiver that keeps the keys it has seen handles each transition exactly once.
import got from 'got';
import type { AlarmDefinition, AlarmState, Datapoint } from '../types.js';

export interface WebhookBody {
  dedupKey: string;
  alarm: Omit<AlarmDefinition, 'contacts'>;
  instance: { id: string; name: string; agentId: string };
  state: AlarmState;
  previousState: AlarmState | null;
  reason: string;
  datapoints: Datapoint[];
  /** ISO 8601 time of the transition. */
  timestamp: string;
}

export function webhookBody(
  def: AlarmDefinition,
  inst: { instanceId: string; name: string; agentId: string },
  t: { dedupKey: string; state: AlarmState; previousState: AlarmState | null; reason: string; datapoints: Datapoint[]; atMs: number },
): WebhookBody {
  const { contacts: _contacts, ...alarm } = def;
  return {
    dedupKey: t.dedupKey,
    alarm,
    instance: { id: inst.instanceId, name: inst.name, agentId: inst.agentId },
    state: t.state,
    previousState: t.previousState,
    reason: t.reason,
    datapoints: t.datapoints,
    timestamp: new Date(t.atMs).toISOString(),
  };
}

export interface SendOptions {
  timeoutMs: number;
  /** Quick in-call retries (got's own backoff); the outbox retries beyond these. */
  retries: number;
}

/** POSTs an already serialised body; throws on anything but 2xx. */
export async function postJson(url: string, body: string, extraHeaders: Record<string, string>, o: SendOptions): Promise<number> {
  const res = await got.post(url, {
    body,
    headers: { 'content-type': 'application/json', 'user-agent': 'vmpulse-alerts', ...extraHeaders },
    timeout: { request: o.timeoutMs },
    retry: { limit: o.retries, methods: ['POST'], backoffLimit: 2000 },
    throwHttpErrors: true,
    followRedirect: false,
  });
  return res.statusCode;
}

export function sendWebhook(url: string, body: string, dedupKey: string, o: SendOptions): Promise<number> {
  // The key also travels as a header, so a receiver can dedup before parsing the body.
  return postJson(url, body, { 'idempotency-key': dedupKey, 'x-vmpulse-dedup-key': dedupKey }, o);
}
