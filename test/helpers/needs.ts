// Runtime prerequisites of tests. A test calls `await needs(t, 'qemu')` (or several) at its top
// and returns early when it gets false. Missing prerequisites are reported plainly and counted as
// skips by test/run.ts; under VMPULSE_TEST_REQUIRE_ALL=1 they throw, so CI fails instead.
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { accelUnavailable } from './accel.js';

export const skipped: string[] = [];
const requireAll = process.env.VMPULSE_TEST_REQUIRE_ALL === '1';

export type Need = 'root' | 'qemu' | 'tun' | 'cc' | 'postgres' | 'promtool' | 'prometheus' | 'alertmanager' | 'systemd-analyze' | 'tmux' | 'chromium' | 'victoria-metrics' | 'postgres-server' | 'haproxy' | 'libvirt' | 'python3';

function which(cmd: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/** Debian's chromium, driven by playwright-core (never a downloaded browser). */
export const CHROMIUM = '/usr/bin/chromium';

export const pgUrl = process.env.VMPULSE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function check(need: Need): Promise<string | null> {
  switch (need) {
    case 'root':
      return process.getuid?.() === 0 ? null : 'not running as root';
    case 'qemu':
      // Also the accelerator the run asked for (VMPULSE_TEST_ACCEL=kvm needs a usable /dev/kvm).
      return which('qemu-system-x86_64') ? accelUnavailable() : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
    case 'tun':
      try {
        accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
        return which('ip') ? null : 'the ip command (iproute2) is missing';
      } catch {
        return '/dev/net/tun is not usable';
      }
    case 'cc':
      return which('cc') ? null : 'no C compiler (cc)';
    case 'postgres': {
      const u = new URL(pgUrl);
      return (await tcpOpen(u.hostname, Number(u.port || 5432))) ? null : `PostgreSQL is not reachable at ${u.host}`;
    }
    case 'promtool':
      return which('promtool') ? null : 'promtool is not installed (apt-get install prometheus)';
    case 'prometheus':
      return which('prometheus') ? null : 'prometheus is not installed (apt-get install prometheus)';
    case 'systemd-analyze':
      return which('systemd-analyze') ? null : 'systemd-analyze is not installed (apt-get install systemd)';
    case 'tmux':
      return which('tmux') ? null : 'tmux is not installed (apt-get install tmux)';
    case 'chromium':
      return existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install chromium)`;
    case 'victoria-metrics':
      return which('victoria-metrics') ? null : 'victoria-metrics is not installed (apt-get install victoria-metrics)';
    case 'postgres-server':
      // A cluster of the test's own: initdb/pg_ctl from the Debian packages, run as postgres.
      return existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`)) && which('runuser')
        ? null
        : 'the PostgreSQL server binaries (initdb, pg_ctl) are not installed (apt-get install postgresql)';
    case 'libvirt':
      // The daemon is started by the test (test/helpers/libvirt.ts) when none runs.
      return which('virsh') && existsSync('/usr/sbin/libvirtd') && existsSync('/usr/sbin/virtlogd')
        ? null
        : 'libvirt is not installed (apt-get install libvirt-daemon-system)';
    case 'python3':
      return which('python3') ? null : 'python3 is not installed (apt-get install python3)';
    case 'haproxy':
      return which('haproxy') || existsSync('/usr/sbin/haproxy') ? null : 'haproxy is not installed (apt-get install haproxy)';
    case 'alertmanager':
      return which('prometheus-alertmanager') || existsSync('/usr/bin/prometheus-alertmanager')
        ? null
        : 'prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)';
  }
}

/** True when every need is met; otherwise records a skip (or throws under REQUIRE_ALL). */
export async function needs(testName: string, ...list: Need[]): Promise<boolean> {
  const missing: string[] = [];
  for (const n of list) {
    const why = await check(n);
    if (why) missing.push(why);
  }
  if (missing.length === 0) return true;
  const msg = `${testName}: ${missing.join('; ')}`;
  if (requireAll) throw new Error(`required by VMPULSE_TEST_REQUIRE_ALL=1 but missing: ${msg}`);
  skipped.push(msg);
  process.stdout.write(`\n  SKIPPED ${msg}\n`);
  return false;
}
