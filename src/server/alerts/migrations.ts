// The alerting tables. They live in the server's database and are recorded in its
// `schema_migrations` table under versions 1001+ (a range of their own, so the store's migrations
// 1, 2, ... never collide with them); the store's migrate() applies them with its own.

export interface AlertMigration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

const tables = (int: string, serialText: string): string => `
CREATE TABLE IF NOT EXISTS alarms (
  alarm_name TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  source TEXT NOT NULL,
  created_ms ${int} NOT NULL,
  updated_ms ${int} NOT NULL
);
CREATE TABLE IF NOT EXISTS alarm_states (
  alarm_name TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  instance_name TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL,
  since_ms ${int} NOT NULL,
  evaluated_ms ${int} NOT NULL,
  PRIMARY KEY (alarm_name, instance_id)
);
CREATE TABLE IF NOT EXISTS alarm_history (
  id ${serialText} PRIMARY KEY,
  alarm_name TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  instance_name TEXT NOT NULL,
  at_ms ${int} NOT NULL,
  old_state TEXT,
  new_state TEXT NOT NULL,
  reason TEXT NOT NULL,
  datapoints TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_history_alarm ON alarm_history (alarm_name, at_ms);
CREATE TABLE IF NOT EXISTS alarm_outbox (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  url TEXT NOT NULL,
  alarm_name TEXT NOT NULL,
  instance_id TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_ms ${int} NOT NULL,
  created_ms ${int} NOT NULL,
  done_ms ${int},
  outcome TEXT,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS alarm_outbox_due ON alarm_outbox (done_ms, next_ms);
CREATE INDEX IF NOT EXISTS alarm_outbox_key ON alarm_outbox (kind, url, alarm_name, instance_id);
`;

export const ALERT_MIGRATIONS: readonly AlertMigration[] = [
  {
    version: 1001,
    name: 'alerts: alarms, alarm_states, alarm_history, alarm_outbox',
    sqlite: tables('INTEGER', 'TEXT'),
    postgres: tables('BIGINT', 'TEXT'),
  },
  {
    // An evaluation pass records when it ran once per alarm, not by rewriting every unchanged state.
    version: 1002,
    name: 'alerts: alarms.evaluated_ms',
    sqlite: 'ALTER TABLE alarms ADD COLUMN evaluated_ms INTEGER;',
    postgres: 'ALTER TABLE alarms ADD COLUMN evaluated_ms BIGINT;',
  },
  {
    // The alarm query reads one window of minutes for the whole fleet; SQLite's store has had these
    // indexes from its first version, PostgreSQL's per-minute partitions had only the primary key.
    version: 1003,
    name: 'alerts: minute indexes for fleet-wide windows (PostgreSQL)',
    sqlite: 'SELECT 1;',
    postgres: 'CREATE INDEX IF NOT EXISTS instance_minutes_minute ON instance_minutes (minute); CREATE INDEX IF NOT EXISTS host_minutes_minute ON host_minutes (minute);',
  },
  {
    // SQLite keeps instance_minutes in (agent, instance, minute) order, so the alarm tick's scan of
    // the last minutes of the whole fleet (fleet-frame.ts) would read every instance's rows from
    // scattered pages. This index holds, in minute order, exactly the columns that scan reads (the
    // metric catalogue's stored columns, samples and unsampled); it starts with minute, so it also
    // serves everything instance_minutes_minute served, which it replaces (one index per row to
    // write at ingest, as before). PostgreSQL stores minutes in arrival order per daily partition
    // and reads the window through its minute index (1003).
    version: 1004,
    name: 'alerts: covering minute index for the fleet scan (SQLite)',
    sqlite: `DROP INDEX IF EXISTS instance_minutes_minute;
CREATE INDEX IF NOT EXISTS instance_minutes_fleet ON instance_minutes (minute, agent_id, instance_id, samples, unsampled,
  cpu_min, cpu_max, cpu_sum, cpu_count, memory_utilization_min, memory_utilization_max, memory_utilization_sum, memory_utilization_count,
  steal_min, steal_max, steal_sum, steal_count, net_in, net_out, disk_read, disk_write);`,
    postgres: 'SELECT 1;',
  },
];
