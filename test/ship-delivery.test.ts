// The outbox in this process against the test receiver: every answer a server (or the network
// in between) can give, and every batch still arrives exactly once after dedup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodePayload } from '../src/ship/codec.js';
import type { ShipConfig } from '../src/ship/config.js';
import { openOutbox, type Outbox } from '../src/ship/outbox.js';
import type { Payload } from '../src/ship/payload.js';
import { HEADER_BYTES, scanSegment } from '../src/ship/segment-format.js';
import { Receiver, recordLedger, recordingLogger, schemaErrors, tempSpool, testConfig } from './helpers/receiver.js';
import { sleep, waitFor } from './helpers/procs.js';
import { makePayload } from './helpers/ship-runner.js';

const segFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg'));
const BASE_MINUTE = Math.floor(Date.now() / 1000) - 600;

interface Rig {
  dir: string;
  rx: Receiver;
  outbox: Outbox;
  log: ReturnType<typeof recordingLogger>;
  config: ShipConfig;
  done: () => Promise<void>;
}

async function rig(tag: string, over: Partial<ShipConfig> = {}, rx?: Receiver): Promise<Rig> {
  const t = tempSpool(tag);
  const receiver = rx ?? (await Receiver.start({ token: 'test-token-secret' }));
  const log = recordingLogger();
  const config = testConfig(t.dir, [receiver.url], over);
  const outbox = await openOutbox(config, log, { version: '9.9.9' });
  return {
    dir: t.dir,
    rx: receiver,
    outbox,
    log,
    config,
    done: async () => {
      await outbox.close({ flushMs: 0 });
      await receiver.close();
      t.cleanup();
    },
  };
}

/** Enqueues `n` one-second windows; returns their payloads in order. */
async function windows(outbox: Outbox, n: number, from: number, instances = 3): Promise<Payload[]> {
  const out: Payload[] = [];
  for (let i = 0; i < n; i++) {
    const p = makePayload({ agentId: outbox.agentId, minute: from + i, seconds: 1, instances });
    await outbox.enqueue(p);
    out.push(p);
  }
  return out;
}

function assertExactlyOnce(rx: Receiver, sent: Payload[]): void {
  assert.equal([...rx.unique.keys()].sort(), sent.map((p) => p.BatchID).sort());
  for (const p of sent) assert.equal(rx.unique.get(p.BatchID), JSON.parse(JSON.stringify(p)));
  assert.equal(rx.problems, []);
}

