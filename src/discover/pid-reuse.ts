// Telling a reused PID from the process we already know without reading every /proc/<pid>/stat
// on every scan.
//
// The kernel hands out PIDs cyclically (idr_alloc_cyclic from the last allocated PID, wrapping
// to 300 at pid_max) and frees a PID only when its task is reaped. So between two scans every
// newly allocated PID lies in the cyclic interval (last_pid before, last_pid now], as long as the
// cursor did not go a full lap. A full lap visits all pid_max-300 positions, each either
// allocated (at most F = forks since the last scan) or skipped because in use (a task alive at
// the last scan, at most N of them, or one created since, at most F). So 2F + N < pid_max - 300
// proves there was no full lap, and only known PIDs inside the interval need their stat re-read.
// Otherwise (or when the counters are unavailable) every known PID is re-checked.
//
// last_pid (/proc/loadavg) belongs to the reader's PID namespace, so the counters are only used
// when the proc root is the reader's own (its `self` is our pid); forks (/proc/stat `processes`)
// and N (/proc/loadavg running/total) are global, which only makes the bound more cautious.
import { parseCounter } from '../readers/parse-counter.js';
import { parseStatCounters } from '../readers/parse-host-stat.js';
import { parseLoadavg } from '../readers/parse-loadavg.js';

export interface PidCounters {
  /** Last PID allocated (5th field of /proc/loadavg). */
  readonly lastPid: number;
  /** Forks since boot (/proc/stat `processes`). */
  readonly forks: number;
  /** Tasks in existence (/proc/loadavg "running/total"). */
  readonly tasks: number;
  /** /proc/sys/kernel/pid_max. */
  readonly pidMax: number;
}

const RESERVED_PIDS = 300;

/** 'all' = re-check every known PID; else a test for the PIDs that may have been reused. Pure. */
export function reuseWindow(prev: PidCounters | null, now: PidCounters | null): 'all' | ((pid: number) => boolean) {
  if (!prev || !now || prev.pidMax !== now.pidMax) return 'all';
  const forks = now.forks - prev.forks;
  if (forks < 0) return 'all';
  if (forks === 0) return () => false;
  if (2 * forks + prev.tasks >= now.pidMax - RESERVED_PIDS) return 'all';
  const from = prev.lastPid;
  const to = now.lastPid;
  return to >= from ? (pid) => pid > from && pid <= to : (pid) => pid > from || pid <= to;
}

/** /proc/loadavg, /proc/stat and /proc/sys/kernel/pid_max → the counters, or null. Pure. */
export function parseCounters(loadavg: Buffer | string, stat: Buffer | string, pidMax: Buffer | string): PidCounters | null {
  const la = parseLoadavg(loadavg);
  const st = parseStatCounters(stat);
  const max = parseCounter(pidMax);
  if (!la.ok || !st.ok || st.value.processes === null || !max.ok || max.value <= RESERVED_PIDS) return null;
  return { tasks: la.value.entities, lastPid: la.value.lastPid, forks: st.value.processes, pidMax: max.value };
}
