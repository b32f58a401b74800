// `virsh domstats --raw` output → per-domain disks and balloon. Pure.
//
//   Domain: 'vm1'
//     block.count=1
//     block.0.name=vda
//     block.0.rd.reqs=3   block.0.rd.bytes=1536   block.0.rd.times=123456   (ns)
//     block.0.wr.reqs=0 ... block.0.fl.reqs=0  block.0.fl.times=0
//     balloon.current=131072  (KiB)  balloon.available=...  balloon.swap_in=... (KiB)
//
// libvirt reports balloon sizes in KiB and faults as counts; the guest figures (available, usable,
// unused, swap, faults, disk_caches) appear only when the guest's balloon driver reports them.
import { malformed, ok, type Outcome } from '../../readers/outcome.js';
import { EMPTY_BALLOON, type BalloonStats, type DiskCounters } from './device-stats.js';

export interface DomainStats {
  readonly name: string;
  readonly disks: DiskCounters[];
  readonly balloon: BalloonStats;
}

const KiB = 1024;

export function parseDomstats(text: string): Outcome<DomainStats[]> {
  const out: DomainStats[] = [];
  let cur: { name: string; kv: Map<string, string> } | null = null;
  const flush = () => {
    if (cur) out.push(toDomain(cur.name, cur.kv));
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const m = /^Domain: '(.*)'$/.exec(line);
    if (m) {
      flush();
      cur = { name: m[1]!, kv: new Map() };
      continue;
    }
    const eq = line.indexOf('=');
    if (!cur || eq <= 0) return malformed('virsh domstats', `unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    cur.kv.set(line.slice(0, eq), line.slice(eq + 1));
  }
  flush();
  return ok(out);
}

function toDomain(name: string, kv: Map<string, string>): DomainStats {
  const num = (k: string): number | null => {
    const v = kv.get(k);
    if (v === undefined || !/^\d+$/.test(v)) return null;
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : null;
  };
  const disks: DiskCounters[] = [];
  const count = num('block.count') ?? 0;
  for (let i = 0; i < count; i++) {
    const p = `block.${i}.`;
    const device = kv.get(`${p}name`);
    // With --backing, backing-chain entries repeat the name after the top image: the first is the disk.
    if (!device || disks.some((d) => d.device === device)) continue;
    const rb = num(`${p}rd.bytes`);
    const wb = num(`${p}wr.bytes`);
    const rr = num(`${p}rd.reqs`);
    const wr = num(`${p}wr.reqs`);
    // An empty drive (a CD-ROM with no medium) has no I/O counters at all: no disk to report.
    if (rb === null || wb === null || rr === null || wr === null) continue;
    disks.push({
      device,
      readBytes: rb,
      writeBytes: wb,
      readOps: rr,
      writeOps: wr,
      flushOps: num(`${p}fl.reqs`),
      readTimeNs: num(`${p}rd.times`),
      writeTimeNs: num(`${p}wr.times`),
      flushTimeNs: num(`${p}fl.times`),
    });
  }
  const kib = (k: string): number | null => {
    const v = num(k);
    return v === null ? null : v * KiB;
  };
  const balloon: BalloonStats = {
    ...EMPTY_BALLOON,
    actualBytes: kib('balloon.current'),
    availableBytes: kib('balloon.available'),
    usableBytes: kib('balloon.usable'),
    unusedBytes: kib('balloon.unused'),
    diskCachesBytes: kib('balloon.disk_caches'),
    swapInBytes: kib('balloon.swap_in'),
    swapOutBytes: kib('balloon.swap_out'),
    majorFaults: num('balloon.major_fault'),
    minorFaults: num('balloon.minor_fault'),
  };
  return { name, disks, balloon };
}
