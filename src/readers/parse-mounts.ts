// /proc/self/mounts (fstab format). Pseudo and in-memory filesystems are dropped because they are
// not disks; network filesystems are dropped too because statfs on a dead server blocks the
// (synchronous) caller for minutes.
import { malformed, ok, type Outcome } from './outcome.js';
import { asText } from './parse-util.js';

export interface Mount {
  readonly device: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly options: string;
}

export const PSEUDO_FS_TYPES: ReadonlySet<string> = new Set([
  'autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs',
  'efivarfs', 'fusectl', 'hugetlbfs', 'mqueue', 'nsfs', 'proc', 'pstore', 'ramfs', 'rootfs',
  'rpc_pipefs', 'securityfs', 'selinuxfs', 'squashfs', 'sysfs', 'tmpfs', 'tracefs', 'fuse.lxcfs',
  'fuse.gvfsd-fuse', 'fuse.portal', 'nfs', 'nfs4', 'cifs', 'smb3', '9p', 'ceph', 'glusterfs',
]);

// Space, tab, newline and backslash in paths are written as \040, \011, \012, \134.
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Every mount, in file order. */
export function parseMounts(input: Buffer | string): Outcome<Mount[]> {
  const out: Mount[] = [];
  for (const line of asText(input).split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    if (f.length !== 6) return malformed('mounts', `expected 6 fields in ${JSON.stringify(line.slice(0, 80))}`);
    if (!f[1]!.startsWith('/')) return malformed('mounts', `mount point is not absolute: ${JSON.stringify(f[1])}`);
    out.push({ device: unescape(f[0]!), mountPoint: unescape(f[1]!), fsType: f[2]!, options: f[3]! });
  }
  return ok(out);
}

/** Mounts that are real, local filesystems. */
export function parseRealMounts(input: Buffer | string): Outcome<Mount[]> {
  const all = parseMounts(input);
  if (!all.ok) return all;
  return ok(all.value.filter((m) => !PSEUDO_FS_TYPES.has(m.fsType) && m.device !== 'none'));
}
