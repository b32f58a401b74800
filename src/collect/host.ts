// The host's own counters and facts. Per-tick counters come from kept fds (HostReader); facts
// and the list of interfaces are read at start-up or per discovery with plain reads.
import { readdirSync, readlinkSync, statfsSync } from 'node:fs';
import { hostname as osHostname, release } from 'node:os';
import { join } from 'node:path';
import { fail, ok, type Failure, type Outcome } from '../readers/outcome.js';
import { readOnce } from '../readers/kept-file.js';
import { parseHostStat, type HostStat } from '../readers/parse-host-stat.js';
import { parseMeminfo, type Meminfo } from '../readers/parse-meminfo.js';
import { parseLoadavg, type LoadAvg } from '../readers/parse-loadavg.js';
import { parseUptime, type Uptime } from '../readers/parse-uptime.js';
import { parseCounter } from '../readers/parse-counter.js';
import { parseCpuinfo } from '../readers/parse-cpuinfo.js';
import { parseRealMounts, type Mount } from '../readers/parse-mounts.js';
import { parseOsRelease } from '../readers/parse-os-release.js';
import { DEFAULT_ROOTS, netStatPath } from '../readers/roots.js';
import { KeptSlot } from './kept-slot.js';

export interface HostCounters {
  /** Wall clock, ms, right after the reads. */
  readonly tMs: number;
  readonly stat: HostStat;
  readonly memory: Meminfo;
  readonly load: LoadAvg;
  readonly uptime: Uptime;
  /** The interfaces asked for (read's `interfaces`) that sysfs lists (the host's network namespace). */
  readonly net: readonly HostNicCounters[];
}

/** Bytes received and sent by one interface, as its sysfs statistics count them. */
export interface HostNicCounters {
  readonly name: string;
  readonly rxBytes: number;
  readonly txBytes: number;
}

interface NicSlots {
  readonly rx: KeptSlot;
  readonly tx: KeptSlot;
}

export class HostReader {
  private readonly stat: KeptSlot;
  private readonly meminfo: KeptSlot;
  private readonly loadavg: KeptSlot;
  private readonly uptime: KeptSlot;
  private readonly sysRoot: string;
  /** Kept fds of the interfaces last asked for, in the order asked. */
  private nics = new Map<string, NicSlots>();
  private nicsFor: ReadonlySet<string> | null = null;

  constructor(opts: { readonly procRoot?: string; readonly sysRoot?: string } = {}) {
    const root = opts.procRoot ?? DEFAULT_ROOTS.procRoot;
    this.sysRoot = opts.sysRoot ?? DEFAULT_ROOTS.sysRoot;
    // Host files are not per-process: ENOENT is 'missing' and a later reopen is allowed.
    this.stat = new KeptSlot(join(root, 'stat'), false);
    this.meminfo = new KeptSlot(join(root, 'meminfo'), false);
    this.loadavg = new KeptSlot(join(root, 'loadavg'), false);
    this.uptime = new KeptSlot(join(root, 'uptime'), false);
  }

  /**
   * All four files and the interfaces' counters, or a failure naming the first that could not be
   * read. `interfaces`: the interfaces whose bytes are wanted (the host's physical ones). Each is
   * read from its two sysfs counters, not from /proc/net/dev: a hypervisor host's net/dev has a
   * line per TAP, and the kernel would format 1,000 lines each tick for the two or four wanted.
   * An interface that has gone (renamed, unplugged) is left out until it is back.
   */
  read(interfaces: ReadonlySet<string>): Outcome<HostCounters> {
    const st = this.parse(this.stat, parseHostStat);
    if (!st.ok) return st;
    const mem = this.parse(this.meminfo, parseMeminfo);
    if (!mem.ok) return mem;
    const load = this.parse(this.loadavg, parseLoadavg);
    if (!load.ok) return load;
    const up = this.parse(this.uptime, parseUptime);
    if (!up.ok) return up;
    if (interfaces !== this.nicsFor) this.keepNics(interfaces);
    const net: HostNicCounters[] = [];
    for (const [name, s] of this.nics) {
      const rx = this.parse(s.rx, parseCounter);
      const tx = rx.ok ? this.parse(s.tx, parseCounter) : rx;
      if (rx.ok && tx.ok) {
        net.push({ name, rxBytes: rx.value, txBytes: tx.value });
        continue;
      }
      const failed = !rx.ok ? rx : (tx as Failure);
      if (failed.kind !== 'missing') return failed;
      // Both reopened together next time, so a recreated interface is read from fresh fds.
      s.rx.reset();
      s.tx.reset();
    }
    return ok({ tMs: Date.now(), stat: st.value, memory: mem.value, load: load.value, uptime: up.value, net });
  }

  private keepNics(interfaces: ReadonlySet<string>): void {
    const next = new Map<string, NicSlots>();
    for (const name of interfaces) {
      next.set(name, this.nics.get(name) ?? { rx: new KeptSlot(netStatPath(this.sysRoot, name, 'rx_bytes'), false), tx: new KeptSlot(netStatPath(this.sysRoot, name, 'tx_bytes'), false) });
    }
    for (const [name, s] of this.nics) {
      if (next.has(name)) continue;
      s.rx.close();
      s.tx.close();
    }
    this.nics = next;
    this.nicsFor = interfaces;
  }

