// Pieces of the outbox on their own: BatchIDs, backoff, Retry-After, config, identity, 413 splits,
// and the spool's framing, acknowledgement persistence, bounds and corruption handling.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BATCH_ID_PATTERN, childBatchId, newBatchId } from '../src/ship/batch-id.js';
import { backoffDelay, parseRetryAfter } from '../src/ship/backoff.js';
import { decodePayload, encodePayload, peekMeta } from '../src/ship/codec.js';
import { parseEndpoints, readShipConfig, SHIP_DEFAULTS } from '../src/ship/config.js';
import { crc32, tableCrc32 } from '../src/ship/crc32.js';
import { resolveAgentId } from '../src/ship/identity.js';
import { splitPayload } from '../src/ship/split.js';
import { Spool, type SpoolOptions } from '../src/ship/spool.js';
import { HEADER_BYTES, scanSegment } from '../src/ship/segment-format.js';
import { recordingLogger, schemaErrors, tempSpool } from './helpers/receiver.js';
import { makePayload } from './helpers/ship-runner.js';
import { mergeInstanceWindows } from '../src/ship/window-merge.js';

// Recent minutes: the spool's age bound (7 days) would drop anything older.
const M0 = Math.floor(Date.now() / 1000) - 600;
const AGE_BASE = 1_700_000_000;
const segFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

async function spoolWith(dir: string, over: Partial<SpoolOptions> = {}) {
  return Spool.open({ dir, maxBytes: 1 << 30, maxAgeSeconds: 86400 * 7, segmentMaxBytes: 1 << 22, segmentMaxRecords: 4, ...over });
}

async function appendWindows(spool: Spool, n: number, firstMinute: number, instances = 2) {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = makePayload({ agentId: 'a', minute: firstMinute + i, seconds: 1, instances });
    const { gz, meta } = await encodePayload(p);
    await spool.append(gz, meta);
    ids.push(p.BatchID);
  }
  return ids;
}

test('BatchIDs are ULIDs in creation order; split children extend the parent', () => {
  const ids = Array.from({ length: 500 }, () => newBatchId(1_700_000_000_000));
  for (const id of ids) assert.ok(BATCH_ID_PATTERN.test(id), id);
  assert.equal([...ids].sort(), ids);
  assert.is(new Set(ids).size, 500);
  assert.is(childBatchId(ids[0]!, 2), `${ids[0]}-2`);
  assert.ok(BATCH_ID_PATTERN.test(childBatchId(childBatchId(ids[0]!, 1), 2)));
  assert.throws(() => childBatchId(ids[0]!, 0));
});

test('backoff: full jitter under an exponential cap; Retry-After seconds and dates, clamped', () => {
  const o = { initialMs: 1000, maxMs: 60_000 };
  assert.is(backoffDelay(0, o, () => 0), 0);
  assert.is(backoffDelay(0, o, () => 0.5), 500);
  assert.is(backoffDelay(3, o, () => 0.5), 4000);
  assert.is(backoffDelay(10, o, () => 0.5), 30_000);
  assert.is(backoffDelay(1000, o, () => 0.999999), 59_999);
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.is(parseRetryAfter('7', now), 7000);
  assert.is(parseRetryAfter('0', now), 0);
  assert.is(parseRetryAfter('100000', now), 300_000);
  assert.is(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
  assert.is(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
  assert.is(parseRetryAfter('soon', now), undefined);
  assert.is(parseRetryAfter(undefined, now), undefined);
});

test('crc32: native and table versions agree with the IEEE check value', () => {
  const check = Buffer.from('123456789');
  assert.is(crc32(check), 0xcbf43926);
  assert.is(tableCrc32(check), 0xcbf43926);
  const rnd = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff));
  assert.is(tableCrc32(rnd), crc32(rnd));
});

