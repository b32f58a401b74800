// `npm run bench`: what sampling costs per VM per tick. Starts N stand-in VMs (crosvm stand-ins:
// two vCPU-named threads and one real TAP each, in pulse mode: once a second vCPU 0 burns 100 µs
// and a frame goes into the TAP, nothing wakes in between), discovers them with the real Discovery,
// then for the same number of ticks (after the same warm-up ticks, which are not counted) runs:
//   pool      the agent's SamplerPool (one task per shard per tick)
//   inline    the same VmReaders on the main thread
//   naive     open/read/close of the same files every tick, same parsers
//   per-task  one Piscina run() per VM per tick (workers/per-vm-bench.ts)
//   c         src/bench/reference.c: kept fds, pread at offset 0, parse the same numbers; TAPs from
//             one /proc/<pid>/net/dev read per network namespace per tick (the agent's strategy)
//   c-sysfs   the same C program on the old file set, 4 sysfs counters per TAP (11 files per VM):
//             the floor the agent was measured against before, for the second figure
//   raw       (for the breakdown) the same kept fds read from Node with KeptFile, nothing parsed
//   agent     the real `vmpulse agent` process (with the node flags of config/vmpulse-agent.service,
//             at most --workers workers) over the same stand-ins, every --interval-ms: its
//             own CPU (/proc/<pid>/stat, main thread and workers) per VM per tick, and its RSS
//   process-exporter  a peer: Debian's prometheus-process-exporter following the same stand-ins
//             (one group per VM, threads on, smaps off), scraped `ticks` times every --interval-ms
//             after 2 warm-up scrapes; its own CPU from /proc/<pid>/stat and its RSS
// CPU is process.cpuUsage() (every thread of this process) for the Node paths and the C program's
// own getrusage. Kills every stand-in by PID and removes every TAP it made, also on error/SIGINT.
//
//   node dist/src/bench/agent-bench.js [--vms 1000] [--ticks 20] [--warmup 10] [--workers N]
//                                      [--rounds 1] [--interval-ms 1000] [--json]
//                                      [--paths pool,inline,naive,per-task,c,c-sysfs,raw,process-exporter,agent]
//                                      [--heap DIR]   (a heap snapshot of the agent process's main isolate, after its measured ticks)
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { esmWorker } from '../worker-module.js';
import { SamplerPool } from '../agent/pool.js';
import { VmReader } from '../collect/vm-reader.js';
import { Discovery } from '../discover/scan.js';
import type { DiscoveredVm } from '../discover/vm.js';
import { forWorker } from '../agent/sampler-protocol.js';
import { rootsFromEnv } from '../readers/roots.js';
import { systemConstants } from '../readers/system.js';
import { KeptFile, readOnce } from '../readers/kept-file.js';
import { raiseNofile, runC } from './c-reference.js';
import { textReport } from './agent-bench-report.js';
import { fileList, netDevFiles, oldFileList, readNaive, vmFileSet, type VmFileSet } from './file-set.js';
import { runAgentProcess, type AgentProcessRun } from './agent-process.js';
import { NetnsTaps } from '../collect/netns-taps.js';
import { parseNetDev, type NetDevCounters } from '../readers/parse-net-dev.js';
import { StandinFleet } from './standins.js';
import { killPeers, PROCESS_EXPORTER_PACKAGE, processExporterBinary, runProcessExporter, type PeerRun } from './process-exporter.js';

