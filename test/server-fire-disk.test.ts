// The SQLite volume fills up under ingest (a small tmpfs mounted by the test, filled by a file):
// ingest answers 503 + Retry-After with code storage_full, the agents keep their batches, the
// database stays intact, and once space returns every batch is stored exactly once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { simPayload } from '../src/bench/sim-agents.js';
import { needs } from './helpers/needs.js';
import { ingest } from './helpers/server.js';
import { audit, createToken, report, secretsIn, sleep, startServerProcess, startSim, waitSent } from './helpers/fire.js';

/** Writes zeros to `file` until the filesystem refuses; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    closeSync(fd);
  }
  return n;
}

test('[sqlite] disk full under ingest: 503 + Retry-After, no corruption, recovery when space returns', async () => {
  if (!(await needs('SQLite volume full', 'root'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-fire-disk-'));
  const vol = join(dir, 'vol');
  mkdirSync(vol);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs', vol]);
  let server: Awaited<ReturnType<typeof startServerProcess>> | null = null;
  let sim: ReturnType<typeof startSim> | null = null;
  try {
    const db = join(vol, 'vmpulse.db');
    const keyFile = join(dir, 'server.key');
    const admin = createToken(db, keyFile, 'admin', 'disk-admin');
    server = await startServerProcess({ db, keyFile });
    const agents = 2;
    const windows = 40;
    const vms = 30;
    sim = startSim({ endpoints: [server.url], token: admin.secret, dir, agents, vms, windows, windowMs: 250, prefix: 'diskfire', drainMs: 120_000 });
    await waitSent(sim, agents * 8, 60_000);

    const filler = join(vol, 'filler');
    const filled = fill(filler);
    assert.ok(filled > 0);
    // Whatever free pages the database and its WAL still had are used up by the next batches;
    // from then on every write is refused.
    let full: Awaited<ReturnType<typeof ingest>> | null = null;
    const minute = Math.floor(Date.now() / 60_000) * 60 - 3600;
    for (let i = 0; i < 200 && !full; i++) {
      const r = await ingest(server.url, admin.secret, simPayload('diskprobe-0', minute - i * 60, 200));
      if (r.status === 503) full = r;
      else assert.is(r.status, 200, `a probe is stored or refused with 503, nothing else: ${r.text}`);
    }
    assert.ok(full, 'the full volume was reported');
    assert.is(full!.body.code, 'storage_full');
    assert.ok(Number(full!.headers.get('retry-after')) >= 1);
    await sleep(2000);
    rmSync(filler);

    const r = await sim.wait(180_000);
    assert.is(r.code, 0, `every batch acknowledged: ${JSON.stringify(r.done)} ${r.stderr}`);
    const statuses = r.done!.statuses as Record<string, number>;
    assert.ok((statuses['503'] ?? 0) > 0, `the agents were told 503 while the volume was full: ${JSON.stringify(statuses)}`);
    const a = await audit(db, dir, 'diskfire', vms);
    report('[sqlite] volume full under ingest, then space freed', a);
    assert.equal(a, { sent: agents * windows, stored: agents * windows, duplicated: 0, lost: 0, partial: 0 });
    const d = new Database(db, { readonly: true });
    assert.is((d.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check, 'ok');
    d.close();
    assert.equal(secretsIn(server.logs(), [admin.secret]), []);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- server log (tail) ---\n${server?.logs().slice(-4000) ?? ''}`);
  } finally {
    sim?.kill();
    await server?.stop();
    execFileSync('umount', [vol]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
