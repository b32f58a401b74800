// Per-process cost of reading /proc/<pid>/stat + statm: open/read/close every time
// (fs.readFileSync) versus fds kept open and re-read with a pread at offset 0 (KeptFile).
//   node dist/src/bench/readers-bench.js [--n 500] [--rounds 20] [--json]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KeptFile } from '../readers/kept-file.js';
import { parseProcStat } from '../readers/parse-proc-stat.js';
import { parseStatm } from '../readers/parse-statm.js';
import { rootsFromEnv } from '../readers/roots.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} wants a positive integer`);
  return v;
}

const n = arg('n', 500);
const rounds = arg('rounds', 20);
const json = process.argv.includes('--json');
const { procRoot } = rootsFromEnv();

const children: ChildProcess[] = [];
const kept: KeptFile[] = [];
try {
  for (let i = 0; i < n; i++) children.push(spawn('sleep', ['600'], { stdio: 'ignore' }));
  const pids = children.map((c) => c.pid!);
  await new Promise((r) => setTimeout(r, 300)); // let every child exec

  // Parsing is included in both variants: it is what a real tick pays.
  let sink = 0;
  const viaReadFile = (): void => {
    for (const pid of pids) {
      const s = parseProcStat(readFileSync(`${procRoot}/${pid}/stat`));
      const m = parseStatm(readFileSync(`${procRoot}/${pid}/statm`));
      if (s.ok && m.ok) sink += s.value.utime + m.value.residentPages;
    }
  };
  for (const pid of pids) {
    for (const f of ['stat', 'statm']) {
      const o = KeptFile.open(`${procRoot}/${pid}/${f}`, true);
      if (!o.ok) throw new Error(`${o.kind}: ${o.detail}`);
      kept.push(o.value);
    }
  }
  const viaKept = (): void => {
    for (let i = 0; i < kept.length; i += 2) {
      const a = kept[i]!.read();
      const b = kept[i + 1]!.read();
      if (!a.ok || !b.ok) throw new Error('kept read failed');
      const s = parseProcStat(a.value);
      const m = parseStatm(b.value);
      if (s.ok && m.ok) sink += s.value.utime + m.value.residentPages;
    }
  };
  const rawReadFile = (): void => {
    for (const pid of pids) {
      sink += readFileSync(`${procRoot}/${pid}/stat`).length + readFileSync(`${procRoot}/${pid}/statm`).length;
    }
  };
  const rawKept = (): void => {
    for (const k of kept) {
      const r = k.read();
      if (r.ok) sink += r.value.length;
    }
  };
  const time = (fn: () => void): number => {
    fn(); // warm-up
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) fn();
    return Number(process.hrtime.bigint() - t0) / 1000 / rounds / n;
  };
  const readFileUs = time(viaReadFile);
  const keptUs = time(viaKept);
  const rawReadFileUs = time(rawReadFile);
  const rawKeptUs = time(rawKept);
  const f2 = (x: number) => Number(x.toFixed(2));
  const result = {
    processes: n,
    rounds,
    readFileSyncUsPerProcess: f2(readFileUs),
    keptFileUsPerProcess: f2(keptUs),
    ratio: f2(readFileUs / keptUs),
    rawReadFileSyncUsPerProcess: f2(rawReadFileUs),
    rawKeptFileUsPerProcess: f2(rawKeptUs),
    rawRatio: f2(rawReadFileUs / rawKeptUs),
    checksum: sink > 0,
  };
  if (json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(`processes: ${n}, rounds: ${rounds} (stat + statm, parsed)\n`);
    process.stdout.write(`fs.readFileSync: ${result.readFileSyncUsPerProcess} µs/process\n`);
    process.stdout.write(`KeptFile pread:  ${result.keptFileUsPerProcess} µs/process\n`);
    process.stdout.write(`ratio: ${result.ratio}x\n`);
    process.stdout.write(`without parsing: readFileSync ${result.rawReadFileSyncUsPerProcess} µs, kept ${result.rawKeptFileUsPerProcess} µs, ratio ${result.rawRatio}x\n`);
  }
} finally {
  for (const k of kept) k.close();
  for (const c of children) if (c.pid !== undefined && c.exitCode === null) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // already exited
    }
  }
}