const args = process.argv.slice(2);
function intArg(name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} wants a positive integer`);
  return v;
}
const vmCount = intArg('vms', 1000);
const ticks = intArg('ticks', 20);
// The agent samples for days: what counts is the steady state, after the worker threads' JIT has
// compiled the hot path (3 warm-up ticks left the pool ~15% above its steady cost).
const warmup = intArg('warmup', 10);
const rounds = intArg('rounds', 1);
const workers = intArg('workers', Math.min(availableParallelism(), 4));
// How often the peer is scraped (the pool's ticks run back to back: its cost per tick does not
// depend on the interval, an exporter's idle time between scrapes is part of its bill).
const peerIntervalMs = intArg('interval-ms', 1000);
const json = args.includes('--json');
// --paths pool,inline,naive,per-task,c: a subset (for profiling one path with node --cpu-prof).
const pathsArg = args.indexOf('--paths') >= 0 ? args[args.indexOf('--paths') + 1]!.split(',') : ['pool', 'inline', 'naive', 'per-task', 'c', 'c-sysfs', 'raw', 'process-exporter', 'agent'];
const want = (p: string) => pathsArg.includes(p);
const heapDir = args.indexOf('--heap') >= 0 ? args[args.indexOf('--heap') + 1] : undefined;
const profileDir = args.indexOf('--profile') >= 0 ? args[args.indexOf('--profile') + 1] : undefined;
const SKIPPED: PathResult = { cpuUs: NaN, tickMs: [NaN], okSamples: NaN };
const roots = rootsFromEnv();
const constants = systemConstants();
const say = (s: string) => process.stderr.write(`${s}\n`);

interface PathResult {
  cpuUs: number;
  tickMs: number[];
  okSamples: number;
}

const usPerVm = (r: PathResult) => r.cpuUs / ticks / vmCount;
const cpuNow = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Warm-up ticks (not counted), then `ticks` measured ticks; `tick` returns how many VMs read ok. */
async function measure(tick: () => number | Promise<number>): Promise<PathResult> {
  for (let i = 0; i < warmup; i++) await tick();
  const tickMs: number[] = [];
  let okSamples = 0;
  const c0 = cpuNow();
  for (let i = 0; i < ticks; i++) {
    const t0 = performance.now();
    okSamples += await tick();
    tickMs.push(performance.now() - t0);
  }
  return { cpuUs: cpuNow() - c0, tickMs, okSamples };
}

async function runPool(vms: DiscoveredVm[]): Promise<PathResult & { rssBytes: number }> {
  const pool = new SamplerPool({ size: workers, procRoot: roots.procRoot, sysRoot: roots.sysRoot, constants });
  try {
    pool.sync(vms);
    const r = await measure(async () => {
      const t = await pool.tick();
      let n = 0;
      for (const s of t.samples.values()) if (s.ok) n++;
      return n;
    });
    // The agent's footprint while the pool holds every VM's readers.
    return { ...r, rssBytes: process.memoryUsage().rss };
  } finally {
    // Worker threads share the process's fd table: ending a thread does not close its readers'
    // fds, so the pool is emptied first (its workers close removed VMs' readers on the next tick).
    pool.sync([]);
    await pool.tick();
    await pool.close();
  }
}

async function runInline(vms: DiscoveredVm[]): Promise<PathResult> {
  const netns = new NetnsTaps(roots.procRoot);
  const readers = vms.map((vm) => new VmReader(vm, { ...roots, constants, netns }));
  try {
    return await measure(() => {
      netns.beginTick();
      let n = 0;
      for (const r of readers) if (r.read().ok) n++;
      return n;
    });
  } finally {
    for (const r of readers) r.close();
    netns.close();
  }
}

/** Node's floor: the same preads through KeptFile, no parsing and no VmSample. */
async function runRaw(sets: VmFileSet[]): Promise<PathResult> {
  const files: KeptFile[] = [];
  try {
    for (const f of sets) {
      for (const path of fileList(f)) {
        const o = KeptFile.open(path, path.startsWith(roots.procRoot));
        if (!o.ok) throw new Error(`${path}: ${o.kind} ${o.detail}`);
        files.push(o.value);
      }
    }
    const perVm = files.length / sets.length;
    // The TAPs: one /proc/<pid>/net/dev per namespace, read to its end.
    for (const path of netDevFiles(sets).values()) {
      const o = KeptFile.open(path, true, true);
      if (!o.ok) throw new Error(`${path}: ${o.kind} ${o.detail}`);
      files.push(o.value);
    }
    return await measure(() => {
      let bad = 0;
      for (const f of files) if (!f.read().ok) bad++;
      return sets.length - Math.ceil(bad / perVm);
    });
  } finally {
    for (const f of files) f.close();
  }
}

async function runNaive(vms: DiscoveredVm[], sets: VmFileSet[]): Promise<PathResult> {
  const wanted = new Set(vms.flatMap((v) => v.taps));
  const spaces = netDevFiles(sets);
  return measure(() => {
    // Each namespace's net/dev opened, read and closed once per tick.
    const tables = new Map<string, Map<string, NetDevCounters> | null>();
    for (const [ns, path] of spaces) {
      const r = readOnce(path, true);
      const t = r.ok ? parseNetDev(r.value, wanted) : r;
      tables.set(ns, t.ok ? t.value : null);
    }
    let n = 0;
    for (let i = 0; i < vms.length; i++) if (readNaive(vms[i]!, sets[i]!, constants, tables.get(sets[i]!.netns) ?? null).ok) n++;
    return n;
  });
}

function perVmWorkerFile(): string {
  return fileURLToPath(new URL('../../workers/per-vm-bench.js', import.meta.url));
}

async function runPerTask(vms: DiscoveredVm[], threads: number): Promise<PathResult> {
  const piscina = new Piscina({ ...esmWorker(perVmWorkerFile()), minThreads: threads, maxThreads: threads, idleTimeout: 2 ** 31 - 1 });
  const light = vms.map(forWorker);
  let firstFailure = '';
  let tick = 0;
  try {
    return await measure(async () => {
      tick++;
      const out = await Promise.all(light.map((vm) => piscina.run({ vm, roots, constants, tick })));
      let n = 0;
      for (const o of out) {
        if (o instanceof Float64Array) n++;
        else if (typeof o === 'string' && !firstFailure) firstFailure = o;
      }
      return n;
    });
  } finally {
    // Readers' fds belong to the process, not the thread: every worker must close its own.
    const closed = new Set<number>();
    for (let tries = 0; closed.size < threads && tries < 50; tries++) {
      const ids = await Promise.all(Array.from({ length: threads }, () => piscina.run({ closeAll: true })));
      for (const id of ids as number[]) closed.add(id);
    }
    await piscina.destroy();
    if (firstFailure) say(`per-task: first failed read: ${firstFailure}`);
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p + 0.5))]!;
};
const median = (xs: number[]) => pct(xs, 0.5);
const r2 = (x: number) => Math.round(x * 100) / 100;

const fleet = new StandinFleet();
let cleaned = false;
let agentChild: ChildProcess | null = null;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  killPeers();
  if (agentChild?.pid && agentChild.exitCode === null) agentChild.kill('SIGKILL');
  fleet.stopAll();
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.on('SIGTERM', () => {
  cleanup();
  process.exit(143);
});
const tmp = mkdtempSync(join(tmpdir(), 'vmpulse-bench-'));

try {
  const nofile = raiseNofile(vmCount * 11 * (workers + 1) + 1000, say);
  const t0 = Date.now();
  await fleet.start(vmCount);
  say(`started ${vmCount} stand-ins (2 vCPU threads, 1 TAP each, pulse mode) in ${Date.now() - t0} ms`);
  const mine = new Set(fleet.members.map((m) => m.pid));
  const scan = await new Discovery({ ...roots }).scan();
  const vms = scan.all.filter((v) => mine.has(v.pid)).sort((a, b) => a.pid - b.pid);
  if (vms.length !== vmCount) throw new Error(`discovery found ${vms.length} of ${vmCount} stand-ins`);
  const incomplete = vms.filter((v) => v.vcpuTids.length !== 2 || v.taps.length !== 1);
  if (incomplete.length) throw new Error(`${incomplete.length} stand-ins discovered without 2 vCPU threads and 1 TAP`);
  const sets = vms.map((vm) => vmFileSet(vm, roots));
  const perVmFiles = fileList(sets[0]!).length;
  const spaces = netDevFiles(sets);
  say(`file set per VM (${perVmFiles} files, e.g. pid ${vms[0]!.pid}):\n  ${fileList(sets[0]!).join('\n  ')}\nand for every TAP: ${spaces.size} /proc/<pid>/net/dev per tick (one per network namespace); the old set had ${oldFileList(sets[0]!).length} files per VM`);

  // Any per-task worker may get any VM, so each ends up holding every VM's fds: as many workers
  // as the fd limit allows (at most --workers), and the output says how many.
  const fdsPerVm = perVmFiles;
  const perTaskWorkers = Math.max(1, Math.min(workers, Math.floor((nofile - 500) / (vmCount * fdsPerVm))));
  if (perTaskWorkers < workers) say(`per-task path: ${perTaskWorkers} worker(s), not ${workers}: each would hold ${vmCount * fdsPerVm} fds and RLIMIT_NOFILE is ${nofile}`);
  type Round = {
    pool: PathResult & { rssBytes: number };
    inline: PathResult;
    naive: PathResult;
    perTask: PathResult;
    c: PathResult;
    cSysfs: PathResult;
    raw: PathResult;
    peer: PeerRun | null;
    agent: AgentProcessRun | null;
    load: number[];
  };
  const peerBin = want('process-exporter') ? processExporterBinary() : null;
  const peerAbsent = !want('process-exporter')
    ? 'not run (--paths)'
    : peerBin
      ? null
      : `${PROCESS_EXPORTER_PACKAGE} is not installed (apt-get install ${PROCESS_EXPORTER_PACKAGE}): no peer figures`;
  if (peerAbsent && want('process-exporter')) say(`process-exporter: ${peerAbsent}`);
  const all: Round[] = [];
  for (let round = 0; round < rounds; round++) {
    const load = loadavg().map(r2);
    // The machine's load moves within seconds: the C reference runs right before and right
    // after the pool, and the pool is compared with the mean of the two.
    const cBefore = want('c') ? runC(sets, tmp, 'netdev', warmup, ticks) : SKIPPED;
    const pool = want('pool') ? await runPool(vms) : { ...SKIPPED, rssBytes: NaN };
    const cAfter = want('c') ? runC(sets, tmp, 'netdev', warmup, ticks) : SKIPPED;
    const cSysfs = want('c-sysfs') ? runC(sets, tmp, 'sysfs', warmup, ticks) : SKIPPED;
    const cc: PathResult = { cpuUs: (cBefore.cpuUs + cAfter.cpuUs) / 2, tickMs: [...cBefore.tickMs, ...cAfter.tickMs], okSamples: Math.min(cBefore.okSamples, cAfter.okSamples) };
    const inline = want('inline') ? await runInline(vms) : SKIPPED;
    const naive = want('naive') ? await runNaive(vms, sets) : SKIPPED;
    const perTask = want('per-task') ? await runPerTask(vms, perTaskWorkers) : SKIPPED;
    const raw = want('raw') ? await runRaw(sets) : SKIPPED;
    const peer = peerBin
      ? await runProcessExporter(peerBin, {
          exe: fleet.exe,
          vmPattern: StandinFleet.VM_PATTERN,
          vms: vmCount,
          warmupScrapes: 2,
          scrapes: ticks,
          intervalMs: peerIntervalMs,
          dir: tmp,
          clockTicksPerSecond: constants.clockTicksPerSecond,
        })
      : null;
    if (peer && peer.vmsSeen !== vmCount) say(`warning: process-exporter reported ${peer.vmsSeen} of ${vmCount} stand-ins as groups of one process`);
    const agent = want('agent')
      ? await runAgentProcess({
          vms: vmCount,
          workers,
          intervalMs: peerIntervalMs,
          warmupTicks: Math.min(warmup, 5),
          ticks,
          clockTicksPerSecond: constants.clockTicksPerSecond,
          started: (c) => (agentChild = c),
          heapDir,
          profileDir,
        })
      : null;
    all.push({ pool, inline, naive, perTask, c: cc, cSysfs, raw, peer, agent, load });
    say(
      `round ${round + 1}/${rounds} (load ${load.join(' ')}): pool ${r2(usPerVm(pool))}  inline ${r2(usPerVm(inline))}  naive ${r2(usPerVm(naive))}  per-task ${r2(usPerVm(perTask))}  c ${r2(usPerVm(cc))}  c-sysfs ${r2(usPerVm(cSysfs))}  raw ${r2(usPerVm(raw))} µs/VM/tick  (pool/c ${r2(usPerVm(pool) / usPerVm(cc))})${agent ? `  agent process ${r2(agent.usPerVm)} µs/VM/tick, RSS ${(agent.rssBytes / 2 ** 20).toFixed(1)} MiB` : ''}${peer ? `  process-exporter ${r2(peer.usPerVm)} µs/VM/scrape` : ''}`,
    );
    for (const [name, r] of Object.entries({ pool, inline, naive, perTask })) {
      if (!Number.isNaN(r.okSamples) && r.okSamples !== ticks * vmCount) say(`warning: ${name} read ${r.okSamples} of ${ticks * vmCount} samples ok`);
    }
  }

  // Per-path figure: the median over rounds (with min/max as the spread).
  const fig = (pick: (r: Round) => PathResult) => median(all.map((r) => usPerVm(pick(r))));
  const spread = (pick: (r: Round) => PathResult) => all.map((r) => r2(usPerVm(pick(r))));
  const poolTicks = all.flatMap((r) => r.pool.tickMs);
  const result = {
    vms: vmCount,
    ticks,
    warmup_ticks: warmup,
    rounds,
    workers,
    per_task_workers: perTaskWorkers,
    files_per_vm: perVmFiles,
    pool_us_per_vm: r2(fig((r) => r.pool)),
    inline_us_per_vm: r2(fig((r) => r.inline)),
    naive_us_per_vm: r2(fig((r) => r.naive)),
    per_task_us_per_vm: r2(fig((r) => r.perTask)),
    c_us_per_vm: r2(fig((r) => r.c)),
    c_sysfs_us_per_vm: r2(fig((r) => r.cSysfs)),
    raw_node_pread_us_per_vm: r2(fig((r) => r.raw)),
    pool_vs_c_ratio: r2(median(all.map((r) => usPerVm(r.pool) / usPerVm(r.c)))),
    // The second figure: the pool against the old floor (C reading 4 sysfs files per TAP).
    pool_vs_c_sysfs_ratio: r2(median(all.map((r) => usPerVm(r.pool) / usPerVm(r.cSysfs)))),
    // The whole agent process (main thread and workers), at --interval-ms, with every stand-in.
    agent_us_per_vm: all[0]!.agent ? r2(median(all.map((r) => r.agent!.usPerVm))) : null,
    agent_main_us_per_vm: all[0]!.agent ? r2(median(all.map((r) => r.agent!.mainUsPerVm))) : null,
    agent_vs_c_ratio: all[0]!.agent ? r2(median(all.map((r) => r.agent!.usPerVm / usPerVm(r.c)))) : null,
    agent_interval_ms: peerIntervalMs,
    agent_ticks: all[0]!.agent ? all[0]!.agent.ticks : 0,
    agent_vms_observed: all[0]!.agent ? all[0]!.agent.vmsObserved : null,
    tick_ms_p50: r2(median(poolTicks)),
    tick_ms_max: r2(Math.max(...poolTicks)),
    inline_tick_ms_p50: r2(median(all.flatMap((r) => r.inline.tickMs))),
    naive_tick_ms_p50: r2(median(all.flatMap((r) => r.naive.tickMs))),
    per_task_tick_ms_p50: r2(median(all.flatMap((r) => r.perTask.tickMs))),
    c_tick_ms_p50: r2(median(all.flatMap((r) => r.c.tickMs))),
    // The real agent process's RSS (round 1), with every stand-in; the bench's own beside it.
    agent_rss_bytes: all[0]!.agent ? all[0]!.agent.rssBytes : null,
    // Round 1's: later rounds run after the naive and per-task paths have grown the heap.
    bench_process_rss_bytes: all[0]!.pool.rssBytes,
    process_exporter_us_per_vm: peerBin ? r2(median(all.map((r) => r.peer!.usPerVm))) : null,
    process_exporter_rss_bytes: peerBin ? all[0]!.peer!.rssBytes : null,
    process_exporter_vs_pool_ratio: peerBin ? r2(median(all.map((r) => r.peer!.usPerVm / usPerVm(r.pool)))) : null,
    process_exporter_vs_agent_ratio: peerBin && all[0]!.agent ? r2(median(all.map((r) => r.peer!.usPerVm / r.agent!.usPerVm))) : null,
    process_exporter_interval_ms: peerIntervalMs,
    process_exporter_scrapes: peerBin ? ticks : 0,
    process_exporter_groups_seen: peerBin ? all[0]!.peer!.vmsSeen : null,
    process_exporter_absent: peerAbsent,
    rounds_us_per_vm: {
      pool: spread((r) => r.pool),
      inline: spread((r) => r.inline),
      naive: spread((r) => r.naive),
      per_task: spread((r) => r.perTask),
      c: spread((r) => r.c),
      c_sysfs: spread((r) => r.cSysfs),
      raw: spread((r) => r.raw),
    },
    loadavg_at_rounds: all.map((r) => r.load),
    file_set: ['/proc/<pid>/stat', '/proc/<pid>/statm', '/proc/<pid>/status', '/proc/<pid>/io', '/proc/<pid>/task/<vcpu tid>/schedstat x2', ...(sets[0]!.cpuStat ? ['<cpu cgroup>/cpu.stat'] : [])],
    tap_source: `one /proc/<pid>/net/dev per network namespace per tick (${spaces.size} here); old: /sys/class/net/<tap>/statistics/{rx_bytes,tx_bytes,rx_packets,tx_packets}`,
    netns: spaces.size,
  };
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(textReport(result, { perTaskWorkers, peerAbsent, poolVsCPerRound: all.map((r) => r2(usPerVm(r.pool) / usPerVm(r.c))) }));
} finally {
  cleanup();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
