// The server's one migration registry: the store's tables and alerting's (versions 1001+, from
// src/server/alerts/migrations.ts), recorded in `schema_migrations` and applied in version order in
// one transaction under a lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock), so two
// servers starting on one database never both apply a version. A migration's text is fixed once
// released: later changes are new versions.
import { ALERT_MIGRATIONS } from '../alerts/migrations.js';
import { CONSOLE_MIGRATIONS } from '../console/migrations.js';
import {
  AGENT_COLS,
  HOST_MINUTE_COLS_V1,
  HOST_TIER_COLS,
  INSTANCE_COLS,
  INSTANCE_MINUTE_COLS,
  INSTANCE_MINUTE_COLS_V1,
  INSTANCE_MINUTE_COLS_V8,
  INSTANCE_TIER_COLS_V4,
  INSTANCE_TIER_COLS_V8,
  TIER_SECONDS,
  tierTable,
  type TierSeconds,
} from './schema.js';
import { colDefs, type Dialect, type SqlDb } from './sql.js';
import { diskMinutesDdl } from './disk-minutes.js';

export interface Migration {
  version: number;
  name: string;
  sql(d: Dialect): string;
}

const pg = (d: Dialect) => d.kind === 'postgres';

const STORE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'agents, batches, minutes, instances, tokens',
    sql: (d) => `
CREATE TABLE agents (
  ${colDefs(d, AGENT_COLS, AGENT_COLS.map((c) => c.name))},
  PRIMARY KEY (agent_id)
);
CREATE TABLE batches (
  batch_id ${d.type('text')} PRIMARY KEY,
  agent_id ${d.type('text')} NOT NULL,
  received_at ${d.type('int')} NOT NULL,
  created_at ${d.type('int')} NOT NULL
);
CREATE INDEX batches_received_at ON batches (received_at);
CREATE TABLE host_minutes (
  ${colDefs(d, HOST_MINUTE_COLS_V1, ['agent_id', 'minute', 'seconds', 'samples', 'net_in', 'net_out'])},
  PRIMARY KEY (agent_id, minute)
) ${pg(d) ? 'PARTITION BY RANGE (minute)' : 'WITHOUT ROWID'};
${pg(d) ? '' : 'CREATE INDEX host_minutes_minute ON host_minutes (minute);'}
CREATE TABLE instances (
  ${colDefs(d, INSTANCE_COLS, ['agent_id', 'instance_id', 'name', 'hypervisor', 'pid', 'start_time', 'allocated_vcpus', 'allocated_memory_bytes', 'tap_devices', 'running', 'has_counters', 'first_seen', 'last_seen'])},
  PRIMARY KEY (agent_id, instance_id)
);
CREATE INDEX instances_instance_id ON instances (instance_id${pg(d) ? ' text_pattern_ops' : ''});
CREATE INDEX instances_name ON instances (name);
CREATE TABLE instance_minutes (
  ${colDefs(d, INSTANCE_MINUTE_COLS_V1, ['agent_id', 'instance_id', 'minute', 'seconds', 'samples', 'missed'])},
  PRIMARY KEY (agent_id, instance_id, minute)
) ${pg(d) ? 'PARTITION BY RANGE (minute)' : 'WITHOUT ROWID'};
${pg(d) ? '' : 'CREATE INDEX instance_minutes_minute ON instance_minutes (minute);'}
CREATE TABLE tokens (
  access_key_id ${d.type('text')} PRIMARY KEY,
  name ${d.type('text')} NOT NULL,
  role ${d.type('text')} NOT NULL CHECK (role IN ('agent', 'reader', 'admin')),
  secret_sha256 ${d.type('text')} NOT NULL UNIQUE,
  agent_id ${d.type('text')},
  created_at ${d.type('int')} NOT NULL,
  revoked_at ${d.type('int')}
);
`,
  },
  {
    version: 2,
    name: 'instance_minutes.unsampled; minutes merge instead of replacing',
    sql: (d) => `ALTER TABLE instance_minutes ADD COLUMN unsampled ${d.type('int')} NOT NULL DEFAULT 0;`,
  },
  {
    version: 3,
    name: 'tokens.seq: credentials listed in creation order',
    // Existing rows keep the order they were listed in before (created_at, then insertion order on
    // SQLite, which cannot add an AUTOINCREMENT column and so rebuilds the table).
    sql: (d) =>
      pg(d)
        ? `
ALTER TABLE tokens ADD COLUMN seq bigint;
UPDATE tokens t SET seq = o.n FROM (SELECT access_key_id, row_number() OVER (ORDER BY created_at, access_key_id) AS n FROM tokens) o WHERE o.access_key_id = t.access_key_id;
ALTER TABLE tokens ALTER COLUMN seq SET NOT NULL;
ALTER TABLE tokens ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('tokens', 'seq'), COALESCE((SELECT max(seq) FROM tokens), 0) + 1, false);
CREATE UNIQUE INDEX tokens_seq ON tokens (seq);
`
        : `
CREATE TABLE tokens_new (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  access_key_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('agent', 'reader', 'admin')),
  secret_sha256 TEXT NOT NULL UNIQUE,
  agent_id TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
INSERT INTO tokens_new (access_key_id, name, role, secret_sha256, agent_id, created_at, revoked_at)
  SELECT access_key_id, name, role, secret_sha256, agent_id, created_at, revoked_at FROM tokens ORDER BY created_at, rowid;
DROP TABLE tokens;
ALTER TABLE tokens_new RENAME TO tokens;
`,
  },
  {
    version: 4,
    name: '300 s and 3600 s tiers; minutes count their merged parts',
    // The tiers of minutes stored before this version are built by the store right after it (sql-store.ts).
    sql: (d) => {
      const out = [
        `ALTER TABLE host_minutes ADD COLUMN parts ${d.type('int')} NOT NULL DEFAULT 1;`,
        `ALTER TABLE instance_minutes ADD COLUMN parts ${d.type('int')} NOT NULL DEFAULT 1;`,
      ];
      for (const tier of [300, 3600] as const) out.push(...tierTablesDdl(d, tier));
      return out.join('\n');
    },
  },
  {
    version: 5,
    name: 'instance_disk_minutes: per virtual disk counters per minute (issue 19)',
    sql: (d) => diskMinutesDdl(d),
  },
  {
    // Filled from the 3600 s rows right after (SqlStore.migrate), so old history answers from it too.
    version: 6,
    name: '86400 s tier (issue 13)',
    sql: (d) => tierTablesDdl(d, 86400).join('\n'),
  },
  {
    // Tiers stored before this version are complete (ingest upserted them), so nothing starts pending.
    version: 7,
    name: 'rollup_pending: tier buckets rebuilt after ingest, not in it (issue 13)',
    sql: (d) => `
CREATE TABLE rollup_pending (
  agent_id ${d.type('text')} NOT NULL,
  bucket ${d.type('int')} NOT NULL,
  tier ${d.type('int')} NOT NULL,
  marked_at ${d.type('int')} NOT NULL,
  PRIMARY KEY (agent_id, bucket, tier)
);
CREATE INDEX rollup_pending_tier ON rollup_pending (tier, bucket);
${
  // Every batch inserts rows and every rollup deletes them: readers look up the live few among
  // the dead, so autovacuum should not wait for the default fifth of the table to be dead.
  pg(d) ? 'ALTER TABLE rollup_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);' : ''
}
`,
  },
  {
    // The tiers of the minutes stored before are rebuilt right after (SqlStore.migrate), so that
    // packets answer from the tiers as from the minutes.
    version: 8,
    name: "TAP errors and drops per minute; packets, errors and drops in the instance tiers (issue 19)",
    sql: (d) => {
      const out: string[] = [];
      for (const name of INSTANCE_MINUTE_COLS_V8) out.push(`ALTER TABLE instance_minutes ADD COLUMN ${name} ${d.type(INSTANCE_MINUTE_COLS.find((c) => c.name === name)!.kind)};`);
      for (const tier of TIER_SECONDS) for (const c of INSTANCE_TIER_COLS_V8) out.push(`ALTER TABLE ${tierTable('instance', tier)} ADD COLUMN ${c.name} ${d.type(c.kind)};`);
      return out.join('\n');
    },
  },
  {
    // Every batch updates each of its instances' rows (last_seen, counters). With full pages
    // every update is a new tuple on another page and a new entry in all three indexes; with room
    // left on the page it is a heap-only update. Measured with 500 instances per batch: the upsert
    // 21.6 → 11.8 ms. Pages written before keep their fill until vacuum makes room in them.
    version: 9,
    name: 'instances: room on each page for heap-only updates (PostgreSQL)',
    sql: (d) => (pg(d) ? 'ALTER TABLE instances SET (fillfactor = 50);' : 'SELECT 1;'),
  },
  {
    // Servers keep verified credentials in memory only while they hear every change to this
    // table (src/server/token-cache.ts), whoever makes it: the CLI, a console, another replica,
    // hand-written SQL. Row-level, so an UPDATE that changes nothing (a token already bound)
    // empties no cache. A migration that rebuilds the table must create these again.
    version: 10,
    name: 'tokens: notify vmpulse_tokens on every change (PostgreSQL)',
    sql: (d) =>
      pg(d)
        ? `CREATE FUNCTION vmpulse_tokens_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('vmpulse_tokens', '');
  RETURN NULL;
END $$;
CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE ON tokens FOR EACH ROW EXECUTE FUNCTION vmpulse_tokens_changed();
CREATE TRIGGER tokens_truncated AFTER TRUNCATE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION vmpulse_tokens_changed();`
        : 'SELECT 1;',
  },
];

