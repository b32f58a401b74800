// kill -9 of `vmpulse server` while simulated agents (their own process, the real outbox and
// shipper) are ingesting: every batch the agents spooled is stored exactly once, none in part,
// on both engines. The server is killed twice mid-stream and started again on the same port.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ENGINES, createTestDb, engineReady } from './helpers/server.js';
import { audit, createToken, report, secretsIn, sleep, startServerProcess, startSim, waitSent } from './helpers/fire.js';

for (const engine of ENGINES) {
  test(`[${engine}] kill -9 of the server during ingest: every batch stored once, none in part`, async () => {
    if (!(await engineReady(engine, 'server kill -9 during ingest'))) return;
    const db = await createTestDb(engine);
    const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-crash-'));
    let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
    let sim: ReturnType<typeof startSim> | null = null;
    try {
      const admin = createToken(db.db, db.keyFile, 'admin', 'sim-admin');
      server = await startServerProcess({ db: db.db, keyFile: db.keyFile });
      const agents = 4;
      const windows = 24;
      const vms = 40;
      sim = startSim({ endpoints: [server.url], token: admin.secret, dir, agents, vms, windows, windowMs: 250, prefix: `crash${engine}`, drainMs: 90_000 });
      for (const at of [agents * 6, agents * 14]) {
        await waitSent(sim, at, 60_000);
        await server.kill9();
        await sleep(700);
        await server.restart();
      }
      const r = await sim.wait(150_000);
      assert.ok(r.done, `the simulation finished: ${r.stderr}`);
      assert.is(r.code, 0, `every batch was acknowledged: ${JSON.stringify(r.done)}`);
      // The kills hit live traffic: some attempts failed and were retried.
      assert.ok(Number(r.done!.failedAttempts) > 0, `attempts failed across the kills: ${JSON.stringify(r.done)}`);

      const a = await audit(db.db, dir, `crash${engine}`, vms);
      report(`[${engine}] kill -9 ×2 during ingest`, a);
      assert.equal(a, { sent: agents * windows, stored: agents * windows, duplicated: 0, lost: 0, partial: 0 });
      if (engine === 'sqlite') {
        const d = new Database(db.db, { readonly: true });
        assert.is((d.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check, 'ok');
        d.close();
      }
      assert.equal(secretsIn(server.logs(), [admin.secret]), [], 'the token is not in the server log');
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- server log (tail) ---\n${server?.logs().slice(-4000) ?? ''}`);
    } finally {
      sim?.kill();
      await server?.stop();
      await db.drop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
