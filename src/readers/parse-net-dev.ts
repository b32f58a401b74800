// /proc/net/dev (and /proc/<pid>/net/dev): every interface of a network namespace in one read.
// Only the wanted interfaces are turned into numbers: a hypervisor host has one line per TAP, and a
// tick parses this file once per namespace per worker (the TAPs of its shard). The host's own
// physical interfaces are read from their sysfs counters instead (collect/host.ts).
//
// Format (net/core/net-procfs.c): two header lines, then per device `%6s: ` and 16 counters
// (`bytes packets errs drop fifo frame compressed multicast` received, then `bytes packets errs
// drop fifo colls carrier compressed` sent). A device name never holds ':', '/' or whitespace
// (dev_valid_name) but may hold any other byte, UTF-8 included; it is decoded as UTF-8, the way
// discovery decodes the `iff:` name of a TAP fd. Names longer than 6 bytes push the counters
// right; counters wider than their column are still separated by a space.
import { malformed, ok, type Outcome } from './outcome.js';
import { asBytes, isSpace, uintAt } from './parse-util.js';

export interface NetDevCounters {
  readonly name: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrs: number;
  readonly rxDrop: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrs: number;
  readonly txDrop: number;
}

const FIELDS = 16;
const scratch = new Float64Array(FIELDS);

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * The counters of the wanted interfaces that the file lists (an interface it does not list is
 * simply absent from the result). `wanted` null: every interface. A wanted line that is not 16
 * counters makes the whole read malformed: the file's format is then not the one this reads.
 *
 * `into`: the map a previous parse of the same namespace returned, which nobody reads any more; its
 * entries are refilled in place. A sampler worker keeps its namespace's table for a tick: 1,000
 * new entries each tick would survive a scavenge and be promoted, as the agent's samples were.
 */
export function parseNetDev(input: Buffer | string, wanted: ReadonlySet<string> | null, into: Map<string, NetDevCounters> | null = null): Outcome<Map<string, NetDevCounters>> {
  const buf = asBytes(input);
  const n = buf.length;
  const out = into ?? new Map<string, NetDevCounters>();
  let listed = 0;
  // The two header lines both hold '|'; a file without them is not /proc/net/dev.
  let i = 0;
  for (let h = 0; h < 2; h++) {
    const end = buf.indexOf(10, i);
    const lineEnd = end < 0 ? n : end;
    if (buf.indexOf(124 /* | */, i) < 0 || buf.indexOf(124, i) > lineEnd) return malformed('net/dev', 'no header');
    i = lineEnd + 1;
  }
  while (i < n) {
    let lineEnd = buf.indexOf(10, i);
    if (lineEnd < 0) lineEnd = n;
    let s = i;
    while (s < lineEnd && isSpace(buf[s]!)) s++;
    if (s === lineEnd) {
      i = lineEnd + 1;
      continue;
    }
    let colon = s;
    while (colon < lineEnd && buf[colon] !== 58 /* : */) colon++;
    if (colon === lineEnd || colon === s) return malformed('net/dev', `no "name:" in ${JSON.stringify(buf.toString('utf8', i, lineEnd))}`);
    const name = buf.toString('utf8', s, colon);
    if (wanted === null || wanted.has(name)) {
      let count = 0;
      let p = colon + 1;
      for (;;) {
        while (p < lineEnd && isSpace(buf[p]!)) p++;
        if (p >= lineEnd) break;
        const fs = p;
        while (p < lineEnd && !isSpace(buf[p]!)) p++;
        // Only the 8 counters kept (bytes, packets, errs, drop each way) are converted.
        if (count < FIELDS && (count & 4) === 0) scratch[count] = uintAt(buf, fs, p);
        count++;
      }
      if (count !== FIELDS) return malformed('net/dev', `${JSON.stringify(name)}: expected ${FIELDS} counters, got ${count}`);
      for (let f = 0; f < FIELDS; f++) if ((f & 4) === 0 && scratch[f]! < 0) return malformed('net/dev', `${JSON.stringify(name)}: a field is not a counter`);
      listed++;
      let e = out.get(name) as Mutable<NetDevCounters> | undefined;
      if (!e) out.set(name, (e = { name, rxBytes: 0, rxPackets: 0, rxErrs: 0, rxDrop: 0, txBytes: 0, txPackets: 0, txErrs: 0, txDrop: 0 }));
      e.rxBytes = scratch[0]!;
      e.rxPackets = scratch[1]!;
      e.rxErrs = scratch[2]!;
      e.rxDrop = scratch[3]!;
      e.txBytes = scratch[8]!;
      e.txPackets = scratch[9]!;
      e.txErrs = scratch[10]!;
      e.txDrop = scratch[11]!;
    }
    i = lineEnd + 1;
  }
  if (out.size !== listed) {
    // An interface of the previous parse is gone, or no longer wanted (rare): which ones is not
    // tracked, so the map is rebuilt from a fresh parse.
    const fresh = parseNetDev(buf, wanted);
    if (!fresh.ok) return fresh;
    out.clear();
    for (const [k, v] of fresh.value) out.set(k, v);
  }
  return ok(out);
}
