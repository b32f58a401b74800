// TAP devices a hypervisor holds: every fd linked to /dev/net/tun, named by the `iff:` line of
// its fdinfo. That is authoritative and the only way to name TAPs passed in by fd (libvirt,
// `-netdev tap,fd=29`). Reading a tun fdinfo takes the kernel's rtnl lock, so this runs at
// discovery, never per tick.
import { ok, type Outcome } from '../readers/outcome.js';
import { parseFdinfo } from '../readers/parse-fdinfo.js';
import { listDir, readBytes, readLink } from './proc-io.js';

/** fdinfo names first, then command-line names not already present; no duplicates. Pure. */
export function mergeTaps(...lists: readonly (readonly string[])[]): string[] {
  const out: string[] = [];
  for (const list of lists) for (const t of list) if (t && !out.includes(t)) out.push(t);
  return out;
}

export function readTunTaps(procRoot: string, pid: number): Outcome<string[]> {
  const fdDir = `${procRoot}/${pid}/fd`;
  const fds = listDir(fdDir);
  if (!fds.ok) return fds;
  const names: string[] = [];
  for (const fd of fds.value) {
    const link = readLink(`${fdDir}/${fd}`);
    // An fd closed since the listing is simply skipped.
    if (!link.ok || link.value !== '/dev/net/tun') continue;
    const raw = readBytes(`${procRoot}/${pid}/fdinfo/${fd}`);
    const info = raw.ok ? parseFdinfo(raw.value) : raw;
    // Malformed fdinfo names no interface (the kernel limits names to 15 characters, no spaces or '/').
    if (!info.ok || info.value.iff === null) continue;
    if (!names.includes(info.value.iff)) names.push(info.value.iff);
  }
  return ok(names);
}
