// Discovery cost on a busy host: starts N ordinary processes (`sleep 3600`), then times a full
// discovery scan (fresh Discovery) and a rescan (same instance, nothing new), with and without
// the exec watch on young processes. Kills every process it started, by PID.
//
//   node dist/src/bench/discovery-bench.js [--procs 10000] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { systemConstants } from '../readers/system.js';
import { Discovery, type ScanStats } from '../discover/scan.js';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const procs = Number(flag('--procs') ?? 10000);
const json = args.includes('--json');
if (!Number.isInteger(procs) || procs < 0 || procs > 30000) {
  process.stderr.write('--procs must be an integer in 0..30000 (pid_max is often 32768)\n');
  process.exit(2);
}

const BATCH = 500;
const shells: ChildProcess[] = [];
const sleepers: number[] = [];

function killAll(): void {
  for (const pid of sleepers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const s of shells) if (s.pid) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});

/** One shell per batch starts the sleepers and prints their PIDs; faster than N spawn() calls. */
function startBatch(n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const sh = spawn('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do sleep 3600 & echo $!; i=$((i+1)); done; echo done; wait`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    shells.push(sh);
    let buf = '';
    sh.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'done') return resolve();
        const pid = Number(line);
        if (Number.isInteger(pid) && pid > 0) sleepers.push(pid);
      }
    });
    sh.once('error', reject);
    sh.once('exit', (code) => reject(new Error(`batch shell exited early (${code})`)));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function timeScans(execGraceMs: number): Promise<{ full: number[]; rescan: number[]; last: ScanStats; firstStats: ScanStats }> {
  const full: number[] = [];
  let d = new Discovery({ execGraceMs });
  let firstStats: ScanStats | null = null;
  for (let i = 0; i < 3; i++) {
    d = new Discovery({ execGraceMs });
    const r = await d.scan();
    full.push(r.stats.durationMs);
    firstStats = r.stats;
  }
  const rescan: number[] = [];
  let last: ScanStats = firstStats!;
  for (let i = 0; i < 5; i++) {
    const r = await d.scan();
    rescan.push(r.stats.durationMs);
    last = r.stats;
  }
  return { full, rescan, last, firstStats: firstStats! };
}

try {
  systemConstants(); // getconf once, outside the timings
  const t0 = Date.now();
  for (let left = procs; left > 0; left -= BATCH) await startBatch(Math.min(BATCH, left));
  const startMs = Date.now() - t0;
  const procCount = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;

  const young = await timeScans(10_000);
  const settled = await timeScans(0);

  const result = {
    startedProcesses: sleepers.length,
    processesOnHost: procCount,
    startMs,
    fullScanMs: { median: median(young.full), runs: young.full },
    rescanMs: { median: median(young.rescan), runs: young.rescan },
    rescanExecWatchOffMs: { median: median(settled.rescan), runs: settled.rescan },
    fullScanStats: young.firstStats,
    rescanStats: young.last,
    rescanExecWatchOffStats: settled.last,
  };
  if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    process.stdout.write(
      [
        `processes started: ${result.startedProcesses} in ${startMs} ms (${procCount} on the host)`,
        `full scan (fresh Discovery):            median ${result.fullScanMs.median} ms  runs ${young.full.join(', ')}`,
        `rescan (same instance, nothing new):    median ${result.rescanMs.median} ms  runs ${young.rescan.join(', ')}  (young processes' exe re-checked: ${young.last.rechecked}, stat reads: ${young.last.statReads}, reuse check: ${young.last.reuseCheck})`,
        `rescan without exec watch:              median ${result.rescanExecWatchOffMs.median} ms  runs ${settled.rescan.join(', ')}  (stat reads: ${settled.last.statReads}, reuse check: ${settled.last.reuseCheck})`,
        '',
      ].join('\n'),
    );
  }
} finally {
  killAll();
}
process.exit(0);
