// The console's store methods on both engines: the fleet's bulk read (each instance's newest record
// at or after `since`, in one query) and the session rows (insert with purge, lookup, revoke).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ENGINES, createTestDb, engineReady, instanceRecord, instanceWindow, nowMinute, payload } from './helpers/server.js';
import { openStore } from '../src/server/store/store.js';

const s = suite('console store methods');

for (const engine of ENGINES) {
  s(`${engine}: latestInstanceWindows and sessions`, async () => {
    if (!(await engineReady(engine, 'console store methods'))) return;
    const db = await createTestDb(engine);
    const store = await openStore(db.db);
    try {
      await store.migrate();
      assert.ok((await store.appliedMigrations()).includes(2001), 'the console migration is applied');
      const m = nowMinute(-5);
      const now = Math.floor(Date.now() / 1000);
      const opts = { receivedAt: now };
      // vm-a: three minutes (the newest wins); vm-b on two hosts; vm-old only before `since`.
      await store.ingest(payload({ AgentID: 'h1', Instances: [instanceRecord('vm-a', { Stats: [instanceWindow(m, { NetIn: 1 }), instanceWindow(m + 60, { NetIn: 2 }), instanceWindow(m + 120, { NetIn: 3, Seconds: 30 })] }), instanceRecord('vm-old', { Stats: [instanceWindow(m - 3600, { NetIn: 9 })] })] }), opts);
      await store.ingest(payload({ AgentID: 'h1', Instances: [instanceRecord('vm-b', { Stats: [instanceWindow(m + 60, { NetIn: 4 })] })] }), opts);
      await store.ingest(payload({ AgentID: 'h2', Instances: [instanceRecord('vm-b', { Stats: [instanceWindow(m, { NetIn: 5 }), instanceWindow(m + 180, { NetIn: 6 })] })] }), opts);
      const got = await store.latestInstanceWindows(m - 60, ['net_in', 'seconds', 'cpu_avg']);
      const view = got.map((w) => [w.agentId, w.instanceId, w.row.minute, w.row.net_in, w.row.seconds, w.row.cpu_avg]).sort((x, y) => String(x[0]).localeCompare(String(y[0])) || String(x[1]).localeCompare(String(y[1])));
      assert.equal(view, [
        ['h1', 'vm-a', m + 120, 3, 30, 50],
        ['h1', 'vm-b', m + 60, 4, 60, 50],
        ['h2', 'vm-b', m + 180, 6, 60, 50],
      ]);
      assert.equal(await store.latestInstanceWindows(m + 240, ['net_in']), [], 'nothing that recent');
      const bad = await store.latestInstanceWindows(0, ['net_in; DROP TABLE instances']).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
      assert.match(bad, /unknown column/);

      await store.insertSession({ idSha256: 'a'.repeat(64), accessKeyId: 'K1', createdAt: now - 100, expiresAt: now - 10, revokedAt: null }, 0);
      await store.insertSession({ idSha256: 'b'.repeat(64), accessKeyId: 'K2', createdAt: now, expiresAt: now + 60, revokedAt: null }, now);
      assert.is(await store.sessionByIdHash('a'.repeat(64)), null, 'an expired session is purged by the next insert');
      assert.equal(await store.sessionByIdHash('b'.repeat(64)), { idSha256: 'b'.repeat(64), accessKeyId: 'K2', createdAt: now, expiresAt: now + 60, revokedAt: null });
      assert.is(await store.revokeSession('b'.repeat(64), now + 1), true);
      assert.is(await store.revokeSession('b'.repeat(64), now + 2), false, 'revoked once');
      assert.is((await store.sessionByIdHash('b'.repeat(64)))!.revokedAt, now + 1);
      assert.is(await store.sessionByIdHash('c'.repeat(64)), null);
    } finally {
      await store.close();
      await db.drop();
    }
  });
}

s.run();
