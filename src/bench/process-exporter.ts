// A peer for `npm run bench`: Debian's prometheus-process-exporter (ncabatoff/process-exporter)
// configured to follow the bench's stand-in VMs, one group per VM (matched by the stand-ins'
// exe and command line, per-thread metrics on, smaps off), scraped over HTTP at a fixed interval.
// Its cost is its own: utime + stime from /proc/<its pid>/stat over the measured scrapes (every
// thread, the ones that ended included), and its VmRSS at the end.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuTicks, freePort, vmRssBytes } from './proc-usage.js';

export const PROCESS_EXPORTER_PACKAGE = 'prometheus-process-exporter';

/** The installed binary, or null. */
export function processExporterBinary(): string | null {
  for (const name of ['prometheus-process-exporter', 'process-exporter']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {
      // not this one
    }
  }
  return null;
}

export interface PeerRun {
  /** CPU of the exporter process per VM per scrape over the measured scrapes, µs. */
  usPerVm: number;
  /** Its VmRSS after the last scrape, bytes. */
  rssBytes: number;
  scrapes: number;
  intervalMs: number;
  /** Groups (VMs) the last scrape reported with one process each: proof it followed every VM. */
  vmsSeen: number;
  /** Bytes of the last scrape's body. */
  scrapeBytes: number;
}

export interface PeerOptions {
  /** The stand-ins' exe path, exactly as their argv[0]. */
  exe: string;
  /** Regex of the part of the command line that names one VM; its `vm` group names the group. */
  vmPattern: string;
  vms: number;
  warmupScrapes: number;
  scrapes: number;
  intervalMs: number;
  dir: string;
  clockTicksPerSecond: number;
}




const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The YAML config: one group per VM, named by the `vm` capture of its command line. */
export function processExporterConfig(exe: string, vmPattern: string): string {
  // YAML single-quoted scalars take backslashes literally; a quote is doubled.
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  return ['process_names:', `  - name: '{{.Matches.vm}}'`, '    exe:', `      - ${q(exe)}`, '    cmdline:', `      - ${q(vmPattern)}`, ''].join('\n');
}

const running = new Set<ChildProcess>();

/** SIGKILL every exporter still running (the bench's SIGINT path). */
export function killPeers(): void {
  for (const c of running) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  running.clear();
}

export async function runProcessExporter(bin: string, o: PeerOptions): Promise<PeerRun> {
  const config = join(o.dir, 'process-exporter.yml');
  writeFileSync(config, processExporterConfig(o.exe, o.vmPattern));
  const port = await freePort();
  const child = spawn(bin, ['-config.path', config, '-threads=true', '-gather-smaps=false', '-web.listen-address', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}/metrics`;
  let lastBody = '';
  const scrape = async () => {
    const r = await fetch(url);
    lastBody = await r.text();
    if (!r.ok) throw new Error(`process-exporter /metrics: HTTP ${r.status}`);
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`process-exporter exited with ${child.exitCode}: ${log}`);
      try {
        await scrape();
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`process-exporter did not answer on ${url}: ${log}`);
        await sleep(100);
      }
    }
    for (let i = 0; i < o.warmupScrapes; i++) {
      await sleep(o.intervalMs);
      await scrape();
    }
    const pid = child.pid!;
    const t0 = cpuTicks(pid);
    let next = performance.now();
    for (let i = 0; i < o.scrapes; i++) {
      // A fixed cadence: the next scrape is due one interval after the last was due.
      next += o.intervalMs;
      await sleep(Math.max(0, next - performance.now()));
      await scrape();
    }
    const t1 = cpuTicks(pid);
    const groups = lastBody.match(/^namedprocess_namegroup_num_procs\{groupname="[^"]*"\} 1$/gm) ?? [];
    return {
      usPerVm: (((t1 - t0) / o.clockTicksPerSecond) * 1e6) / o.scrapes / o.vms,
      rssBytes: vmRssBytes(pid),
      scrapes: o.scrapes,
      intervalMs: o.intervalMs,
      vmsSeen: groups.length,
      scrapeBytes: Buffer.byteLength(lastBody),
    };
  } finally {
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
    running.delete(child);
  }
}
