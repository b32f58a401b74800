// Alerting as one unit the server starts: the alert tables on the server's database, the alarms
// from the built-ins and VMPULSE_ALARMS_FILE, the evaluator and the delivery loop, and the routes.
//
//   const alerts = await startAlerting({ store, log: app.log });
//   await app.register(alarmRoutes, { alarms });   // in buildApp; alarms.service = alerts.service once started
//   ... on close: await alerts.stop();
import type { Store } from '../store/store.js';
import type { AlertDb } from './db.js';
import { loadAlertConfig, type AlertConfig } from './config.js';
import { Delivery } from './delivery.js';
import { Evaluator } from './evaluator.js';
import { AlarmService, builtinAlarms, readAlarmsFile, BUILTIN_HOST_SILENT, BUILTIN_VM_GONE } from './service.js';
import { alarmSource } from './alarm-source.js';
import type { BulkSource } from './bulk-source.js';

export { alarmRoutes } from './routes.js';
export { AlarmService } from './service.js';
export { Evaluator } from './evaluator.js';
export { Delivery } from './delivery.js';
export { AlertDb } from './db.js';
export { evaluate } from './evaluate.js';
export { loadAlertConfig, ALERT_ENV_HELP } from './config.js';
export { ALERT_MIGRATIONS } from './migrations.js';

/** What a caller (the server's config, a test) may set over the environment's values. */
export type AlertingOverrides = Partial<AlertConfig> & { loops?: boolean };

export interface AlertingOptions {
  /** The server's store; alerting persists through its connection (store.alarms). */
  store: Store;
  /** Applied over loadAlertConfig() (the VMPULSE_ALARM_* environment). */
  overrides?: AlertingOverrides;
  source?: BulkSource;
  /** Start the evaluation and delivery loops (default true). */
  loops?: boolean;
  log?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  /** With several replicas on one database, only the holder evaluates and delivers (src/server/lease.ts). */
  lease?: () => Promise<boolean>;
}

export interface Alerting {
  config: AlertConfig;
  db: AlertDb;
  service: AlarmService;
  evaluator: Evaluator;
  delivery: Delivery;
  stop(): Promise<void>;
}

export async function startAlerting(o: AlertingOptions): Promise<Alerting> {
  const { loops, ...over } = o.overrides ?? {};
  const config: AlertConfig = { ...loadAlertConfig(), ...over };
  const db = o.store.alarms;
  const service = new AlarmService(db, config.publicUrl);
  if (config.builtins) {
    for (const d of builtinAlarms({ webhooks: config.defaultWebhooks, alertmanagers: config.defaultAlertmanagers })) await service.put(d, 'builtin');
  } else {
    for (const name of [BUILTIN_HOST_SILENT, BUILTIN_VM_GONE]) {
      if ((await db.getAlarm(name))?.source === 'builtin') await service.delete(name);
    }
  }
  if (config.alarmsFile) for (const d of readAlarmsFile(config.alarmsFile)) await service.put(d, 'file');

  const evaluator = new Evaluator({
    db,
    source: o.source ?? alarmSource(o.store),
    lagSeconds: config.lagSeconds,
    goneGraceSeconds: config.goneGraceSeconds,
    publicUrl: config.publicUrl,
    concurrency: o.store.engine === 'postgres' ? 3 : 1,
    log: o.log,
    lease: o.lease,
  });
  const delivery = new Delivery({
    db,
    intervalMs: config.deliveryIntervalMs,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
    maxAgeS: config.deliveryMaxAgeS,
    httpTimeoutMs: config.httpTimeoutMs,
    resendSeconds: config.resendSeconds,
    publicUrl: config.publicUrl,
    log: o.log,
    lease: o.lease,
  });
  if ((o.loops ?? loops) !== false) {
    evaluator.start(config.evalIntervalMs);
    delivery.start();
  }
  return {
    config,
    db,
    service,
    evaluator,
    delivery,
    async stop() {
      await evaluator.stop();
      await delivery.stop();
    },
  };
}
