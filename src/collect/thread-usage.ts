// Per-thread CPU of one VM process, read on request (the agent API's /threads): every task's
// stat, comm and schedstat. Not on the tick path: a VM may have hundreds of threads.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fail, ok, type Outcome } from '../readers/outcome.js';
import { readOnce } from '../readers/kept-file.js';
import { parseProcStat } from '../readers/parse-proc-stat.js';
import { parseComm } from '../readers/parse-comm.js';
import { parseSchedstat } from '../readers/parse-schedstat.js';

export interface ThreadUsage {
  readonly tid: number;
  readonly name: string;
  readonly vcpu: boolean;
  /** Seconds of CPU (utime, stime) from task/<tid>/stat. */
  readonly userSeconds: number;
  readonly systemSeconds: number;
  /** From task/<tid>/schedstat, ns. */
  readonly runNs: number | null;
  readonly waitNs: number | null;
}

export function readThreadUsage(procRoot: string, pid: number, vcpuTids: readonly number[], clockTicksPerSecond: number): Outcome<ThreadUsage[]> {
  const dir = join(procRoot, String(pid), 'task');
  let tids: string[];
  try {
    tids = readdirSync(dir);
  } catch (err) {
    return fail('gone', `${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const vcpus = new Set(vcpuTids);
  const out: ThreadUsage[] = [];
  for (const t of tids) {
    const tid = Number(t);
    const st = readOnce(join(dir, t, 'stat'), true);
    const stat = st.ok ? parseProcStat(st.value) : st;
    if (!stat.ok) continue; // the thread ended between listing and reading
    const cm = readOnce(join(dir, t, 'comm'), true);
    const comm = cm.ok ? parseComm(cm.value) : cm;
    const ss = readOnce(join(dir, t, 'schedstat'), true);
    const sched = ss.ok ? parseSchedstat(ss.value) : ss;
    out.push({
      tid,
      name: comm.ok ? comm.value : stat.value.comm,
      vcpu: vcpus.has(tid),
      userSeconds: stat.value.utime / clockTicksPerSecond,
      systemSeconds: stat.value.stime / clockTicksPerSecond,
      runNs: sched.ok ? sched.value.runNs : null,
      waitNs: sched.ok ? sched.value.waitNs : null,
    });
  }
  out.sort((a, b) => a.tid - b.tid);
  return ok(out);
}
