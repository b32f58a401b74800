// Real TAP devices for tests. Names start with `vpt` and carry this process's PID and a counter,
// so parallel runs never collide and leftovers are recognisable.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { standinBinary } from './cc.js';

const run = promisify(execFile);
let counter = 0;

/** `prefix` + PID + counter in base 36; at most 15 characters (IFNAMSIZ - 1). */
export function uniqueTapName(prefix = 'vpt'): string {
  const name = `${prefix}${process.pid.toString(36)}x${(counter++).toString(36)}`;
  if (name.length > 15) throw new Error(`TAP name ${name} is longer than 15 characters`);
  return name;
}

export function tapExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/**
 * IPv6 off before the link goes up: otherwise the kernel sends its own router/neighbour
 * solicitations and the counters move by themselves. No-op when IPv6 is absent.
 */
export function disableIpv6(name: string): void {
  const p = `/proc/sys/net/ipv6/conf/${name}/disable_ipv6`;
  if (existsSync(p)) writeFileSync(p, '1');
}

/** `ip tuntap add dev NAME mode tap`, IPv6 off, then up (unless `up: false`). Returns the name. */
export function createTap(name: string = uniqueTapName(), opts: { up?: boolean } = {}): string {
  execFileSync('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap'], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    disableIpv6(name);
    if (opts.up !== false) execFileSync('ip', ['link', 'set', name, 'up'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    deleteTap(name);
    throw e;
  }
  return name;
}

/** Removes the device; quiet when it is already gone. */
export function deleteTap(name: string): void {
  if (!tapExists(name)) return;
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    if (tapExists(name)) throw e;
  }
}

export interface TapCounters {
  rx_bytes: number;
  tx_bytes: number;
  rx_packets: number;
  tx_packets: number;
}

/** The kernel's counters from /sys/class/net/NAME/statistics (host view: rx = what the VM sent). */
export function tapCounters(name: string): TapCounters {
  const r = (f: string) => Number(readFileSync(`/sys/class/net/${name}/statistics/${f}`, 'utf8'));
  return { rx_bytes: r('rx_bytes'), tx_bytes: r('tx_bytes'), rx_packets: r('rx_packets'), tx_packets: r('tx_packets') };
}

/**
 * The host sends `count` frames of `size` bytes into the TAP (AF_PACKET socket bound to it, in
 * the C stand-in binary). They show in the TAP's tx_bytes only once the process holding the TAP
 * has read them. Resolves with the bytes sent.
 */
export async function sendFramesToTap(name: string, count: number, size = 1000): Promise<number> {
  const { stdout } = await run(standinBinary(), ['--vpt-send-frames', name, String(count), String(size)], {
    timeout: 10_000,
  });
  const m = /^SENT (\d+) (\d+)$/m.exec(stdout);
  if (!m) throw new Error(`frame sender said: ${stdout}`);
  return Number(m[2]);
}