test('happy path: headers, gzip, token, schema-valid bodies, in order; nothing left in the spool', async () => {
  const r = await rig('ok');
  try {
    const sent = await windows(r.outbox, 6, BASE_MINUTE);
    await waitFor(() => r.rx.unique.size === 6, 10_000, 'six deliveries');
    assertExactlyOnce(r.rx, sent);
    const req = r.rx.requests[0]!;
    assert.is(req.headers['authorization'], 'Bearer test-token-secret');
    assert.is(req.headers['user-agent'], 'vmpulse-agent/9.9.9');
    assert.is(req.headers['content-encoding'], 'gzip');
    for (const d of r.rx.deliveries) assert.is(schemaErrors(d.payload), '');
    // Concurrency 2: arrival order is Minute order up to one place.
    const minutes = r.rx.order.map((id) => r.rx.unique.get(id)!.Stats[0]!.Minute);
    minutes.forEach((m, i) => assert.ok(minutes.slice(0, i).filter((x) => x > m).length <= 1, `order ${minutes}`));
    await waitFor(() => r.outbox.stats().spool.records === 0 && segFiles(r.dir).length === 0, 5000, 'an empty spool');
    const st = r.outbox.stats();
    assert.is(st.shipper.shipped, 6);
    assert.is(st.shipper.failedAttempts, 0);
    assert.is(st.spool.acked, 6);
    assert.not.ok(r.log.lines.some((l) => JSON.stringify(l).includes('test-token-secret')));
    recordLedger('happy path', [r.rx], sent.map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('503 with Retry-After pauses the endpoint for that long, then all delivered', async () => {
  const r = await rig('503');
  try {
    r.rx.script({ status: 503, retryAfter: '1' });
    const sent = await windows(r.outbox, 3, BASE_MINUTE);
    await waitFor(() => r.rx.unique.size === 3, 10_000, 'three deliveries');
    assertExactlyOnce(r.rx, sent);
    const first = r.rx.requests[0]!;
    assert.is(first.answered, 503);
    // Requests already in flight when the 503 came back may land; none started inside the pause.
    const started = r.rx.requests.filter((q) => q.n > 2);
    for (const q of started) assert.ok(q.at - first.at >= 950, `request ${q.n} ${q.at - first.at} ms after the 503`);
    assert.is(r.outbox.stats().shipper.failedAttempts, 1);
    recordLedger('503 + Retry-After', [r.rx], sent.map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('429 with an HTTP-date Retry-After, then delivered', async () => {
  const r = await rig('429');
  try {
    r.rx.script({ status: 429, retryAfter: new Date(Date.now() + 1000).toUTCString() }, { status: 429 });
    const sent = await windows(r.outbox, 3, BASE_MINUTE);
    await waitFor(() => r.rx.unique.size === 3, 10_000, 'three deliveries');
    assertExactlyOnce(r.rx, sent);
    assert.equal(r.rx.requests.slice(0, 2).map((q) => q.answered), [429, 429]);
    assert.is(r.outbox.stats().shipper.failedAttempts, 2);
    assert.match(r.outbox.stats().shipper.lastError!.message, /HTTP 429/);
    recordLedger('429', [r.rx], sent.map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('answers slower than the timeout: the server kept them, the retries are duplicates it drops', async () => {
  const r = await rig('slow', { timeoutMs: 300 });
  try {
    r.rx.script({ delayMs: 800 }, { delayMs: 800 });
    const sent = await windows(r.outbox, 4, BASE_MINUTE);
    await waitFor(() => r.rx.unique.size === 4 && r.outbox.stats().spool.records === 0, 10_000, 'four acknowledged deliveries');
    assertExactlyOnce(r.rx, sent);
    assert.is(r.rx.duplicates, 2);
    assert.is(r.outbox.stats().shipper.failedAttempts, 2);
    assert.match(r.outbox.stats().shipper.lastError!.message, /ETIMEDOUT/);
    recordLedger('slower than the timeout', [r.rx], sent.map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('connection resets and a 500 then 200: all delivered once', async () => {
  const r = await rig('reset');
  try {
    r.rx.script({ reset: true }, { reset: true }, { reset: true }, { status: 500 });
    const sent = await windows(r.outbox, 4, BASE_MINUTE);
    await waitFor(() => r.rx.unique.size === 4 && r.outbox.stats().spool.records === 0, 10_000, 'four deliveries');
    assertExactlyOnce(r.rx, sent);
    assert.is(r.rx.duplicates, 0);
    assert.is(r.rx.requests.filter((q) => q.answered === 'reset').length, 3);
    const st = r.outbox.stats().shipper;
    assert.is(st.failedAttempts, 4);
    assert.is(st.shipped, 4);
    recordLedger('resets, 500 then 200', [r.rx], sent.map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('400 is permanent: dead-lettered with its body, acknowledged, and the rest still delivered', async () => {
  const r = await rig('400');
  try {
    let refused = '';
    r.rx.responder = ({ batchId }) => (batchId === refused ? { status: 400, body: '{"error":"Stats[0].CPU: bad"}' } : undefined);
    const p = makePayload({ agentId: r.outbox.agentId, minute: BASE_MINUTE, seconds: 1, instances: 2 });
    refused = p.BatchID;
    await r.outbox.enqueue(p);
    const rest = await windows(r.outbox, 4, BASE_MINUTE + 1);
    await waitFor(() => r.rx.unique.size === 4 && r.outbox.stats().spool.records === 0, 10_000, 'the rest delivered');
    assertExactlyOnce(r.rx, rest);
    assert.is(r.rx.requests.filter((q) => q.batchId === refused).length, 1);
    const lines = readFileSync(join(r.dir, 'dead-letter.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.is(lines.length, 1);
    assert.is(lines[0].batchId, refused);
    assert.is(lines[0].status, 400);
    assert.is(lines[0].response, '{"error":"Stats[0].CPU: bad"}');
    assert.equal(JSON.parse(gunzipSync(Buffer.from(lines[0].body, 'base64')).toString()), p);
    const st = r.outbox.stats();
    assert.is(st.shipper.deadLettered, 1);
    assert.is(st.spool.acked, 5);
    recordLedger('400 dead letter', [r.rx], rest.map((x) => x.BatchID));
  } finally {
    await r.done();
  }
});

test('413 splits the batch; the children arrive and together hold every instance once', async () => {
  const r = await rig('413');
  try {
    const p = makePayload({ agentId: r.outbox.agentId, minute: BASE_MINUTE, seconds: 1, instances: 40 });
    const whole = (await encodePayload(p)).gz.length;
    r.rx.maxBodyBytes = Math.floor(whole / 3);
    await r.outbox.enqueue(p);
    await waitFor(() => r.outbox.stats().spool.records === 0 && r.outbox.stats().shipper.inFlight === 0, 10_000, 'the split parts delivered');
    const parts = [...r.rx.unique.values()];
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    for (const part of parts) {
      assert.match(part.BatchID, new RegExp(`^${p.BatchID}(-[12])+$`));
      assert.is(schemaErrors(part), '');
    }
    const ids = parts.flatMap((x) => x.Instances.map((i) => i.InstanceID)).sort();
    assert.equal(ids, p.Instances.map((i) => i.InstanceID).sort());
    assert.is(parts.reduce((n, x) => n + x.Stats.length, 0), 1);
    assert.ok(r.rx.requests.filter((q) => q.answered === 413).length >= 1);
    assert.is(r.outbox.stats().shipper.split, r.rx.requests.filter((q) => q.answered === 413).length);
    assert.is(r.rx.problems.length, 0);
    // Losses counted per instance: every instance of the parent arrived.
    recordLedger('413 split', [r.rx], parts.map((x) => x.BatchID));
  } finally {
    await r.done();
  }
});

test('failover to the second receiver while the first is down, and back to the first once it answers', async () => {
  const a = await Receiver.start({ token: 'test-token-secret' });
  const b = await Receiver.start({ token: 'test-token-secret' });
  await a.down();
  const t = tempSpool('failover');
  const log = recordingLogger();
  const outbox = await openOutbox(testConfig(t.dir, [a.url, b.url], { failbackMs: 400 }), log);
  try {
    const early = await windows(outbox, 3, BASE_MINUTE);
    await waitFor(() => b.unique.size === 3, 10_000, 'deliveries at the second receiver');
    assert.is(outbox.stats().shipper.endpoint, 1);
    await a.up();
    const late: Payload[] = [];
    // Keep windows coming, as the agent would, until the first receiver gets them again.
    for (let i = 0; i < 20 && a.unique.size === 0; i++) {
      late.push(...(await windows(outbox, 1, BASE_MINUTE + 3 + i)));
      await sleep(100);
    }
    await waitFor(() => a.unique.size + b.unique.size >= 3 + late.length && outbox.stats().spool.records === 0, 10_000, 'every window delivered');
    const more = await windows(outbox, 2, BASE_MINUTE + 50);
    await waitFor(() => more.every((p) => a.unique.has(p.BatchID)), 5000, 'new windows at the first receiver');
    const all = [...early, ...late, ...more].map((p) => p.BatchID);
    const got = new Set([...a.unique.keys(), ...b.unique.keys()]);
    assert.equal([...got].sort(), [...all].sort());
    assert.ok(early.every((p) => b.unique.has(p.BatchID)));
    assert.is(outbox.stats().shipper.endpoint, 0);
    assert.ok(outbox.stats().shipper.failovers >= 1, `failovers ${outbox.stats().shipper.failovers}`);
    assert.ok(late.length >= 1 && late.length <= 20);
    assert.equal([...a.problems, ...b.problems], []);
    recordLedger('failover and back', [a, b], all);
  } finally {
    await outbox.close({ flushMs: 0 });
    await a.close();
    await b.close();
    t.cleanup();
  }
});

test('spool full while the receiver is down: the oldest dropped and counted, the rest delivered', async () => {
  const probe = (await encodePayload(makePayload({ agentId: 'test-agent', minute: BASE_MINUTE, seconds: 1, instances: 3 }))).gz.length;
  const frame = HEADER_BYTES + probe;
  const r = await rig('full', { spoolMaxBytes: frame * 6 + 30, segmentMaxRecords: 2 });
  try {
    await r.rx.down();
    const sent = await windows(r.outbox, 12, BASE_MINUTE);
    let st = r.outbox.stats();
    assert.is(st.spool.appended, 12);
    assert.is(st.spool.dropped, 6);
    assert.is(st.spool.records, 6);
    assert.ok(st.spool.bytes <= frame * 6 + 30);
    assert.is(st.spool.oldestMinute, BASE_MINUTE + 6);
    assert.ok(r.log.lines.some((l) => /dropped the oldest/.test(l.msg)));
    await r.rx.up();
    await waitFor(() => r.rx.unique.size === 6 && r.outbox.stats().spool.records === 0, 15_000, 'the kept six delivered');
    assertExactlyOnce(r.rx, sent.slice(6));
    st = r.outbox.stats();
    assert.is(st.spool.acked, 6);
    assert.is(st.shipper.shipped, 6);
    recordLedger('spool full (6 of 12 dropped by the bound, by design)', [r.rx], sent.slice(6).map((p) => p.BatchID));
  } finally {
    await r.done();
  }
});

test('one corrupted byte in a segment: that record skipped and counted, the rest delivered', async () => {
  const t = tempSpool('corrupt');
  const rx = await Receiver.start({ token: 'test-token-secret' });
  await rx.down();
  try {
    const config = testConfig(t.dir, [rx.url], { segmentMaxRecords: 8 });
    let outbox = await openOutbox(config, recordingLogger());
    const sent = await windows(outbox, 5, BASE_MINUTE);
    await outbox.close({ flushMs: 0 });
    const seg = join(t.dir, segFiles(t.dir)[0]!);
    const buf = readFileSync(seg);
    const { frames } = scanSegment(buf);
    assert.is(frames.length, 5);
    buf[frames[2]!.offset + HEADER_BYTES + 100] ^= 0x01;
    writeFileSync(seg, buf);
    await rx.up();
    outbox = await openOutbox(config, recordingLogger());
    await waitFor(() => rx.unique.size === 4 && outbox.stats().spool.records === 0, 10_000, 'the four intact records');
    assert.is(outbox.stats().spool.corrupt, 1);
    assert.equal([...rx.unique.keys()].sort(), sent.filter((_, i) => i !== 2).map((p) => p.BatchID).sort());
    await outbox.close({ flushMs: 0 });
    assert.equal(segFiles(t.dir), []);
    recordLedger('corrupt byte (1 record unreadable, by design)', [rx], sent.filter((_, i) => i !== 2).map((p) => p.BatchID));
  } finally {
    await rx.close();
    t.cleanup();
  }
});

test.run();