test('config: defaults, lists and validation', () => {
  const c = readShipConfig({});
  assert.equal(c.endpoints, []);
  assert.is(c.spoolMaxBytes, 268_435_456);
  assert.is(c.spoolMaxAgeSeconds, 604_800);
  assert.is(c.timeoutMs, 10_000);
  assert.is(c.concurrency, 2);
  assert.is(c.backoffInitialMs, 1000);
  assert.is(c.backoffMaxMs, 60_000);
  assert.is(c.spoolDir, SHIP_DEFAULTS.spoolDir);
  const d = readShipConfig({
    VMPULSE_ENDPOINT: ' http://a:1/ , https://b.example/base/',
    VMPULSE_SHIP_CONCURRENCY: '4',
    VMPULSE_SPOOL_MAX_BYTES: '1048576',
    VMPULSE_TOKEN: 'x',
  });
  assert.equal(d.endpoints, ['http://a:1', 'https://b.example/base']);
  assert.is(d.concurrency, 4);
  assert.is(d.spoolMaxBytes, 1_048_576);
  assert.is(d.token, 'x');
  assert.throws(() => parseEndpoints('ftp://x'), /not http/);
  assert.throws(() => parseEndpoints('http://u:p@x'), /VMPULSE_TOKEN/);
  assert.throws(() => readShipConfig({ VMPULSE_SHIP_BACKOFF_INITIAL_MS: '5000', VMPULSE_SHIP_BACKOFF_MAX_MS: '100' }), /BACKOFF_MAX/);
  assert.throws(() => readShipConfig({ VMPULSE_SHIP_CONCURRENCY: 'two' }));
});

test('identity: configured, else machine-id, else an ID kept in the spool', () => {
  const t = tempSpool('id');
  try {
    assert.equal(resolveAgentId({ configured: 'host-1', spoolDir: t.dir }), { agentId: 'host-1', source: 'configured' });
    assert.throws(() => resolveAgentId({ configured: 'bad id', spoolDir: t.dir }));
    const mid = join(t.dir, 'machine-id');
    writeFileSync(mid, '3d1219c7c4c5404aaa1f6d2a48adfda4\n');
    assert.equal(resolveAgentId({ spoolDir: t.dir, machineIdPath: mid }), { agentId: '3d1219c7c4c5404aaa1f6d2a48adfda4', source: 'machine-id' });
    writeFileSync(mid, '\n');
    const a = resolveAgentId({ spoolDir: t.dir, machineIdPath: mid });
    assert.is(a.source, 'spool');
    assert.match(a.agentId, /^[0-9a-f]{32}$/);
    assert.equal(resolveAgentId({ spoolDir: t.dir, machineIdPath: join(t.dir, 'absent') }), a);
    assert.is(readFileSync(join(t.dir, 'agent-id'), 'utf8').trim(), a.agentId);
  } finally {
    t.cleanup();
  }
});

test('synthetic payloads and their encoding are schema-valid; metadata is read from the head', async () => {
  const p = makePayload({ agentId: 'agent-1', minute: 1_700_000_040, seconds: 2, instances: 300 });
  assert.is(schemaErrors(p), '');
  const { gz, meta } = await encodePayload(p);
  assert.equal(meta, { batchId: p.BatchID, minute: 1_700_000_040, createdAt: 1_700_000_042 });
  assert.equal(peekMeta(gz), meta);
  assert.equal(await decodePayload(gz), p);
});

test('TAP packets, errors and drops are optional on the wire: new agents send them, old payloads stay valid, merges keep unknowns unknown', () => {
  const p = makePayload({ agentId: 'a', minute: 1_700_000_000, seconds: 60, instances: 2 });
  const [a, b] = p.Instances;
  a!.Counters = { ...a!.Counters!, NetworkRxPackets: 12, NetworkTxPackets: 3, NetworkRxErrors: 0, NetworkTxErrors: 1, NetworkRxDropped: 80, NetworkTxDropped: 0 };
  const w = a!.Stats[0]!;
  a!.Stats[0] = { ...w, NetInErrors: 0, NetOutErrors: 1, NetInDropped: 80, NetOutDropped: 0 };
  b!.Stats[0] = { ...b!.Stats[0]!, NetInErrors: null, NetOutErrors: null, NetInDropped: null, NetOutDropped: null };
  assert.is(schemaErrors(p), '', 'new fields, numbers and nulls');
  assert.is(schemaErrors(makePayload({ agentId: 'a', minute: 1_700_000_000, seconds: 60, instances: 2 })), '', 'an older agent without them');
  const bad = structuredClone(p);
  bad.Instances[0]!.Stats[0]!.NetInDropped = -1;
  assert.match(schemaErrors(bad), /minimum/);
  // Merging two records of one VM: sums, null stays null, absent (an older agent) stays absent.
  const m = mergeInstanceWindows(a!.Stats[0]!, { ...a!.Stats[0]!, NetInDropped: 20 });
  assert.equal([m.NetInErrors, m.NetOutErrors, m.NetInDropped, m.NetOutDropped], [0, 2, 100, 0]);
  assert.is(mergeInstanceWindows(a!.Stats[0]!, b!.Stats[0]!).NetInDropped, null);
  assert.not.ok('NetInDropped' in mergeInstanceWindows(a!.Stats[0]!, w));
});

