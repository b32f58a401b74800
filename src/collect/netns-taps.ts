// TAP counters for many VMs from one read per network namespace per tick. /proc/<pid>/net/dev
// lists every interface of <pid>'s namespace, so the readers of a shard that share a namespace
// (all of them on a plain host) share one kept fd on one member's file: one read per tick
// instead of one sysfs file per counter per TAP (4 files per TAP, 8 with errors and drops).
// Namespaces are told apart by the inode of /proc/<pid>/ns/net; a process whose namespace cannot
// be named gets a space of its own. A TAP the namespace's file does not list (it lives in
// another namespace than its hypervisor) is left to the caller's sysfs fallback.
import { readlinkSync } from 'node:fs';
import { fail, type Failure, type Outcome } from '../readers/outcome.js';
import { parseNetDev, type NetDevCounters } from '../readers/parse-net-dev.js';
import { procPidPath } from '../readers/roots.js';
import { KeptSlot } from './kept-slot.js';

/** A reader's membership of a namespace: its pid (a candidate to read from) and its TAP names. */
export interface NetnsMember {
  readonly pid: number;
  readonly taps: readonly string[];
  readonly space: string;
}

interface Space {
  readonly members: Set<NetnsMember>;
  /** Wanted interface names with how many members want each. */
  readonly wanted: Map<string, number>;
  wantedSet: Set<string> | null;
  slot: KeptSlot | null;
  slotPid: number;
  readTick: number;
  table: Outcome<Map<string, NetDevCounters>>;
}

/** `net:[4026531840]` → '4026531840'; null when the link cannot be read (fixture trees, no rights). */
export function netnsOf(procRoot: string, pid: number): string | null {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(procPidPath(procRoot, pid, 'ns', 'net')));
    return m ? m[1]! : null;
  } catch {
    return null;
  }
}

const NOT_READ: Failure = fail('io', 'not read yet');

export class NetnsTaps {
  private tick = 0;
  private readonly spaces = new Map<string, Space>();

  constructor(private readonly procRoot: string) {}

  /** Counters read before this call are stale: the next lookup of each namespace reads it anew. */
  beginTick(): void {
    this.tick++;
  }

  /** How many /proc/<pid>/net/dev files are kept open (one per namespace in use). */
  get namespaces(): number {
    return this.spaces.size;
  }

  join(pid: number, taps: readonly string[]): NetnsMember {
    const ns = netnsOf(this.procRoot, pid);
    const member: NetnsMember = { pid, taps: [...taps], space: ns === null ? `pid:${pid}` : ns };
    let s = this.spaces.get(member.space);
    if (!s) {
      s = { members: new Set(), wanted: new Map(), wantedSet: null, slot: null, slotPid: 0, readTick: -1, table: NOT_READ };
      this.spaces.set(member.space, s);
    }
    s.members.add(member);
    for (const t of member.taps) s.wanted.set(t, (s.wanted.get(t) ?? 0) + 1);
    s.wantedSet = null;
    s.readTick = -1;
    return member;
  }

  leave(member: NetnsMember): void {
    const s = this.spaces.get(member.space);
    if (!s || !s.members.delete(member)) return;
    for (const t of member.taps) {
      const n = (s.wanted.get(t) ?? 1) - 1;
      if (n > 0) s.wanted.set(t, n);
      else s.wanted.delete(t);
    }
    s.wantedSet = null;
    // A kept fd holds its namespace alive: never keep one through a process that has left.
    if (s.slotPid === member.pid) this.dropSlot(s);
    if (s.members.size === 0) this.spaces.delete(member.space);
  }

  /** This tick's table of the member's namespace (read at most once per tick per namespace). */
  table(member: NetnsMember): Outcome<Map<string, NetDevCounters>> {
    const s = this.spaces.get(member.space);
    if (!s) return fail('io', 'not a member');
    if (s.readTick === this.tick) return s.table;
    s.readTick = this.tick;
    s.wantedSet ??= new Set(s.wanted.keys());
    // Read through the kept member; if that process has exited, through the next member.
    let last: Failure = fail('missing', 'no member to read the namespace through');
    const order = s.slot ? [s.slotPid] : [];
    for (const m of s.members) if (m.pid !== s.slotPid) order.push(m.pid);
    for (const candidate of order) {
      if (!s.slot || s.slotPid !== candidate) {
        this.dropSlot(s);
        const slot = new KeptSlot(procPidPath(this.procRoot, candidate, 'net', 'dev'), true, true);
        const opened = slot.ensureOpen();
        // The fd follows the namespace the process had when it was opened: check it is still the
        // member's (a pid that exited and was reused in between would name another namespace).
        if (opened || (!member.space.startsWith('pid:') && netnsOf(this.procRoot, candidate) !== member.space)) {
          slot.close();
          last = opened ?? fail('gone', `pid ${candidate} is no longer in namespace ${member.space}`);
          continue;
        }
        s.slot = slot;
        s.slotPid = candidate;
      }
      const r = s.slot.read();
      if (r.ok) {
        // The last tick's table is refilled in place (read by nobody once this tick reads anew).
        s.table = parseNetDev(r.value, s.wantedSet, s.table.ok ? s.table.value : null);
        return s.table;
      }
      last = r;
      this.dropSlot(s);
      if (r.kind !== 'gone') break;
    }
    s.table = last;
    return s.table;
  }

  private dropSlot(s: Space): void {
    s.slot?.close();
    s.slot = null;
    s.slotPid = 0;
  }

  close(): void {
    for (const s of this.spaces.values()) this.dropSlot(s);
    this.spaces.clear();
  }
}
