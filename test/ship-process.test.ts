// The outbox in its own process (test/helpers/ship-runner.ts) with real one-second windows: a
// receiver outage of ten windows, and a `kill -9` with batches unacknowledged followed by a restart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { distRoot } from '../src/paths.js';
import { Receiver, recordLedger, schemaErrors, tempSpool, waitFor } from './helpers/receiver.js';
import { HEADER_BYTES, scanSegment } from '../src/ship/segment-format.js';
import { peekMeta } from '../src/ship/codec.js';

const RUNNER = join(distRoot, 'test/helpers/ship-runner.js');
const segFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg'));

interface RunnerEvent {
  event: string;
  at: number;
  batchId?: string;
  minute?: number;
  rss?: number;
  remaining?: number;
  spool?: { records: number; acked: number; corrupt: number; dropped: number; appended: number };
  shipper?: { shipped: number; failedAttempts: number };
}

class Runner {
  readonly events: RunnerEvent[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [RUNNER], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim()) this.events.push(JSON.parse(line) as RunnerEvent);
      }
    });
    this.child.stderr!.on('data', (c: Buffer) => {
      this.stderr = (this.stderr + c.toString()).slice(-20_000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  enqueued(): RunnerEvent[] {
    return this.events.filter((e) => e.event === 'enqueued');
  }

  last(event: string): RunnerEvent | undefined {
    return this.events.filter((e) => e.event === event).at(-1);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.pid, sig);
  }
}

function runnerEnv(spool: string, endpoint: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    VMPULSE_ENDPOINT: endpoint,
    VMPULSE_TOKEN: 'test-token-secret',
    VMPULSE_AGENT_ID: 'ship-runner-host',
    VMPULSE_SPOOL_DIR: spool,
    VMPULSE_WINDOW_SECONDS: '1',
    VMPULSE_SHIP_TIMEOUT_MS: '1000',
    VMPULSE_SHIP_BACKOFF_INITIAL_MS: '100',
    VMPULSE_SHIP_BACKOFF_MAX_MS: '800',
    VMPULSE_SPOOL_SEGMENT_RECORDS: '3',
    SHIP_RUNNER_FLUSH_MS: '8000',
    ...over,
  };
}

test('receiver down for 10 windows, then up: every window arrives once, in order, the backlog on disk', async () => {
  const t = tempSpool('outage');
  const rx = await Receiver.start({ token: 'test-token-secret' });
  await rx.down();
  const runner = new Runner(runnerEnv(t.dir, rx.url, { SHIP_RUNNER_INSTANCES: '150' }));
  try {
    await waitFor(() => runner.enqueued().length >= 10, 20_000, 'ten windows spooled while the receiver is down');
    // The first stats line written after the tenth window was enqueued: the last one before it
    // (they come every 250 ms) may predate it and count nine.
    const tenth = runner.events.indexOf(runner.enqueued()[9]!);
    const during = await waitFor(() => runner.events.slice(tenth).find((e) => e.event === 'stats'), 5_000, 'a stats line after the tenth window');
    assert.ok(during.spool!.records >= 10, `spooled ${during.spool!.records}`);
    assert.is(rx.unique.size, 0);
    // The backlog is on disk, not held in the process: every window enqueued so far is a record
    // in the spool's segment files.
    const onDisk = new Set<string>();
    for (const f of segFiles(t.dir)) {
      const buf = readFileSync(join(t.dir, f));
      for (const fr of scanSegment(buf).frames) {
        const meta = peekMeta(buf.subarray(fr.offset + HEADER_BYTES, fr.offset + HEADER_BYTES + fr.length));
        if (meta) onDisk.add(meta.batchId);
      }
    }
    const enqueuedSoFar = runner.enqueued().map((e) => e.batchId!);
    assert.ok(enqueuedSoFar.length >= 10);
    for (const id of enqueuedSoFar) assert.ok(onDisk.has(id), `window ${id} is not in the spool's files`);
    await rx.up();
    await waitFor(() => runner.enqueued().every((e) => rx.unique.has(e.batchId!)) && runner.enqueued().length >= 13, 30_000, 'the backlog and new windows delivered');
    runner.signal('SIGTERM');
    assert.is(await runner.exited, 0, runner.stderr);
    const closed = runner.last('closed')!;
    assert.is(closed.remaining, 0);

    const sent = runner.enqueued();
    assert.equal([...rx.unique.keys()].sort(), sent.map((e) => e.batchId!).sort());
    assert.equal(rx.problems, []);
    for (const p of rx.unique.values()) assert.is(schemaErrors(p), '');
    // Oldest first: after the outage the backlog drains in Minute order, at most one place apart
    // (concurrency 2).
    const minutes = rx.order.map((id) => rx.unique.get(id)!.Stats[0]!.Minute);
    minutes.forEach((m, i) => {
      const overtaken = minutes.slice(0, i).filter((x) => x > m).length;
      assert.ok(overtaken <= 1, `window ${m} arrived after ${overtaken} later windows: ${minutes.join(',')}`);
    });
    // Memory over the outage, for the record (a bench's figure, not an assertion).
    const rss = runner.events.filter((e) => e.event === 'stats').map((e) => e.rss!);
    const early = rss[2]!;
    const peak = Math.max(...rss);
    const mib = (n: number) => (n / 1048576).toFixed(1);
    process.stdout.write(`\n  outage: ${rss.length} RSS samples, ${mib(early)} MiB early, ${mib(peak)} MiB peak; arrival order ${minutes.map((m) => m - minutes[0]!).join(',')}\n`);
    assert.equal(segFiles(t.dir), []);
    recordLedger('outage of 10 windows (runner process)', [rx], sent.map((e) => e.batchId!));
  } finally {
    runner.signal('SIGKILL');
    await runner.exited;
    await rx.close();
    t.cleanup();
  }
});

