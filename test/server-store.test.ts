// Store behaviour outside the HTTP API: retention (DELETE on SQLite, whole-partition DROP on
// PostgreSQL), migrations across restarts, and the server keeping its data over a restart.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { statSync } from 'node:fs';
import { startServer } from '../src/server/app.js';
import { openStore } from '../src/server/store/store.js';
import { PostgresStore } from '../src/server/store/postgres.js';
import {
  ENGINES,
  createTestDb,
  engineReady,
  hostWindow,
  ingest,
  instanceRecord,
  instanceWindow,
  nowMinute,
  payload,
  request,
  testConfig,
  type Engine,
  type TestDb,
} from './helpers/server.js';

const DAY = 86400;

async function withDb(engine: Engine, name: string, fn: (db: TestDb) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const db = await createTestDb(engine);
  try {
    await fn(db);
  } finally {
    await db.drop();
  }
}

for (const engine of ENGINES) {
  const t = suite(`server store [${engine}]`);

  t('migrations apply once and are idempotent across restarts, concurrent starts included', () =>
    withDb(engine, 'migrations', async (db) => {
      const a = await openStore(db.db);
      const b = await openStore(db.db);
      try {
        const [ra, rb] = await Promise.all([a.migrate(), b.migrate()]);
        // Exactly one of the two applied the schema (whichever took the lock first).
        const applied = [...ra, ...rb].sort((x, y) => x - y);
        assert.ok(applied.includes(1), `version 1 applied: ${applied}`);
        assert.is(new Set(applied).size, applied.length, 'no version applied twice');
        assert.equal(await a.appliedMigrations(), applied);
        const p = payload({ Stats: [hostWindow(nowMinute(-1))] });
        assert.is((await a.ingest(p, { receivedAt: 1 })).status, 'stored');
      } finally {
        await a.close();
        await b.close();
      }
      const c = await openStore(db.db);
      try {
        assert.equal(await c.migrate(), [], 'nothing left to apply after a restart');
        assert.is((await c.listAgents()).length, 1, 'data survives');
        const rows = await db.query('SELECT count(*) AS n FROM schema_migrations WHERE version = 1');
        assert.is(Number(rows[0]!.n), 1);
      } finally {
        await c.close();
      }
    }),
  );

  t('retention removes per-minute data older than the cutoff and keeps the rest', () =>
    withDb(engine, 'retention', async (db) => {
      const store = await openStore(db.db);
      try {
        await store.migrate();
        const now = nowMinute();
        const old = [now - 20 * DAY, now - 16 * DAY - 3600];
        const recent = [now - DAY, now - 60];
        const minutes = [...old, ...recent];
        const p = payload({
          Stats: minutes.map((m) => hostWindow(m)),
          Instances: [instanceRecord('ret00001', { Stats: minutes.map((m) => instanceWindow(m)) })],
        });
        await store.ingest(p, { receivedAt: now - 20 * DAY });
        await store.ingest(payload({ Stats: [hostWindow(now)] }), { receivedAt: now });
        assert.is(await db.count('instance_minutes'), 4);
        const cutoff = now - 15 * DAY;
        if (engine === 'postgres') {
          const pgs = store as PostgresStore;
          const day = (m: number) => new Date(Math.floor(m / DAY) * DAY * 1000).toISOString().slice(0, 10).replace(/-/g, '');
          const names = (await pgs.listPartitions('instance_minutes')).map((x) => x.name);
          for (const m of minutes) assert.ok(names.includes(`instance_minutes_p${day(m)}`), `partition for ${day(m)} exists`);
          const r = await store.retain(cutoff);
          assert.equal(
            r.droppedPartitions.sort(),
            old.flatMap((m) => [`host_minutes_p${day(m)}`, `instance_minutes_p${day(m)}`]).sort(),
            'whole old days dropped',
          );
          const left = (await pgs.listPartitions('instance_minutes')).map((x) => x.name);
          for (const m of old) assert.not.ok(left.includes(`instance_minutes_p${day(m)}`));
          const cls = await db.query(`SELECT count(*) AS n FROM pg_class WHERE relname = $1`, [`instance_minutes_p${day(old[0]!)}`]);
          assert.is(Number(cls[0]!.n), 0, 'the table is gone, not emptied');
          assert.is(r.deletedBatches, 1);
        } else {
          const r = await store.retain(cutoff);
          assert.is(r.deletedRows, 4, '2 old host minutes + 2 old instance minutes');
          assert.is(r.deletedBatches, 1);
        }
        const kept = await store.instanceMinutes(p.AgentID, 'ret00001', 0, now + DAY, ['net_in']);
        assert.equal(
          kept.map((k) => k.minute),
          recent,
        );
        assert.is(await db.count('host_minutes'), 3);
        assert.is(await db.count('batches'), 1);
        // A second run finds nothing more to remove.
        const again = await store.retain(cutoff);
        assert.is(again.deletedRows + again.droppedPartitions.length, 0);
        // Minutes older than retention are not stored again by the server's ingest.
      } finally {
        await store.close();
      }
    }),
  );

  t('the server skips minutes beyond retention, keeps data over a restart, and creates its key 0600', () =>
    withDb(engine, 'restart', async (db) => {
      let srv = await startServer(testConfig(db, { retentionDays: 2 }));
      const admin = await srv.credentials.create('admin', 'a');
      try {
        const now = nowMinute();
        const p = payload({ Stats: [hostWindow(now - 3 * DAY), hostWindow(now - 60)], Instances: [instanceRecord('rs000001', { Stats: [instanceWindow(now - 3 * DAY), instanceWindow(now - 60)] })] });
        const r = await ingest(srv.url, admin.secret, p);
        assert.is(r.status, 200, r.text);
        assert.is(r.body.skipped_minutes, 2);
        assert.is(r.body.host_minutes, 1);
        assert.is(r.body.instance_minutes, 1);
      } finally {
        await srv.close();
      }
      assert.is(statSync(db.keyFile).mode & 0o777, 0o600);
      srv = await startServer(testConfig(db, { retentionDays: 2 }));
      try {
        // The same key file derives the same secret, so the credential still works.
        const list = await request(`${srv.url}/v1/instances/rs000001/stats`, { secret: admin.secret });
        assert.is(list.status, 200, list.text);
        assert.is(list.body.instance_id, 'rs000001');
        assert.equal(await srv.store.migrate(), []);
      } finally {
        await srv.close();
      }
    }),
  );

  t.run();
}
