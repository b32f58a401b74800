// Alarm management shared by the API, the alarms file and the built-ins.
import { readFileSync } from 'node:fs';
import { LightsailError } from '../errors.js';
import type { AlertDb, OutboxRow } from './db.js';
import { amAlert } from './notify/alertmanager.js';
import { parseAlarm } from './validate.js';
import type { AlarmDefinition, AlarmSource, AlarmState, HistoryEntry, InstanceState, StoredAlarm } from './types.js';
import { ulid } from 'ulid';

export const BUILTIN_HOST_SILENT = 'vmpulse-host-silent';
export const BUILTIN_VM_GONE = 'vmpulse-vm-gone';

/** The two built-in fleet alarms: 3 of 3 one-minute periods failing the status check. */
export function builtinAlarms(contacts: { webhooks: string[]; alertmanagers: string[] }): AlarmDefinition[] {
  const common = {
    selector: { all: true },
    statistic: 'Maximum',
    period: 60,
    comparisonOperator: 'GreaterThanOrEqualToThreshold',
    threshold: 1,
    evaluationPeriods: 3,
    datapointsToAlarm: 3,
    treatMissingData: 'missing',
    notificationTriggers: ['ALARM', 'OK'],
    notificationEnabled: true,
    severity: 'critical',
    contacts,
  };
  return [
    parseAlarm({ ...common, alarmName: BUILTIN_HOST_SILENT, metricName: 'StatusCheckFailed_System' }),
    parseAlarm({ ...common, alarmName: BUILTIN_VM_GONE, metricName: 'StatusCheckFailed_Instance' }),
  ];
}

/** Reads an alarms file: a JSON array of PutAlarm bodies, or `{ "alarms": [...] }`. */
export function readAlarmsFile(path: string): AlarmDefinition[] {
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`VMPULSE_ALARMS_FILE ${path}: ${(e as Error).message}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { alarms?: unknown })?.alarms;
  if (!Array.isArray(list)) throw new Error(`VMPULSE_ALARMS_FILE ${path}: expected an array of alarms or { "alarms": [...] }`);
  const seen = new Set<string>();
  return list.map((a, i) => {
    try {
      const d = parseAlarm(a);
      if (seen.has(d.alarmName)) throw new Error(`alarmName ${d.alarmName} appears twice`);
      seen.add(d.alarmName);
      return d;
    } catch (e) {
      throw new Error(`VMPULSE_ALARMS_FILE ${path}: alarm ${i}: ${(e as Error).message}`);
    }
  });
}

export interface StateView {
  instanceId: string;
  instanceName: string;
  agentId: string;
  state: AlarmState;
  reason: string;
  since: string;
  evaluatedAt: string;
}

export type AlarmView = AlarmDefinition & {
  source: AlarmSource;
  createdAt: string;
  updatedAt: string;
  /** The worst state over the instances (ALARM > INSUFFICIENT_DATA > OK); INSUFFICIENT_DATA with none. */
  state: AlarmState;
  states: StateView[];
};

export function summaryState(states: readonly { state: AlarmState }[]): AlarmState {
  if (states.some((s) => s.state === 'ALARM')) return 'ALARM';
  if (states.length === 0 || states.some((s) => s.state === 'INSUFFICIENT_DATA')) return 'INSUFFICIENT_DATA';
  return 'OK';
}

function view(a: StoredAlarm, states: InstanceState[]): AlarmView {
  return {
    ...a.definition,
    source: a.source,
    createdAt: new Date(a.createdMs).toISOString(),
    updatedAt: new Date(a.updatedMs).toISOString(),
    state: summaryState(states),
    states: states.map((s) => ({
      instanceId: s.instanceId,
      instanceName: s.instanceName,
      agentId: s.agentId,
      state: s.state,
      reason: s.reason,
      since: new Date(s.sinceMs).toISOString(),
      // A pass rewrites only changed states; the alarm records when its last pass ran.
      evaluatedAt: new Date(Math.max(s.evaluatedMs, a.evaluatedMs ?? 0)).toISOString(),
    })),
  };
}

export class AlarmService {
  constructor(
    readonly db: AlertDb,
    private readonly publicUrl: string,
  ) {}

  async put(def: AlarmDefinition, source: AlarmSource, nowMs = Date.now()): Promise<'created' | 'updated'> {
    return this.db.putAlarm(def, source, nowMs);
  }

  async get(name: string): Promise<AlarmView> {
    const a = await this.db.getAlarm(name);
    if (!a) throw new LightsailError('NotFoundException', `no alarm named ${JSON.stringify(name)}`);
    return view(a, await this.db.states(name));
  }

  async list(): Promise<AlarmView[]> {
    const alarms = await this.db.listAlarms();
    const byAlarm = new Map<string, InstanceState[]>();
    for (const s of await this.db.states()) {
      let l = byAlarm.get(s.alarmName);
      if (!l) byAlarm.set(s.alarmName, (l = []));
      l.push(s);
    }
    return alarms.map((a) => view(a, byAlarm.get(a.definition.alarmName) ?? []));
  }

  /** Deletes an alarm; alerts it has firing in Alertmanager are resolved rather than left to time out. */
  async delete(name: string, nowMs = Date.now()): Promise<void> {
    const a = await this.db.getAlarm(name);
    if (!a) throw new LightsailError('NotFoundException', `no alarm named ${JSON.stringify(name)}`);
    const d = a.definition;
    const outbox: OutboxRow[] = [];
    if (d.notificationEnabled && d.notificationTriggers.includes('ALARM')) {
      for (const s of await this.db.states(name)) {
        if (s.state !== 'ALARM') continue;
        const body = JSON.stringify([amAlert(d, { ...s, reason: 'Resolved: the alarm was deleted.' }, this.publicUrl, nowMs)]);
        for (const url of d.contacts.alertmanagers) {
          outbox.push({ id: ulid(nowMs), kind: 'alertmanager', url, alarmName: name, instanceId: s.instanceId, dedupKey: `${name}/${s.instanceId}/deleted-${nowMs}`, body, attempts: 0, nextMs: nowMs, createdMs: nowMs });
        }
      }
    }
    await this.db.deleteAlarm(name, outbox);
  }

  async history(name: string, opts: { limit?: number; instanceId?: string } = {}): Promise<HistoryEntry[]> {
    if (!(await this.db.getAlarm(name))) throw new LightsailError('NotFoundException', `no alarm named ${JSON.stringify(name)}`);
    return this.db.history(name, opts);
  }
}
