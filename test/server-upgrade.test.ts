// Upgrading a database whose minutes were stored before the tiers existed (migration 4): the store
// builds the 300 s, 3600 s and 86400 s rows of every stored minute, so old history answers from the
// tiers exactly as from the minutes; migration 6 builds the day rows from stored hours. Both engines.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MIGRATIONS, migrate } from '../src/server/store/migrations.js';
import { PgDb, dayName } from '../src/server/store/postgres.js';
import { HOST_MINUTE_COLS_V1, INSTANCE_MINUTE_COLS, INSTANCE_MINUTE_COLS_V8, hostMinuteValues, instanceMinuteValues } from '../src/server/store/schema.js';
import type { InstanceWindow } from '../src/ship/payload.js';
import { SqlStore } from '../src/server/store/sql-store.js';
import { SqliteDb } from '../src/server/store/sqlite.js';
import type { SqlDb } from '../src/server/store/sql.js';
import { ENGINES, agg, createTestDb, engineReady, hostWindow, instanceWindow } from './helpers/server.js';

const DAY = 86400;

for (const engine of ENGINES) {
  const t = suite(`server upgrade to tiers [${engine}]`);

  t('minutes stored before migration 4 get their 300 s and 3600 s rows', async () => {
    if (!(await engineReady(engine, 'upgrade to tiers'))) return;
    const db = await createTestDb(engine);
    const open = (): SqlDb => (engine === 'sqlite' ? SqliteDb.open(db.db) : PgDb.open(db.db));
    try {
      const old = open();
      // The schema as version 3 left it (with alerting's first table); everything later comes after.
      const before = MIGRATIONS.filter((m) => m.version <= 3 || m.version === 1001);
      assert.equal(
        await migrate(old, before),
        [1, 2, 3, 1001],
      );
      // Two days of minutes as the version-3 schema held them (no `parts`).
      const start = Math.floor(Date.now() / 1000 / DAY) * DAY - 3 * DAY;
      const minutes = Array.from({ length: 2 * 1440 }, (_, i) => start + i * 60).filter((m) => (m / 60) % 17 !== 0);
      if (engine === 'postgres') {
        for (const d of [start, start + DAY]) {
          for (const table of ['host_minutes', 'instance_minutes']) await old.exec(`CREATE TABLE ${table}_p${dayName(d)} PARTITION OF ${table} FOR VALUES FROM (${d}) TO (${d + DAY})`);
        }
      }
      // Version 3's columns: no `parts` (version 4), no error counters (version 8).
      const instCols = INSTANCE_MINUTE_COLS.filter((c) => c.name !== 'parts' && !(INSTANCE_MINUTE_COLS_V8 as readonly string[]).includes(c.name));
      const v3Values = (w: InstanceWindow) => {
        const all = instanceMinuteValues('a1', 'vm1', w);
        return instCols.map((c) => all[INSTANCE_MINUTE_COLS.indexOf(c)]!);
      };
      await old.tx(async (e) => {
        for (const [k, m] of minutes.entries()) {
          const w = instanceWindow(m, { CPU: agg([k % 100, (k * 7) % 100]), NetIn: k % 13 === 0 ? null : 1000 + k });
          await e.run(`INSERT INTO instance_minutes (${instCols.map((c) => c.name).join(', ')}) VALUES (${instCols.map(() => '?').join(', ')})`, v3Values(w));
          await e.run(
            `INSERT INTO host_minutes (${HOST_MINUTE_COLS_V1.map((c) => c.name).join(', ')}) VALUES (${HOST_MINUTE_COLS_V1.map(() => '?').join(', ')})`,
            hostMinuteValues('a1', hostWindow(m)).slice(0, -1),
          );
        }
      });
      await old.close();

      const store = new SqlStore(open());
      try {
        assert.equal(await store.migrate(), MIGRATIONS.filter((m) => !before.includes(m)).map((m) => m.version));
        const target = { agentId: 'a1', instanceId: 'vm1' };
        for (const [stat, kind] of [
          ['cpu', 'gauge'],
          ['net_in', 'total'],
          ['disk_read', 'total'],
          // In the tiers since migration 8, which rebuilds them from the minutes stored before.
          ['net_in_packets', 'total'],
        ] as const) {
          for (const tier of [300, 3600, 86400] as const) {
            const fromMinutes = await store.statRows(target, 60, start, start + 2 * DAY, stat, kind, tier);
            const fromTier = await store.statRows(target, tier, start, start + 2 * DAY, stat, kind, tier);
            assert.is(fromTier.length, (2 * DAY) / tier, `${stat} ${tier}: every bucket built`);
            assert.equal(
              fromTier.map((r) => [Number(r.t), Number(r.min), Number(r.max), Number(r.sum), Number(r.count)]),
              fromMinutes.map((r) => [Number(r.t), Number(r.min), Number(r.max), Number(r.sum), Number(r.count)]),
              `${stat} at ${tier}`,
            );
          }
        }
        // Migration 6 on a database that had its hours already: the day rows come from them.
        for (const table of ['host_1d', 'instance_1d']) await store.db.run(`DELETE FROM ${table}`);
        assert.equal(await store.statRows(target, 86400, start, start + 2 * DAY, 'cpu', 'gauge', 86400), [], 'the day rows are gone');
        await store.rebuildDayTier();
        for (const [stat, kind] of [
          ['cpu', 'gauge'],
          ['net_in', 'total'],
        ] as const) {
          const fromMinutes = await store.statRows(target, 60, start, start + 2 * DAY, stat, kind, 86400);
          const fromDays = await store.statRows(target, 86400, start, start + 2 * DAY, stat, kind, 86400);
          assert.is(fromDays.length, 2, `${stat}: both days rebuilt from the hours`);
          assert.equal(
            fromDays.map((r) => [Number(r.t), Number(r.min), Number(r.max), Number(r.sum), Number(r.count)]),
            fromMinutes.map((r) => [Number(r.t), Number(r.min), Number(r.max), Number(r.sum), Number(r.count)]),
            `${stat} at 86400 from the hours`,
          );
        }
        const masks = await store.maskRows({ agentId: 'a1' }, 3600, start, start + 2 * DAY);
        const bits = masks.reduce((n, r) => n + [...Number(r.lo).toString(2), ...Number(r.hi).toString(2)].filter((b) => b === '1').length, 0);
        assert.is(bits, minutes.length, 'every host minute is in the masks');
      } finally {
        await store.close();
      }
    } finally {
      await db.drop();
    }
  });

  t.run();
}
