// Environment of the alerting part of `vmpulse server`, read in one place.
//
//   VMPULSE_ALARMS_FILE                   JSON file of alarms loaded (upserted) at start   default unset
//   VMPULSE_ALARM_BUILTINS                1 = host-silent and VM-gone alarms on, 0 = off   default 1
//   VMPULSE_ALARM_DEFAULT_WEBHOOKS        comma-separated webhook URLs for the built-ins   default none
//   VMPULSE_ALARM_DEFAULT_ALERTMANAGERS   comma-separated Alertmanager base URLs for them  default none
//   VMPULSE_ALARM_EVAL_INTERVAL_MS        evaluate every this many ms instead of at each   default unset (every
//                                         minute boundary (tests)                                  minute boundary)
//   VMPULSE_ALARM_EVAL_LAG_SECONDS        ingest lag: a period is judged only once it ended default 60
//                                         this long ago, so the still-filling minute (the
//                                         agent ships each window after it closes) is not
//                                         taken for missing data
//   VMPULSE_ALARM_GONE_GRACE_SECONDS      a VM not seen for evaluationPeriods × period +    default 3600
//                                         this is gone for good: its state is removed
//   VMPULSE_ALARM_DELIVERY_INTERVAL_MS    how often the outbox is polled                   default 1000
//   VMPULSE_ALARM_RETRY_BASE_MS           first outbox retry delay, doubled per attempt    default 1000
//   VMPULSE_ALARM_RETRY_MAX_MS            longest delay between outbox retries              default 300000
//   VMPULSE_ALARM_DELIVERY_MAX_AGE_S      a notification undeliverable this long is dropped default 86400
//   VMPULSE_ALARM_HTTP_TIMEOUT_MS         per-request timeout of a delivery                default 5000
//   VMPULSE_ALERTMANAGER_RESEND_SECONDS   active alerts re-sent this often (< Alertmanager's default 60
//                                         resolve_timeout, 5 m by default)
//   VMPULSE_ALARM_PUBLIC_URL              base of Alertmanager generatorURL links          default http://<VMPULSE_SERVER_LISTEN>
import { ConfigError, envReader, intSetting, intVar, loadEnv } from '../../config/env.js';

export interface AlertConfig {
  alarmsFile: string | null;
  builtins: boolean;
  defaultWebhooks: string[];
  defaultAlertmanagers: string[];
  evalIntervalMs: number | null;
  lagSeconds: number;
  goneGraceSeconds: number;
  deliveryIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  deliveryMaxAgeS: number;
  httpTimeoutMs: number;
  resendSeconds: number;
  publicUrl: string;
}

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function loadAlertConfig(source: NodeJS.ProcessEnv = process.env): AlertConfig {
  const env = envReader(source);
  const listen = env.get('VMPULSE_SERVER_LISTEN').default('127.0.0.1:8480').asString();
  const raw = loadEnv(source);
  const DAY = 86_400;
  const retryBaseMs = intVar(raw, 'VMPULSE_ALARM_RETRY_BASE_MS', 1000, { min: 10, max: 3_600_000 });
  const retryMaxMs = intVar(raw, 'VMPULSE_ALARM_RETRY_MAX_MS', 300_000, { min: 10, max: DAY * 1000 });
  if (retryMaxMs < retryBaseMs) throw new ConfigError('VMPULSE_ALARM_RETRY_MAX_MS', 'VMPULSE_ALARM_RETRY_MAX_MS must not be below VMPULSE_ALARM_RETRY_BASE_MS');
  return {
    alarmsFile: env.get('VMPULSE_ALARMS_FILE').asString() || null,
    builtins: env.get('VMPULSE_ALARM_BUILTINS').default('1').asBool(),
    defaultWebhooks: list(env.get('VMPULSE_ALARM_DEFAULT_WEBHOOKS').asString()),
    defaultAlertmanagers: list(env.get('VMPULSE_ALARM_DEFAULT_ALERTMANAGERS').asString()),
    evalIntervalMs: intSetting(raw, 'VMPULSE_ALARM_EVAL_INTERVAL_MS', undefined, { min: 100, max: 3_600_000 }) ?? null,
    lagSeconds: intVar(raw, 'VMPULSE_ALARM_EVAL_LAG_SECONDS', 60, { min: 0, max: DAY }),
    goneGraceSeconds: intVar(raw, 'VMPULSE_ALARM_GONE_GRACE_SECONDS', 3600, { min: 0, max: 366 * DAY }),
    deliveryIntervalMs: intVar(raw, 'VMPULSE_ALARM_DELIVERY_INTERVAL_MS', 1000, { min: 10, max: 3_600_000 }),
    retryBaseMs,
    retryMaxMs,
    deliveryMaxAgeS: intVar(raw, 'VMPULSE_ALARM_DELIVERY_MAX_AGE_S', DAY, { min: 1, max: 366 * DAY }),
    httpTimeoutMs: intVar(raw, 'VMPULSE_ALARM_HTTP_TIMEOUT_MS', 5000, { min: 100, max: 600_000 }),
    resendSeconds: intVar(raw, 'VMPULSE_ALERTMANAGER_RESEND_SECONDS', 60, { min: 1, max: DAY }),
    publicUrl: env.get('VMPULSE_ALARM_PUBLIC_URL').asString() || `http://${listen}`,
  };
}

export const ALERT_ENV_HELP = `Alerting:
  VMPULSE_ALARMS_FILE                  alarms JSON file loaded at start (default unset)
  VMPULSE_ALARM_BUILTINS               host-silent + VM-gone alarms, 1/0 (default 1)
  VMPULSE_ALARM_DEFAULT_WEBHOOKS       webhook URLs for the built-ins, comma-separated (default none)
  VMPULSE_ALARM_DEFAULT_ALERTMANAGERS  Alertmanager URLs for the built-ins (default none)
  VMPULSE_ALARM_EVAL_INTERVAL_MS       fixed evaluation tick (default: each minute boundary)
  VMPULSE_ALARM_EVAL_LAG_SECONDS       ingest lag before a period is judged (default 60)
  VMPULSE_ALARM_GONE_GRACE_SECONDS     grace before an unseen VM's state is dropped (default 3600)
  VMPULSE_ALARM_DELIVERY_INTERVAL_MS   outbox poll (default 1000)
  VMPULSE_ALARM_RETRY_BASE_MS/_MAX_MS  outbox retry backoff (default 1000 / 300000)
  VMPULSE_ALARM_DELIVERY_MAX_AGE_S     give up on a notification after (default 86400)
  VMPULSE_ALARM_HTTP_TIMEOUT_MS        delivery request timeout (default 5000)
  VMPULSE_ALERTMANAGER_RESEND_SECONDS  re-send active alerts every (default 60)
  VMPULSE_ALARM_PUBLIC_URL             generatorURL base (default http://<VMPULSE_SERVER_LISTEN>)`;