/** The host and instance tables of one tier (same columns for every tier; schema.ts). */
function tierTablesDdl(d: Dialect, tier: TierSeconds): string[] {
  const out: string[] = [];
  for (const kind of ['host', 'instance'] as const) {
    const table = tierTable(kind, tier);
    // As released with migrations 4 and 6: later columns are added by later migrations.
    const cols = kind === 'host' ? HOST_TIER_COLS : INSTANCE_TIER_COLS_V4;
    const key = kind === 'host' ? 'agent_id, bucket' : 'agent_id, instance_id, bucket';
    out.push(`CREATE TABLE ${table} (
  ${colDefs(d, cols, ['agent_id', 'instance_id', 'bucket', 'mask_lo', 'mask_hi'])},
  PRIMARY KEY (${key})
) ${pg(d) ? 'PARTITION BY RANGE (bucket)' : 'WITHOUT ROWID'};`);
    if (!pg(d)) out.push(`CREATE INDEX ${table}_bucket ON ${table} (bucket);`);
  }
  return out;
}

export const MIGRATIONS: readonly Migration[] = [
  ...STORE_MIGRATIONS,
  ...ALERT_MIGRATIONS.map((m): Migration => ({ version: m.version, name: m.name, sql: (d) => (pg(d) ? m.postgres : m.sqlite) })),
  ...CONSOLE_MIGRATIONS.map((m): Migration => ({ version: m.version, name: m.name, sql: (d) => (pg(d) ? m.postgres : m.sqlite) })),
].sort((a, b) => a.version - b.version);

/** Applies pending migrations; returns the versions this call applied. */
export async function migrate(db: SqlDb, registry: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  return db.tx(async (e) => {
    await db.lockForMigration(e);
    await e.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version ${db.dialect.type('int')} PRIMARY KEY, name ${db.dialect.type('text')} NOT NULL, applied_at ${db.dialect.type('int')} NOT NULL)`);
    const done = new Set((await e.all('SELECT version FROM schema_migrations')).map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of registry) {
      if (done.has(m.version)) continue;
      await e.exec(m.sql(db.dialect));
      await e.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Math.floor(Date.now() / 1000)]);
      applied.push(m.version);
    }
    return applied;
  });
}

export async function appliedMigrations(db: SqlDb): Promise<number[]> {
  return (await db.all('SELECT version FROM schema_migrations ORDER BY version')).map((r) => Number(r.version));
}
