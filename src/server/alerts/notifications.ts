// What a state transition sends: the outbox rows of one transition (webhooks for the triggers the
// alarm names; Alertmanager firing and resolved), each carrying the transition's dedupKey.
import { ulid } from 'ulid';
import type { OutboxRow } from './db.js';
import { amAlert } from './notify/alertmanager.js';
import { webhookBody } from './notify/webhook.js';
import type { AlarmDefinition, AlarmState, Datapoint } from './types.js';

export interface Transition {
  inst: { instanceId: string; name: string; agentId: string };
  from: AlarmState | null;
  to: AlarmState;
  /** When the instance entered `from` (for Alertmanager's startsAt of a resolve). */
  fromSinceMs: number;
  reason: string;
  datapoints: Datapoint[];
  notify: boolean;
}

/** Outbox rows for one transition, after notificationEnabled / notificationTriggers filtering. */
export function notificationsFor(def: AlarmDefinition, t: Transition, historyId: string, atMs: number, publicUrl: string, newId: (ms: number) => string = ulid): OutboxRow[] {
  if (!def.notificationEnabled || !t.notify) return [];
  const out: OutboxRow[] = [];
  const dedupKey = `${def.alarmName}/${t.inst.instanceId}/${historyId}`;
  const row = (kind: OutboxRow['kind'], url: string, body: string): OutboxRow => ({
    id: newId(atMs),
    kind,
    url,
    alarmName: def.alarmName,
    instanceId: t.inst.instanceId,
    dedupKey,
    body,
    attempts: 0,
    nextMs: atMs,
    createdMs: atMs,
  });
  if (def.notificationTriggers.includes(t.to)) {
    const body = JSON.stringify(webhookBody(def, t.inst, { dedupKey, state: t.to, previousState: t.from, reason: t.reason, datapoints: t.datapoints, atMs }));
    for (const url of def.contacts.webhooks) out.push(row('webhook', url, body));
  }
  // Alertmanager sees only firing and resolved: an alert exists while the instance is in ALARM.
  // A resolve is always sent for an alert that was pushed, whatever the triggers say now.
  if (def.notificationTriggers.includes('ALARM')) {
    const st = { instanceId: t.inst.instanceId, instanceName: t.inst.name, agentId: t.inst.agentId, reason: t.reason };
    let alert: string | null = null;
    if (t.to === 'ALARM') alert = JSON.stringify([amAlert(def, { ...st, sinceMs: atMs }, publicUrl)]);
    else if (t.from === 'ALARM') alert = JSON.stringify([amAlert(def, { ...st, sinceMs: t.fromSinceMs }, publicUrl, atMs)]);
    if (alert) for (const url of def.contacts.alertmanagers) out.push(row('alertmanager', url, alert));
  }
  return out;
}
