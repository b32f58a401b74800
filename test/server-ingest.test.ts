// Ingest and authentication, the same suite on SQLite and PostgreSQL.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ENGINES,
  engineReady,
  hostWindow,
  ingest,
  instanceRecord,
  instanceWindow,
  nowMinute,
  payload,
  request,
  startTestServer,
  type Engine,
  type TestServer,
} from './helpers/server.js';

async function withServer(engine: Engine, name: string, fn: (s: TestServer) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const s = await startTestServer(engine);
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

for (const engine of ENGINES) {
  const t = suite(`server ingest [${engine}]`);

  t('a batch is stored once; a replay answers duplicate and stores nothing new', () =>
    withServer(engine, 'ingest dedup', async (s) => {
      const m = nowMinute(-5);
      const p = payload({
        Stats: [hostWindow(m), hostWindow(m + 60)],
        Instances: [instanceRecord('aaaa1111', { Stats: [instanceWindow(m), instanceWindow(m + 60)] }), instanceRecord('bbbb2222', { Stats: [instanceWindow(m)] })],
      });
      const r1 = await ingest(s.url, s.agent.secret, p);
      assert.is(r1.status, 200, r1.text);
      assert.equal(r1.body, { status: 'stored', batch_id: p.BatchID, host_minutes: 2, instance_minutes: 3, instances: 2, skipped_minutes: 0 });
      const r2 = await ingest(s.url, s.agent.secret, p, { gzip: true });
      assert.is(r2.status, 200, r2.text);
      assert.equal(r2.body, { status: 'duplicate', batch_id: p.BatchID });
      assert.is(await s.db.count('batches'), 1);
      assert.is(await s.db.count('host_minutes'), 2);
      assert.is(await s.db.count('instance_minutes'), 3);
      assert.is(await s.db.count('instances'), 2);
      // The same minutes in a new batch merge into the stored records (counters add) rather than adding rows.
      const p2 = payload({ Stats: [hostWindow(m, { NetIn: 777 })], Instances: [instanceRecord('aaaa1111', { Stats: [instanceWindow(m, { NetIn: 999 })] })] });
      const r3 = await ingest(s.url, s.agent.secret, p2, { gzip: true });
      assert.is(r3.body.status, 'stored');
      assert.is(await s.db.count('batches'), 2);
      assert.is(await s.db.count('host_minutes'), 2);
      assert.is(await s.db.count('instance_minutes'), 3);
      const rows = await s.db.query(`SELECT net_in FROM instance_minutes WHERE instance_id = 'aaaa1111' AND minute = ${m}`);
      assert.is(Number(rows[0]!.net_in), 6000 + 999);
    }),
  );

  t('a batch that fails half way leaves nothing behind (one transaction)', () =>
    withServer(engine, 'ingest atomicity', async (s) => {
      // A trigger makes the last instance's minute insert fail after the other rows were written.
      if (engine === 'sqlite') {
        await s.db.exec(`CREATE TRIGGER boom BEFORE INSERT ON instance_minutes WHEN NEW.instance_id = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
      } else {
        await s.db.exec(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.instance_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
          CREATE TRIGGER boom BEFORE INSERT ON instance_minutes FOR EACH ROW EXECUTE FUNCTION boom();`);
      }
      const m = nowMinute(-3);
      const p = payload({
        Stats: [hostWindow(m)],
        Instances: [instanceRecord('good0001', { Stats: [instanceWindow(m)] }), instanceRecord('boom', { Stats: [instanceWindow(m)] })],
      });
      const r = await ingest(s.url, s.agent.secret, p);
      assert.is(r.status, 500, r.text);
      assert.is(r.body.code, 'internal');
      for (const table of ['batches', 'agents', 'host_minutes', 'instances', 'instance_minutes']) assert.is(await s.db.count(table), 0, table);
      await s.db.exec(engine === 'sqlite' ? 'DROP TRIGGER boom' : 'DROP TRIGGER boom ON instance_minutes');
      // The BatchID was not recorded either, so the agent's retry stores the batch.
      const again = await ingest(s.url, s.agent.secret, p);
      assert.is(again.body.status, 'stored', again.text);
      assert.is(await s.db.count('instance_minutes'), 2);
    }),
  );

  t('401 without or with a bad credential, 403 for a reader, revoked credentials refused', () =>
    withServer(engine, 'ingest auth', async (s) => {
      const p = payload({ Stats: [hostWindow(nowMinute(-2))] });
      const none = await request(`${s.url}/v1/ingest`, { method: 'POST', body: JSON.stringify(p), headers: { 'content-type': 'application/json' } });
      assert.is(none.status, 401);
      assert.is(none.body.code, 'unauthorized');
      assert.ok(/Bearer/.test(none.body.message));
      const bad = await ingest(s.url, 'not-a-secret', p);
      assert.is(bad.status, 401);
      assert.is(bad.body.code, 'unauthorized');
      const reader = await ingest(s.url, s.reader.secret, p);
      assert.is(reader.status, 403);
      assert.is(reader.body.code, 'forbidden');
      const readerQ = await request(`${s.url}/v1/servers`, { secret: s.agent.secret });
      assert.is(readerQ.status, 403, 'an agent credential may not query');
      const admin = await ingest(s.url, s.admin.secret, p);
      assert.is(admin.status, 200, admin.text);
      assert.ok(await s.server.store.revokeToken(s.reader.access_key_id, 1));
      const revoked = await request(`${s.url}/v1/servers`, { secret: s.reader.secret });
      assert.is(revoked.status, 401);
      assert.is(await s.db.count('batches'), 1);
    }),
  );

  t('an agent credential binds to the first AgentID it writes, or the one given at creation', () =>
    withServer(engine, 'agent binding', async (s) => {
      const m = nowMinute(-2);
      const a = await ingest(s.url, s.agent.secret, payload({ AgentID: 'host-a', Stats: [hostWindow(m)] }));
      assert.is(a.status, 200, a.text);
      const b = await ingest(s.url, s.agent.secret, payload({ AgentID: 'host-b', Stats: [hostWindow(m)] }));
      assert.is(b.status, 403);
      assert.is(b.body.code, 'agent_mismatch');
      assert.ok(b.body.message.includes('host-a'));
      assert.is((await s.server.store.tokenByAccessKey(s.agent.access_key_id))!.agentId, 'host-a');
      const pinned = await s.server.credentials.create('agent', 'pinned', 'host-c');
      const c1 = await ingest(s.url, pinned.secret, payload({ AgentID: 'host-a', Stats: [hostWindow(m)] }));
      assert.is(c1.status, 403);
      const c2 = await ingest(s.url, pinned.secret, payload({ AgentID: 'host-c', Stats: [hostWindow(m)] }));
      assert.is(c2.status, 200);
      // An invalid batch must not bind an unbound credential.
      const fresh = await s.server.credentials.create('agent', 'fresh');
      const junk = await ingest(s.url, fresh.secret, JSON.stringify({ ...payload({ AgentID: 'host-z' }), PID: 1 }));
      assert.is(junk.status, 400);
      assert.is((await s.server.store.tokenByAccessKey(fresh.access_key_id))!.agentId, null);
      assert.is(await s.db.count('batches'), 2);
    }),
  );

  t('Idempotency-Key must equal BatchID; the first bad field is named', () =>
    withServer(engine, 'ingest validation', async (s) => {
      const p = payload({ Instances: [instanceRecord('x1', { PID: 0 as number })] });
      const r = await ingest(s.url, s.admin.secret, p);
      assert.is(r.status, 400);
      assert.is(r.body.code, 'invalid_payload');
      assert.is(r.body.field, '/Instances/0/PID');
      const ok = payload();
      const mism = await ingest(s.url, s.admin.secret, ok, { headers: { 'idempotency-key': 'something-else' } });
      assert.is(mism.status, 400);
      assert.is(mism.body.code, 'idempotency_key_mismatch');
      const dup = payload({ Instances: [instanceRecord('same'), instanceRecord('other'), instanceRecord('same')] });
      const d = await ingest(s.url, s.admin.secret, dup);
      assert.is(d.status, 400);
      assert.is(d.body.field, '/Instances/2/InstanceID');
      const unknown = await ingest(s.url, s.admin.secret, JSON.stringify({ ...payload(), Extra: 1 }));
      assert.is(unknown.status, 400);
      assert.is(unknown.body.field, '/Extra');
      const missing = { ...payload() } as Record<string, unknown>;
      delete missing.Hostname;
      const mi = await ingest(s.url, s.admin.secret, JSON.stringify(missing));
      assert.is(mi.body.field, '/Hostname');
      assert.is(await s.db.count('batches'), 0);
    }),
  );

  t.run();
}
