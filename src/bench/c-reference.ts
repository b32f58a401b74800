// `npm run bench` (agent-bench.ts): the C reference (reference.c) run over a file list written
// for one of two strategies, and the fd limit the bench's paths need.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../paths.js';
import { netDevFiles, type VmFileSet } from './file-set.js';
import { compileC } from './standins.js';

/** RLIMIT_NOFILE (soft) after trying to raise it to `need`: the agent keeps ~11 fds per VM. */
export function raiseNofile(need: number, say: (s: string) => void): number {
  const read = () => {
    const line = readFileSync('/proc/self/limits', 'latin1').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s+/).slice(3, 5).map((x) => (x === 'unlimited' ? Infinity : Number(x)));
    return { soft: soft ?? 1024, hard: hard ?? 1024 };
  };
  const { soft, hard } = read();
  if (soft >= need) return soft;
  // The soft limit may go up to the hard one; above it needs CAP_SYS_RESOURCE (root in a
  // container often lacks it), so try the full need first, then the hard limit.
  for (const target of [Math.max(need, hard), hard]) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${target}:${Math.max(target, hard)}`], { stdio: 'ignore' });
      break;
    } catch {
      // not permitted: next
    }
  }
  const now = read().soft;
  if (now < need) say(`note: RLIMIT_NOFILE is ${now} (hard ${hard}); all paths at once would want about ${need}`);
  return now;
}

/** `netdev`: the agent's strategy (TAPs from one net/dev read per namespace); `sysfs`: the old 11 files. */
export function runC(sets: readonly VmFileSet[], dir: string, mode: 'netdev' | 'sysfs', warmup: number, ticks: number): { cpuUs: number; tickMs: number[]; okSamples: number } {
  const bin = compileC(join(repoRoot, 'src', 'bench', 'reference.c'));
  const lines: string[] = [];
  if (mode === 'netdev') for (const path of netDevFiles(sets).values()) lines.push(`netdev ${path}`);
  for (const f of sets) {
    lines.push('vm');
    lines.push(`stat ${f.stat}`, `statm ${f.statm}`, `status ${f.status}`, `io ${f.io}`);
    for (const s of f.schedstats) lines.push(`sched ${s}`);
    if (mode === 'netdev') for (const t of f.tapNames) lines.push(`tap ${t}`);
    else for (const t of f.taps) for (const c of t) lines.push(`ctr ${c}`);
    if (f.cpuStat) lines.push(`cpustat${f.cgroupVersion} ${f.cpuStat}`);
  }
  const list = join(dir, 'files.txt');
  writeFileSync(list, lines.join('\n') + '\n');
  const out = JSON.parse(execFileSync(bin, [list, String(warmup), String(ticks)], { encoding: 'utf8', maxBuffer: 1 << 24 })) as {
    cpu_us: number;
    tick_wall_us: number[];
    errors: number;
  };
  return { cpuUs: out.cpu_us, tickMs: out.tick_wall_us.map((u) => u / 1000), okSamples: out.errors === 0 ? ticks * sets.length : 0 };
}