test('kill -9 with batches unacknowledged, then a restart: all delivered once after dedup, spool consistent', async () => {
  const t = tempSpool('kill9');
  const rx = await Receiver.start({ token: 'test-token-secret' });
  const first = new Runner(runnerEnv(t.dir, rx.url));
  let second: Runner | undefined;
  try {
    await waitFor(() => first.enqueued().length >= 3 && first.enqueued().every((e) => rx.unique.has(e.batchId!)), 20_000, 'three windows delivered');
    await rx.down();
    const before = first.enqueued().length;
    await waitFor(() => first.enqueued().length >= before + 4, 20_000, 'four windows spooled while the receiver is down');
    first.signal('SIGKILL');
    await first.exited;
    const sentFirst = first.enqueued();
    const unacked = sentFirst.filter((e) => !rx.unique.has(e.batchId!));
    assert.ok(unacked.length >= 4, `${unacked.length} unacknowledged at the kill`);
    assert.ok(segFiles(t.dir).length >= 2, `segments ${segFiles(t.dir)}`);

    await rx.up();
    second = new Runner(runnerEnv(t.dir, rx.url, { SHIP_RUNNER_WINDOWS: '3' }));
    assert.is(await second.exited, 0, second.stderr);
    const open = second.events.find((e) => e.event === 'open')!;
    // The restart found exactly what was not acknowledged (plus at most the acks not yet persisted).
    assert.ok(open.spool!.records >= unacked.length && open.spool!.records <= unacked.length + 2, `reopened with ${open.spool!.records}`);
    assert.is(open.spool!.corrupt, 0);
    const closed = second.last('closed')!;
    assert.is(closed.remaining, 0);

    const sent = [...sentFirst, ...second.enqueued()].map((e) => e.batchId!);
    assert.is(new Set(sent).size, sent.length);
    assert.equal([...rx.unique.keys()].sort(), [...sent].sort());
    assert.equal(rx.problems, []);
    // Consistent: every record acknowledged, so no segment is left and the ack file names none.
    assert.equal(segFiles(t.dir), []);
    assert.equal(JSON.parse(readFileSync(join(t.dir, 'ack.json'), 'utf8')).segments, {});
    recordLedger('kill -9 and restart (runner process)', [rx], sent);
  } finally {
    first.signal('SIGKILL');
    second?.signal('SIGKILL');
    await first.exited;
    await second?.exited;
    await rx.close();
    t.cleanup();
  }
});

test.run();