test('413 split: instances halved, host Stats with the first part, one instance halves its windows', () => {
  const p = makePayload({ agentId: 'a', minute: 1_700_000_000, seconds: 1, instances: 5 });
  const parts = splitPayload(p)!;
  assert.equal(parts.map((x) => x.BatchID), [`${p.BatchID}-1`, `${p.BatchID}-2`]);
  assert.equal(parts.map((x) => x.Instances.length), [3, 2]);
  assert.equal(parts.map((x) => x.Stats.length), [1, 0]);
  assert.equal(parts.flatMap((x) => x.Instances.map((i) => i.InstanceID)), p.Instances.map((i) => i.InstanceID));
  for (const x of parts) assert.is(schemaErrors(x), '');

  const one = makePayload({ agentId: 'a', minute: 1_700_000_000, seconds: 1, instances: 1 });
  const w = one.Instances[0]!.Stats[0]!;
  one.Instances[0]!.Stats = [w, { ...w, Minute: w.Minute + 1 }, { ...w, Minute: w.Minute + 2 }];
  const halves = splitPayload(one)!;
  assert.equal(halves.map((x) => x.Instances[0]!.Stats.map((s) => s.Minute)), [[w.Minute, w.Minute + 1], [w.Minute + 2]]);
  assert.equal(halves.map((x) => x.Stats.length), [1, 0]);

  const single = makePayload({ agentId: 'a', minute: 1_700_000_000, seconds: 1, instances: 1 });
  assert.is(splitPayload(single), null);
});

test('spool: records framed, fsynced, acknowledged out of order, and a reopen resends exactly the rest', async () => {
  const t = tempSpool('ack');
  try {
    let s = await spoolWith(t.dir);
    const ids = await appendWindows(s, 6, M0);
    assert.equal(s.pending(10).map((r) => r.batchId), ids);
    assert.equal(segFiles(t.dir), ['00000000000000000001.seg', '00000000000000000002.seg']);
    const buf = readFileSync(join(t.dir, '00000000000000000001.seg'));
    const { frames, bad } = scanSegment(buf);
    assert.is(frames.length, 4);
    assert.is(bad.length, 0);
    assert.is(buf.readUInt32BE(0), 0x56505331);
    const recs = s.pending(10);
    const body = await s.read(recs[1]!.id);
    assert.equal((await decodePayload(body!)).BatchID, ids[1]);
    // Concurrency 2 finishes out of order: ack 2, 4 and 5 only.
    await Promise.all([s.ack(recs[3]!.id), s.ack(recs[1]!.id), s.ack(recs[4]!.id)]);
    assert.is(s.stats().acked, 3);
    await s.close();
    const ack = JSON.parse(readFileSync(join(t.dir, 'ack.json'), 'utf8'));
    assert.equal(ack.segments['00000000000000000001.seg'].acked.length, 2);

    s = await spoolWith(t.dir);
    assert.equal(s.pending(10).map((r) => r.batchId), [ids[0], ids[2], ids[5]]);
    assert.equal(s.stats(), { records: 3, bytes: s.stats().bytes, segments: 2, oldestMinute: M0, appended: 0, acked: 0, dropped: 0, corrupt: 0 });
    for (const r of s.pending(10)) await s.ack(r.id);
    // Every record acknowledged: no segment is kept.
    assert.equal(segFiles(t.dir), []);
    assert.is(s.stats().bytes, 0);
    // New segments never reuse a name an old ack entry could still refer to.
    await appendWindows(s, 1, M0 + 100);
    assert.equal(segFiles(t.dir), ['00000000000000000003.seg']);
    await s.close();
  } finally {
    t.cleanup();
  }
});

