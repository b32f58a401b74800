// PostgreSQL stopped under a running `vmpulse server` (a cluster of the test's own, started with
// initdb + pg_ctl, so it can be stopped and crashed freely): ingest answers 503 with Retry-After
// (the agents keep their spools), queries 503 with a clear error, the server reconnects by itself
// when the database is back (same PID, no restart), and every batch is stored once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simPayload } from '../src/bench/sim-agents.js';
import { needs } from './helpers/needs.js';
import { ingest, request } from './helpers/server.js';
import { audit, createToken, pgBinDir, report, secretsIn, sleep, startPgInstance, startServerProcess, startSim, waitSent, type PgInstance } from './helpers/fire.js';
import { waitFor } from './helpers/procs.js';

test('PostgreSQL stopped and crashed under ingest: 503 + Retry-After, clear query errors, reconnect, nothing lost', async () => {
  if (!(await needs('PostgreSQL restarted under the server', 'root', 'postgres-server'))) return;
  assert.ok(pgBinDir());
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-pg-'));
  let pg: PgInstance | null = null;
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  let sim: ReturnType<typeof startSim> | null = null;
  try {
    pg = await startPgInstance();
    pg.createDb('vmpulse_fire');
    const db = pg.url('vmpulse_fire');
    const keyFile = join(dir, 'server.key');
    const admin = createToken(db, keyFile, 'admin', 'fire-admin');
    const reader = createToken(db, keyFile, 'reader', 'fire-reader');
    server = await startServerProcess({ db, keyFile });
    const pid = server.pid();
    const agents = 3;
    const windows = 30;
    const vms = 20;
    sim = startSim({ endpoints: [server.url], token: admin.secret, dir, agents, vms, windows, windowMs: 250, prefix: 'pgfire', drainMs: 90_000 });

    for (const [i, mode] of (['fast', 'immediate'] as const).entries()) {
      await waitSent(sim, agents * (6 + i * 10), 60_000);
      pg.stop(mode);
      // Ingest: 503 with Retry-After, whatever part of the request reached the database first.
      const r = await ingest(server.url, admin.secret, simPayload('pgfire-probe', Math.floor(Date.now() / 60_000) * 60 - 120, 2));
      assert.is(r.status, 503, `ingest while PostgreSQL is down (${mode}): ${r.text}`);
      assert.ok(Number(r.headers.get('retry-after')) >= 1, 'Retry-After is set');
      assert.is(r.body.code, 'database_unavailable');
      // Queries: 503 with a message that says what is wrong, in each API's own shape.
      const q = await request(`${server.url}/v1/servers`, { secret: reader.secret });
      assert.is(q.status, 503);
      assert.match(q.body.message, /database is unavailable/);
      assert.ok(!q.text.includes(String(pg.port)), 'the answer does not reveal the connection string');
      const m = await request(`${server.url}/v1/instances/pgfire-0-vm-0000/metric-data?metricName=CPUUtilization&period=60&startTime=0&endTime=60&unit=Percent&statistics=Average`, { secret: reader.secret });
      assert.is(m.status, 503);
      assert.is(m.body.__type, 'ServiceUnavailableException');
      assert.ok(Number(m.headers.get('retry-after')) >= 1);
      const h = await request(`${server.url}/healthz`);
      assert.is(h.status, 200, 'the process itself is alive');
      await sleep(2000);
      pg.start();
      // Back by itself: the same process answers queries again.
      await waitFor(async () => (await request(`${server!.url}/v1/servers`, { secret: reader.secret })).status === 200, 30_000, 'queries answered again', 200);
    }
    assert.is(server.pid(), pid, 'the server was never restarted');

    const r = await sim.wait(150_000);
    assert.is(r.code, 0, `every batch acknowledged: ${JSON.stringify(r.done)} ${r.stderr}`);
    const statuses = r.done!.statuses as Record<string, number>;
    assert.ok((statuses['503'] ?? 0) > 0, `the agents were told 503 during the outages: ${JSON.stringify(statuses)}`);
    const a = await audit(db, dir, 'pgfire', vms);
    report('PostgreSQL stop (fast) + crash (immediate) under ingest', a);
    assert.equal(a, { sent: agents * windows, stored: agents * windows, duplicated: 0, lost: 0, partial: 0 });
    assert.equal(secretsIn(server.logs(), [admin.secret, reader.secret]), []);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- server log (tail) ---\n${server?.logs().slice(-4000) ?? ''}`);
  } finally {
    sim?.kill();
    await server?.stop();
    pg?.remove();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
