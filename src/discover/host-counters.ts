// What a scan reads of the host itself: the PID allocator's counters (pid-reuse.ts) and the boot
// time (to tell a process's age from its starttime).
import { readOnce } from '../readers/kept-file.js';
import { parseStatCounters } from '../readers/parse-host-stat.js';
import { parseCounters, type PidCounters } from './pid-reuse.js';
import { readLink } from './proc-io.js';

export interface HostCounters {
  /** Null when unavailable or not ours to use (a proc root of another PID namespace). */
  readonly counters: PidCounters | null;
  /** Boot time, wall ms; null if unknown. */
  readonly bootMs: number | null;
}

export function readHostCounters(procRoot: string): HostCounters {
  const stat = readOnce(`${procRoot}/stat`, false);
  const parsed = stat.ok ? parseStatCounters(stat.value) : stat;
  const bootMs = parsed.ok && parsed.value.btime !== null ? parsed.value.btime * 1000 : null;
  // last_pid belongs to the reader's PID namespace: only our own proc root's counters count.
  const self = readLink(`${procRoot}/self`, false);
  if (!stat.ok || !self.ok || self.value !== String(process.pid)) return { counters: null, bootMs };
  const loadavg = readOnce(`${procRoot}/loadavg`, false);
  const pidMax = readOnce(`${procRoot}/sys/kernel/pid_max`, false);
  if (!loadavg.ok || !pidMax.ok) return { counters: null, bootMs };
  return { counters: parseCounters(loadavg.value, stat.value, pidMax.value), bootMs };
}