test('spool: one corrupted byte skips that record only, counted and logged; a torn tail too', async () => {
  const t = tempSpool('corrupt');
  try {
    let s = await spoolWith(t.dir, { segmentMaxRecords: 10 });
    const ids = await appendWindows(s, 5, M0);
    await s.close();
    const path = join(t.dir, '00000000000000000001.seg');
    const buf = readFileSync(path);
    const { frames } = scanSegment(buf);
    const victim = frames[2]!;
    buf[victim.offset + HEADER_BYTES + Math.floor(victim.length / 2)] ^= 0x5a;
    writeFileSync(path, buf);
    const log = recordingLogger();
    s = await spoolWith(t.dir, { segmentMaxRecords: 10, logger: log });
    assert.is(s.stats().corrupt, 1);
    assert.equal(s.pending(10).map((r) => r.batchId), [ids[0], ids[1], ids[3], ids[4]]);
    assert.is(log.lines.filter((l) => /corrupt/.test(l.msg)).length, 1);
    await s.close();

    // A corrupted length field, and a frame cut short by a crash mid-write.
    const b2 = readFileSync(path);
    b2.writeUInt32BE(0xffffff, frames[0]!.offset + 4);
    writeFileSync(path, b2);
    appendFileSync(path, b2.subarray(frames[4]!.offset, frames[4]!.offset + 40));
    s = await spoolWith(t.dir, { segmentMaxRecords: 10 });
    assert.is(s.stats().corrupt, 3); // record 1, record 3, the torn tail
    assert.equal(s.pending(10).map((r) => r.batchId), [ids[1], ids[3], ids[4]]);
    await s.close();
  } finally {
    t.cleanup();
  }
});

test('spool: over its byte bound the oldest segments go, counted; over its age bound the old records go', async () => {
  const t = tempSpool('bound');
  try {
    const probe = await encodePayload(makePayload({ agentId: 'a', minute: M0, seconds: 1, instances: 2 }));
    const frame = HEADER_BYTES + probe.gz.length;
    // Room for 3 segments of 2 records (sizes vary by a few bytes, hence the slack).
    const maxBytes = frame * 6 + 20;
    const log = recordingLogger();
    const s = await spoolWith(t.dir, { maxBytes, segmentMaxRecords: 2, logger: log });
    const ids: string[] = [];
    for (let i = 0; i < 11; i++) {
      ids.push(...(await appendWindows(s, 1, M0 + i)));
      assert.ok(s.stats().bytes <= maxBytes, `bytes ${s.stats().bytes} within ${maxBytes}`);
    }
    // 11 appended in segments of 2: the 4 oldest segments' records beyond the bound went.
    const st = s.stats();
    assert.is(st.appended, 11);
    assert.is(st.dropped, 6);
    assert.is(st.records, 5);
    assert.equal(s.pending(20).map((r) => r.batchId), ids.slice(6));
    assert.is(log.lines.filter((l) => /dropped the oldest/.test(l.msg)).length, 3);
    await s.close();
  } finally {
    t.cleanup();
  }

  const t2 = tempSpool('age');
  try {
    let now = AGE_BASE * 1000;
    const s = await spoolWith(t2.dir, { maxAgeSeconds: 60, now: () => now });
    const ids = await appendWindows(s, 4, AGE_BASE - 100); // CreatedAt -99 .. -96 s
    const fresh = await appendWindows(s, 2, AGE_BASE - 30);
    // Appending ran the age check: the 4 older than 60 s are dropped at once.
    assert.is(s.stats().dropped, 4);
    assert.equal(s.pending(10).map((r) => r.batchId), fresh);
    assert.not.ok(ids.some((id) => s.pending(10).some((r) => r.batchId === id)));
    now += 60_000;
    await s.expire();
    assert.is(s.stats().dropped, 6);
    assert.is(s.stats().records, 0);
    assert.equal(segFiles(t2.dir), []);
    await s.close();
  } finally {
    t2.cleanup();
  }
});

test('spool: a batch larger than the whole bound is refused and counted, not spooled', async () => {
  const t = tempSpool('huge');
  try {
    const s = await spoolWith(t.dir, { maxBytes: 2048 });
    const { gz, meta } = await encodePayload(makePayload({ agentId: 'a', minute: M0, seconds: 1, instances: 200 }));
    assert.ok(gz.length > 2048);
    assert.is(await s.append(gz, meta), null);
    assert.is(s.stats().dropped, 1);
    assert.is(s.stats().records, 0);
    assert.not.ok(existsSync(join(t.dir, '00000000000000000001.seg')));
    await s.close();
  } finally {
    t.cleanup();
  }
});

test.run();
