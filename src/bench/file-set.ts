// The files VmReader reads for one VM every tick, by role, and a naive reader of the same files
// (open/read/close per file per tick, same parsers, same VmSample) for the bench's contrast.
import { join } from 'node:path';
import type { DiscoveredVm } from '../discover/vm.js';
import { readOnce } from '../readers/kept-file.js';
import { fail, ok, type Failure, type Outcome } from '../readers/outcome.js';
import { parseProcStat } from '../readers/parse-proc-stat.js';
import { parseStatm } from '../readers/parse-statm.js';
import { parseStatus } from '../readers/parse-status.js';
import { parseIo } from '../readers/parse-io.js';
import { parseSchedstat } from '../readers/parse-schedstat.js';
import { parseCounter } from '../readers/parse-counter.js';
import { parseCgroupCpuStat } from '../readers/parse-cpu-stat.js';
import { netStatPath, procPidPath, type Roots } from '../readers/roots.js';
import type { SystemConstants } from '../readers/system.js';
import type { FieldError, TapCounters, ThrottleCounters, VmSample } from '../collect/vm-sample.js';

import { TAP_SYSFS_COUNTERS } from '../collect/vm-reader.js';

/** The old strategy's files: every counter of every TAP from sysfs (the C floor's 11 files had 4). */
export const TAP_COUNTERS = TAP_SYSFS_COUNTERS;

export interface VmFileSet {
  readonly stat: string;
  readonly statm: string;
  readonly status: string;
  readonly io: string;
  readonly schedstats: readonly string[];
  /** Per TAP, its four counters in TAP_COUNTERS order. */
  readonly taps: readonly (readonly string[])[];
  readonly cpuStat: string | null;
  readonly cgroupVersion: 1 | 2 | null;
}

/** The same paths VmReader opens (see src/collect/vm-reader.ts). */
export function vmFileSet(vm: DiscoveredVm, roots: Roots): VmFileSet {
  const p = (...rest: string[]) => procPidPath(roots.procRoot, vm.pid, ...rest);
  return {
    stat: p('stat'),
    statm: p('statm'),
    status: p('status'),
    io: p('io'),
    schedstats: vm.vcpuTids.map((tid) => p('task', String(tid), 'schedstat')),
    taps: vm.taps.map((t) => TAP_COUNTERS.map((c) => netStatPath(roots.sysRoot, t, c))),
    cpuStat: vm.cpuCgroupDir === null || vm.cgroupVersion === null ? null : join(vm.cpuCgroupDir, 'cpu.stat'),
    cgroupVersion: vm.cgroupVersion,
  };
}

export function fileList(f: VmFileSet): string[] {
  return [f.stat, f.statm, f.status, f.io, ...f.schedstats, ...f.taps.flat(), ...(f.cpuStat ? [f.cpuStat] : [])];
}

/** One VM read the naive way: every file opened, read and closed again. Same outputs as VmReader. */
export function readNaive(vm: DiscoveredVm, f: VmFileSet, constants: SystemConstants): Outcome<VmSample> {
  const sr = readOnce(f.stat, true);
  const st = sr.ok ? parseProcStat(sr.value) : sr;
  if (!st.ok) return st;
  const errors: FieldError[] = [];
  const miss = (field: string, e: Failure) => errors.push({ field, kind: e.kind, detail: e.detail });
  let rssBytes = st.value.rssPages * constants.pageSize;
  let vmsBytes = st.value.vsize;
  const mr = readOnce(f.statm, true);
  const m = mr.ok ? parseStatm(mr.value) : mr;
  if (m.ok) {
    rssBytes = m.value.residentPages * constants.pageSize;
    vmsBytes = m.value.sizePages * constants.pageSize;
  } else miss('statm', m);
  const ur = readOnce(f.status, true);
  const u = ur.ok ? parseStatus(ur.value) : ur;
  if (!u.ok) miss('status', u);
  const ir = readOnce(f.io, true);
  const io = ir.ok ? parseIo(ir.value) : ir;
  if (!io.ok) miss('io', io);
  let run = 0;
  let wait = 0;
  let schedFailed = f.schedstats.length === 0;
  for (const path of f.schedstats) {
    const r = readOnce(path, true);
    const s = r.ok ? parseSchedstat(r.value) : r;
    if (!s.ok) {
      miss('vcpu', s);
      schedFailed = true;
      break;
    }
    run += s.value.runNs;
    wait += s.value.waitNs;
  }
  const taps: (TapCounters | null)[] = f.taps.map((paths, i) => {
    const v: number[] = [];
    for (const path of paths) {
      const r = readOnce(path, false);
      const c = r.ok ? parseCounter(r.value) : r;
      if (!c.ok) {
        miss(`taps:${vm.taps[i]}`, c);
        return null;
      }
      v.push(c.value);
    }
    return { name: vm.taps[i]!, rxBytes: v[0]!, txBytes: v[1]!, rxPackets: v[2]!, txPackets: v[3]!, rxErrors: v[4]!, txErrors: v[5]!, rxDropped: v[6]!, txDropped: v[7]! };
  });
  let throttle: ThrottleCounters | null = null;
  if (f.cpuStat && vm.cgroupVersion) {
    const r = readOnce(f.cpuStat, false);
    const c = r.ok ? parseCgroupCpuStat(r.value, vm.cgroupVersion) : r;
    if (c.ok) throttle = c.value;
    else miss('throttle', c);
  } else miss('throttle', fail('missing', 'no cpu cgroup'));
  return ok({
    key: vm.key,
    tMs: Date.now(),
    utimeTicks: st.value.utime,
    stimeTicks: st.value.stime,
    numThreads: st.value.numThreads,
    rssBytes,
    vmsBytes,
    swapBytes: u.ok ? u.value.vmSwapBytes : null,
    peakRssBytes: u.ok ? u.value.vmHwmBytes : null,
    diskReadBytes: io.ok ? io.value.readBytes : null,
    diskWriteBytes: io.ok ? io.value.writeBytes : null,
    vcpuRunNs: schedFailed ? null : run,
    vcpuWaitNs: schedFailed ? null : wait,
    taps,
    throttle,
    pressure: null,
    errors,
  });
}
