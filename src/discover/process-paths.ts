// Paths on a hypervisor's command line are its own: relative to its cwd, absolute inside its root
// (the jailer's chroot). They are reached through /proc/<pid>/root and /proc/<pid>/cwd, and named
// on the host by resolving them against the targets of those links.
import { readLink } from './proc-io.js';

/** A unix socket path longer than this does not fit sockaddr_un. */
const UNIX_PATH_MAX = 107;

export interface ProcessPaths {
  /** The path as the host names it (for identity from the socket's folder). */
  host(p: string): string;
  /** A path that opens the file from here, through the process's own root or cwd. */
  access(p: string): string;
  /** access() when it fits a unix socket address, else host(). */
  socket(p: string): string;
}

export function processPaths(procRoot: string, pid: number): ProcessPaths {
  const base = `${procRoot}/${pid}`;
  const root = readLink(`${base}/root`);
  const cwd = readLink(`${base}/cwd`);
  const host = (p: string): string =>
    p.startsWith('/') ? joinPath(root.ok ? root.value : '/', p) : joinPath(cwd.ok ? cwd.value : '/', p);
  const access = (p: string): string => (p.startsWith('/') ? `${base}/root${p}` : `${base}/cwd/${p}`);
  const socket = (p: string): string => {
    const via = access(p);
    return via.length <= UNIX_PATH_MAX ? via : host(p);
  };
  return { host, access, socket };
}

/** `root/p` with `.` and `..` resolved lexically. Pure. */
export function joinPath(root: string, p: string): string {
  const joined = `${root}/${p}`.replace(/\/+/g, '/');
  const parts: string[] = [];
  for (const seg of joined.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}
