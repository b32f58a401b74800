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
import { parseCgroupCpuStat } from '../readers/parse-cpu-stat.js';
import { netStatPath, procPidPath, type Roots } from '../readers/roots.js';
import type { SystemConstants } from '../readers/system.js';
import type { FieldError, TapCounters, ThrottleCounters, VmSample } from '../collect/vm-sample.js';

import { netnsOf } from '../collect/netns-taps.js';
import type { NetDevCounters } from '../readers/parse-net-dev.js';

/**
 * The old strategy's TAP files (the "11-file C floor": 7 per-process files and these 4 sysfs
 * counters per TAP). The agent now takes every TAP counter from one /proc/<pid>/net/dev read per
 * namespace instead.
 */
export const TAP_COUNTERS = ['rx_bytes', 'tx_bytes', 'rx_packets', 'tx_packets'] as const;

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
  /** The VM's network namespace (ns/net inode; `pid:N` when it cannot be named) and its net/dev. */
  readonly netns: string;
  readonly netDev: string;
  readonly tapNames: readonly string[];
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
    netns: netnsOf(roots.procRoot, vm.pid) ?? `pid:${vm.pid}`,
    netDev: p('net', 'dev'),
    tapNames: vm.taps,
  };
}

/** The per-process files the agent keeps open per VM (its TAPs come from netDevFiles). */
export function fileList(f: VmFileSet): string[] {
  return [f.stat, f.statm, f.status, f.io, ...f.schedstats, ...(f.cpuStat ? [f.cpuStat] : [])];
}

/** The old strategy's files per VM: fileList plus 4 sysfs counters per TAP. */
export function oldFileList(f: VmFileSet): string[] {
  return [...fileList(f), ...f.taps.flat()];
}

/** One /proc/<pid>/net/dev per namespace among these VMs: what a tick reads for every TAP. */
export function netDevFiles(sets: readonly VmFileSet[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of sets) if (!out.has(f.netns)) out.set(f.netns, f.netDev);
  return out;
}

/** One VM read the naive way: every file opened, read and closed again. Same outputs as VmReader. */
export function readNaive(vm: DiscoveredVm, f: VmFileSet, constants: SystemConstants, tapTable: ReadonlyMap<string, NetDevCounters> | null): Outcome<VmSample> {
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
  const taps: (TapCounters | null)[] = f.tapNames.map((name) => {
    const c = tapTable?.get(name);
    if (!c) {
      miss(`taps:${name}`, fail('missing', `${name} not in ${f.netDev}`));
      return null;
    }
    return { name, rxBytes: c.rxBytes, txBytes: c.txBytes, rxPackets: c.rxPackets, txPackets: c.txPackets, rxErrors: c.rxErrs, txErrors: c.txErrs, rxDropped: c.rxDrop, txDropped: c.txDrop };
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
