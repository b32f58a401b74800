// A real libvirt for tests: the daemons are started (`virtlogd -d; libvirtd -d`) only when none
// answers on qemu:///system, and only what was started here is stopped again (by the PIDs their
// pid files name). Domains are transient (`virsh create`), TCG (`<domain type='qemu'>`), and
// destroyed by the test.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { waitFor } from './procs.js';

export const LIBVIRT_URI = 'qemu:///system';

export function virsh(...args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return virshWithin(30_000, ...args);
}

/** stderr carries the reason; a timeout (no stderr) says so. */
function virshWithin(timeoutMs: number, ...args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('virsh', ['-c', LIBVIRT_URI, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ ok: !err, stdout, stderr: err && !stderr ? `${err.message}${err.killed ? ` (no answer within ${timeoutMs / 1000} s)` : ''}` : stderr }),
    );
  });
}

/**
 * libvirt runs QEMU as libvirt-qemu (group kvm). Where /dev/kvm is root's alone (a host without
 * udev's rule giving it to group kvm), libvirt finds its cached QEMU capabilities (probed with
 * KVM) invalid at every lookup and probes QEMU again, about ten times per `virsh create`: 40 s
 * and more instead of a fraction of a second. `.ci/run` gives /dev/kvm to group kvm as udev would.
 */
export function kvmHiddenFromLibvirt(): boolean {
  try {
    const st = statSync('/dev/kvm');
    return st.isCharacterDevice() && (st.mode & 0o060) !== 0o060;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(cmd, args, { timeout: 30_000 }, (err, _o, stderr) => (err ? reject(new Error(`${cmd}: ${stderr || err.message}`)) : resolve())));
}

function pidFrom(file: string): number | null {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return n > 0 && alive(n) ? n : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface LibvirtDaemons {
  /** PIDs this helper started (empty when libvirt already ran). */
  readonly started: readonly number[];
  stop(): Promise<void>;
}

export async function ensureLibvirtd(): Promise<LibvirtDaemons> {
  const started: number[] = [];
  if (!(await virsh('version')).ok) {
    if (pidFrom('/run/virtlogd.pid') === null) {
      await run('virtlogd', ['-d']);
      const p = await waitFor(() => pidFrom('/run/virtlogd.pid'), 10_000, 'virtlogd pid file');
      started.push(p);
    }
    if (pidFrom('/run/libvirtd.pid') === null) {
      await run('libvirtd', ['-d']);
      const p = await waitFor(() => pidFrom('/run/libvirtd.pid'), 10_000, 'libvirtd pid file');
      started.unshift(p);
    }
    await waitFor(async () => (await virsh('version')).ok, 20_000, 'libvirtd to answer on qemu:///system', 100);
  }
  return {
    started,
    async stop() {
      for (const pid of started) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          continue;
        }
        await waitFor(() => !alive(pid), 15_000, `pid ${pid} to exit`, 50);
      }
    },
  };
}

export interface Domain {
  readonly name: string;
  readonly uuid: string;
  readonly pid: number;
  readonly dir: string;
  destroy(): Promise<void>;
}

/**
 * A transient TCG domain with one virtio disk (target vda) on a 1 MiB raw file whose first sector
 * is a boot sector that only spins (`jmp $`): SeaBIOS reads that sector to boot it, so the disk
 * shows real reads (and then no more I/O) without any guest OS.
 */
export async function createDomain(prefix = 'vpt-dom'): Promise<Domain> {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-libvirt-'));
  chmodSync(dir, 0o755);
  const disk = join(dir, 'disk.raw');
  const img = Buffer.alloc(1024 * 1024);
  img[0] = 0xeb;
  img[1] = 0xfe;
  img[510] = 0x55;
  img[511] = 0xaa;
  writeFileSync(disk, img, { mode: 0o666 });
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}`;
  const uuid = randomUUID();
  const xml = `<domain type='qemu'>
  <name>${name}</name>
  <uuid>${uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='${disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <memballoon model='virtio'/>
  </devices>
</domain>
`;
  writeFileSync(join(dir, 'dom.xml'), xml);
  const c = await virshWithin(kvmHiddenFromLibvirt() ? 180_000 : 60_000, 'create', join(dir, 'dom.xml'));
  if (!c.ok) {
    rmSync(dir, { recursive: true, force: true });
    const why = kvmHiddenFromLibvirt() ? ' (/dev/kvm is not open to group kvm: libvirt probes QEMU again at every lookup; see .ci/run)' : '';
    throw new Error(`virsh create failed: ${c.stderr}${why}`);
  }
  const destroy = async () => {
    await virsh('destroy', name);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pid = await waitFor(() => pidFrom(`/run/libvirt/qemu/${name}.pid`), 15_000, `pid file of domain ${name}`);
    return { name, uuid, pid, dir, destroy };
  } catch (e) {
    await destroy();
    throw e;
  }
}

/** `virsh domstats --block --balloon --raw` of one domain as key → value (the test's own parse). */
export async function domstats(name: string): Promise<Map<string, string>> {
  const r = await virsh('-r', 'domstats', '--block', '--balloon', '--raw', name);
  if (!r.ok) throw new Error(`virsh domstats ${name}: ${r.stderr}`);
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const kv = /^\s+([^=]+)=(.*)$/.exec(line);
    if (kv) m.set(kv[1]!, kv[2]!);
  }
  return m;
}
