// libvirt's bulk domain stats for every domain at once: one `virsh -r domstats` process per round,
// on a read-only connection (it can look, never change a domain). Node has no maintained libvirt
// binding; speaking libvirt's XDR RPC ourselves would save the process start (measured in the
// README: a few ms of CPU per round) at the cost of a protocol implementation to keep up to date.
// The round is per host, never per VM, and runs at VMPULSE_DEVICE_INTERVAL_MS.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fail, ok, type Outcome } from '../../readers/outcome.js';
import { parseDomstats, type DomainStats } from './parse-domstats.js';

export interface LibvirtOptions {
  /** VMPULSE_LIBVIRT_URI, default qemu:///system. */
  readonly uri: string;
  /** The virsh binary (VMPULSE_VIRSH, default `virsh` on PATH). */
  readonly virsh: string;
  readonly timeoutMs: number;
  /** Where libvirt's QEMU driver writes <domain>.pid (default /run/libvirt/qemu). */
  readonly runDir?: string;
}

export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
export const LIBVIRT_RUN_DIR = '/run/libvirt/qemu';

/** The argv of one round: block and balloon groups of every running domain, raw numbers. */
export function domstatsArgs(uri: string): string[] {
  return ['-r', '-c', uri, 'domstats', '--block', '--balloon', '--raw', '--list-active'];
}

export function readAllDomains(o: LibvirtOptions): Promise<Outcome<DomainStats[]>> {
  return new Promise((resolve) => {
    execFile(o.virsh, domstatsArgs(o.uri), { timeout: o.timeoutMs, maxBuffer: 32 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return resolve(fail('missing', `${o.virsh} is not installed (apt-get install libvirt-clients)`));
        const why = (stderr || err.message).trim().split('\n').filter(Boolean).at(-1) ?? String(err);
        return resolve(fail('io', `virsh -c ${o.uri} domstats: ${why}`));
      }
      resolve(parseDomstats(stdout));
    });
  });
}

/**
 * The pid libvirt recorded for a domain, or null when its pid file cannot be read (another
 * libvirt run dir, not root): then the domain is matched by name alone.
 */
export function libvirtPid(name: string, runDir = LIBVIRT_RUN_DIR): number | null {
  if (name.includes('/')) return null;
  try {
    const n = Number(readFileSync(`${runDir}/${name}.pid`, 'utf8').trim());
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

export function libvirtPidFileOk(name: string, pid: number, runDir?: string): Outcome<true> {
  const recorded = libvirtPid(name, runDir);
  if (recorded !== null && recorded !== pid) return fail('missing', `libvirt domain ${name} runs as pid ${recorded}, not ${pid}`);
  return ok(true);
}
