// /proc/<pid>/fdinfo/<fd>. A /dev/net/tun fd attached to an interface carries `iff:\t<name>`;
// that is the only place libvirt-passed TAP fds are named. Reading it takes the rtnl lock, so
// callers do it at discovery time only. Interface names may hold any UTF-8 but '/', ':' and
// whitespace, so the bytes are read as UTF-8.
import { malformed, ok, type Outcome } from './outcome.js';
import { asUtf8, colonLines, counter } from './parse-util.js';

export interface FdInfo {
  readonly pos: number;
  /** open(2) flags; the file shows them in octal. */
  readonly flags: number;
  /** The TAP/TUN interface name, or null when this fd is not an attached tun fd. */
  readonly iff: string | null;
}

export function parseFdinfo(input: Buffer | string): Outcome<FdInfo> {
  const lines = colonLines(asUtf8(input));
  const pos = counter(lines.get('pos'));
  if (pos === null) return malformed('fdinfo', 'pos missing or not a counter');
  const rawFlags = lines.get('flags');
  if (rawFlags === undefined || !/^[0-7]+$/.test(rawFlags)) return malformed('fdinfo', 'flags missing or not octal');
  const flags = Number.parseInt(rawFlags, 8);
  if (!Number.isSafeInteger(flags)) return malformed('fdinfo', 'flags out of range');
  const iff = lines.get('iff');
  if (iff !== undefined && (iff.length === 0 || iff.length > 15 || /[\s/]/.test(iff))) {
    return malformed('fdinfo', `bad iff ${JSON.stringify(iff)}`);
  }
  return ok({ pos, flags, iff: iff ?? null });
}