  private parse<T>(slot: KeptSlot, parser: (b: Buffer) => Outcome<T>): Outcome<T> {
    const r = slot.read();
    if (!r.ok) return r;
    const p = parser(r.value);
    return p.ok ? p : fail(p.kind, `${slot.path}: ${p.detail}`);
  }

  close(): void {
    for (const s of [this.stat, this.meminfo, this.loadavg, this.uptime]) s.close();
    for (const n of this.nics.values()) {
      n.rx.close();
      n.tx.close();
    }
  }
}

/** HetrixTools-style host facts; a fact that cannot be read is null, never a made-up value. */
export interface HostFacts {
  readonly Hostname: string;
  /** PRETTY_NAME of os-release. */
  readonly OperatingSystem: string | null;
  readonly Kernel: string;
  readonly CPUModel: string | null;
  /** MHz of the first CPU. */
  readonly CPUSpeed: number | null;
  /** Logical CPUs. */
  readonly CPUCores: number | null;
  /** Bytes. */
  readonly RAM: number | null;
  /** Bytes. */
  readonly Swap: number | null;
  /** Whole seconds since boot. */
  readonly SystemUptime: number | null;
}

export interface HostFactsOptions {
  readonly procRoot?: string;
  /** os-release(5) says /etc/os-release, falling back to /usr/lib/os-release. */
  readonly osReleasePaths?: readonly string[];
}

export function hostFacts(opts: HostFactsOptions = {}): HostFacts {
  const root = opts.procRoot ?? DEFAULT_ROOTS.procRoot;
  const read = <T>(path: string, parser: (b: Buffer) => Outcome<T>): T | null => {
    const r = readOnce(path, false);
    if (!r.ok) return null;
    const p = parser(r.value);
    return p.ok ? p.value : null;
  };
  let os: string | null = null;
  for (const path of opts.osReleasePaths ?? ['/etc/os-release', '/usr/lib/os-release']) {
    const r = read(path, parseOsRelease);
    if (r) {
      os = r.prettyName;
      break;
    }
  }
  const cpu = read(join(root, 'cpuinfo'), parseCpuinfo);
  const mem = read(join(root, 'meminfo'), parseMeminfo);
  const up = read(join(root, 'uptime'), parseUptime);
  const hostFile = readOnce(join(root, 'sys', 'kernel', 'hostname'), false);
  const hostname = hostFile.ok ? hostFile.value.toString('utf8').trim() : '';
  return {
    Hostname: hostname || osHostname(),
    OperatingSystem: os,
    Kernel: release(),
    CPUModel: cpu?.modelName ?? null,
    CPUSpeed: cpu?.mhz ?? null,
    CPUCores: cpu?.count ?? null,
    RAM: mem?.memTotalBytes ?? null,
    Swap: mem?.swapTotalBytes ?? null,
    SystemUptime: up ? Math.floor(up.uptimeSeconds) : null,
  };
}

export interface FilesystemUsage {
  readonly Mount: string;
  readonly Device: string;
  readonly FsType: string;
  /** Bytes. */
  readonly Size: number;
  /** Bytes in use (size minus free, including the root-reserved part). */
  readonly Used: number;
  /** Bytes an unprivileged user could still write. */
  readonly Available: number;
  readonly Inodes: number;
  readonly InodesUsed: number;
}

/** The real mounts (no pseudo filesystems) of the mount table; [] when it cannot be read. */
export function realMounts(opts: { readonly procRoot?: string } = {}): Mount[] {
  const r = readOnce(join(opts.procRoot ?? DEFAULT_ROOTS.procRoot, 'self', 'mounts'), false);
  if (!r.ok) return [];
  const mounts = parseRealMounts(r.value);
  return mounts.ok ? mounts.value : [];
}

/**
 * statfs of each of `mounts`, one entry per device (bind mounts and btrfs subvolumes would
 * otherwise count the same disk twice; the first mount in file order wins, usually the shortest
 * path). Mounts that cannot be statfs'ed are left out.
 */
export function mountUsage(mounts: readonly Mount[]): FilesystemUsage[] {
  const seen = new Set<string>();
  const out: FilesystemUsage[] = [];
  for (const m of mounts) {
    if (seen.has(m.device)) continue;
    let s;
    try {
      s = statfsSync(m.mountPoint);
    } catch {
      continue;
    }
    if (s.blocks === 0) continue;
    seen.add(m.device);
    out.push({
      Mount: m.mountPoint,
      Device: m.device,
      FsType: m.fsType,
      Size: s.blocks * s.bsize,
      Used: (s.blocks - s.bfree) * s.bsize,
      Available: s.bavail * s.bsize,
      Inodes: s.files,
      InodesUsed: s.files - s.ffree,
    });
  }
  return out;
}

/** Usage of every real mount, the mount table read now. */
export function filesystems(opts: { readonly procRoot?: string } = {}): FilesystemUsage[] {
  return mountUsage(realMounts(opts));
}

/**
 * Interfaces backed by a device: the /sys/class/net/<if> link does not point under
 * /devices/virtual/, which excludes lo, TAPs, bridges, veths, bonds and tunnels.
 */
export function physicalInterfaces(sysRoot: string = DEFAULT_ROOTS.sysRoot): string[] {
  const dir = join(sysRoot, 'class', 'net');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    let target: string;
    try {
      target = readlinkSync(join(dir, name));
    } catch {
      continue; // not a link: not a registered device entry
    }
    if (!target.includes('/devices/virtual/')) out.push(name);
  }
  return out.sort();
}
