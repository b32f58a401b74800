// Alertmanager API v2 client side. Alertmanager expects its clients to re-send every active alert
// periodically and to send it once more with endsAt set when it resolves; an alert not re-sent
// within resolve_timeout (default 5 m) is resolved by Alertmanager itself. Firing alerts carry no
// endsAt, so the resend interval (default 60 s) must stay below resolve_timeout.
import type { AlarmDefinition, InstanceState } from '../types.js';
import { postJson, type SendOptions } from './webhook.js';

export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL: string;
}

export function amAlert(
  def: AlarmDefinition,
  st: Pick<InstanceState, 'instanceId' | 'instanceName' | 'agentId' | 'reason' | 'sinceMs'>,
  publicUrl: string,
  endsAtMs?: number,
): AmAlert {
  const a: AmAlert = {
    labels: {
      alertname: def.alarmName,
      instance_id: st.instanceId,
      instance_name: st.instanceName,
      agent_id: st.agentId,
      severity: def.severity,
      metric: def.metricName,
    },
    annotations: {
      summary: `${def.metricName} ${def.statistic} ${def.comparisonOperator} ${def.threshold} on ${st.instanceName || st.instanceId}`,
      description: st.reason,
    },
    startsAt: new Date(st.sinceMs).toISOString(),
    generatorURL: `${publicUrl.replace(/\/+$/, '')}/v1/alarms/${encodeURIComponent(def.alarmName)}`,
  };
  if (endsAtMs !== undefined) a.endsAt = new Date(endsAtMs).toISOString();
  return a;
}

export function alertsUrl(base: string): string {
  return `${base.replace(/\/+$/, '')}/api/v2/alerts`;
}

export function sendAlerts(base: string, body: string, o: SendOptions): Promise<number> {
  return postJson(alertsUrl(base), body, {}, o);
}
