// A real QEMU for tests, kept cheap: no disk, no display, no serial, 64 MiB, and paused with -S
// by default. -S does not remove the vCPU threads: they are created at startup and just wait.
//
// The accelerator is helpers/accel.ts's choice (KVM when /dev/kvm is usable, else TCG, or
// VMPULSE_TEST_ACCEL), given to QEMU alone so that it cannot fall back to the other one.
//
// vCPU thread names, observed with QEMU 7.2 (-name ...,debug-threads=on):
//   KVM:  `CPU 0/KVM`, `CPU 1/KVM`, ...
//   TCG:  `CPU 0/TCG`, `CPU 1/TCG`, ... — x86_64 on an x86_64 host defaults to multi-threaded TCG
//         (one thread per vCPU), so `-smp 2` gives two vCPU threads under TCG as under KVM.
//         (With `-accel tcg,thread=single` there would be one thread for all vCPUs.)
// Observed here (TCG, -smp 2): `qemu-system-x86` (main thread; comm is cut to 15 characters),
// `call_rcu`, `CPU 0/TCG`, `CPU 1/TCG`. Paused (-S) it uses no CPU; running, the diskless guest's
// firmware looks for a boot device (a fraction of a core under TCG, briefly under KVM) and halts.
//
// The NIC has no option ROM (`romfile=`), so the firmware never touches it: under TCG the PXE ROM
// used to send DHCP requests and read the TAP for as long as it ran, under KVM it had given up
// before a test could push anything. A TAP of a test QEMU therefore moves only by what the test
// does. A guest driver never reads it either; with `wire: true` QEMU itself does: the TAP joins
// a QEMU hub with the NIC and a stream socket served by this helper (the wire), so QEMU reads every
// frame the host sends into the TAP and passes it on to the wire, and writes into the TAP every
// frame the test sends over the wire, whatever the guest does and under either accelerator.
// startQemu returns once a first frame (WIRE_PROBE_BYTES) went through: count from the TAP's
// counters read after it.
//
// With `tapByFd`, the TAP is opened by tapfd-exec (what libvirt does) and handed to QEMU as fd 3
// with libvirt's JSON -netdev syntax; then the command line never names the TAP: only
// /proc/<pid>/fdinfo/3 (`iff:\t<tap>`) does.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testAccel } from './accel.js';
import { tapfdExecBinary } from './cc.js';
import { killChild, sleep, threadNames, waitFor } from './procs.js';

export { testAccel } from './accel.js';

export const VCPU_THREAD_RE = /^CPU (\d+)\/(KVM|TCG)$/;
/** The fd number QEMU gets its TAP on with `tapByFd`. */
export const TAP_FD = 3;

export interface QemuOptions {
  name: string;
  uuid?: string;
  smp?: number;
  memMiB?: number;
  /** Open this TAP by name (`ifname=`): visible in the command line. */
  tap?: string;
  /** Pass this TAP as an already-open fd (libvirt style): visible only in fdinfo. */
  tapByFd?: string;
  /** Run the (diskless) guest instead of stopping it with -S; it then uses CPU. */
  running?: boolean;
  /**
   * With `running`: boot a one-sector disk whose code only spins (`jmp $`), so that vCPU 0 runs
   * at a full core from boot on, under KVM as under TCG. Without it a KVM guest's firmware burns a
   * core for about a second, finds nothing to boot and halts: a CPU figure then depends on whether
   * a reading saw that second.
   */
  spin?: boolean;
  /** Connect the TAP to a wire this helper serves (needs `running`; see the top of this file). */
  wire?: boolean;
  /** Default: testAccel() (`kvm` or `tcg`), checked against the vCPU thread names. */
  accel?: string;
  extraArgs?: string[];
  startTimeoutMs?: number;
}

/** The test's end of a QEMU's wire. */
export interface QemuWire {
  /** Frames (and their bytes) QEMU read from the TAP and passed on to the wire so far. */
  received(): { frames: number; bytes: number };
  /**
   * Sends `count` frames of `size` bytes over the wire; QEMU writes them into the TAP (the
   * TAP's rx side). Resolves with the bytes sent once the socket has taken them.
   */
  send(count: number, size?: number): Promise<number>;
}

export interface Qemu {
  pid: number;
  uuid: string;
  args: string[];
  child: ChildProcess;
  /** vCPU index → tid. */
  vcpuTids: number[];
  /** The accelerator the vCPU thread names show: 'KVM' or 'TCG'. */
  accel: 'KVM' | 'TCG';
  /** Present with `wire: true`. */
  wire?: QemuWire;
  stderr(): string;
  stop(): Promise<void>;
}

/** The frame startQemu sends through a wire before returning: it shows in the TAP's rx. */
export const WIRE_PROBE_BYTES = 60;

function tapRxBytes(tap: string): number {
  return Number(readFileSync(`/sys/class/net/${tap}/statistics/rx_bytes`, 'utf8'));
}

const WIRE_HUB = ['-netdev', 'hubport,id=vpt-nic,hubid=0', '-device', 'virtio-net-pci,netdev=vpt-nic,romfile='];

/** QEMU's argv; `wirePath` is the unix socket of the wire when `o.wire`. */
export function qemuArgs(o: QemuOptions, uuid: string, wirePath?: string, spinImage?: string): string[] {
  const args = [
    '-name', `guest=${o.name},debug-threads=on`,
    '-uuid', uuid,
    '-machine', `accel=${o.accel ?? testAccel()}`,
    '-smp', String(o.smp ?? 2),
    '-m', String(o.memMiB ?? 64),
    '-display', 'none',
    '-nodefaults',
    '-no-user-config',
    '-monitor', 'none',
    '-serial', 'none',
  ];
  if (!o.running) args.push('-S');
  if (spinImage) args.push('-drive', `file=${spinImage},format=raw,if=ide,snapshot=on`);
  const netdev = o.tap ? 'n0' : 'hostnet0';
  if (o.tap) {
    args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`);
  } else if (o.tapByFd) {
    args.push('-netdev', JSON.stringify({ type: 'tap', fd: String(TAP_FD), id: 'hostnet0' }));
  }
  if ((o.tap || o.tapByFd) && wirePath) {
    args.push(
      '-netdev', `hubport,id=vpt-tap,hubid=0,netdev=${netdev}`,
      '-netdev', `stream,id=vpt-wire,server=off,addr.type=unix,addr.path=${wirePath}`,
      '-netdev', 'hubport,id=vpt-wire-port,hubid=0,netdev=vpt-wire',
      ...WIRE_HUB,
    );
  } else if (o.tap) {
    args.push('-device', 'virtio-net-pci,netdev=n0,romfile=');
  } else if (o.tapByFd) {
    args.push('-device', 'virtio-net-pci,netdev=hostnet0,id=net0,romfile=');
  }
  args.push(...(o.extraArgs ?? []));
  return args;
}

/** One frame: broadcast destination, a local source MAC, the local experimental ethertype. */
function frame(size: number, seq: number): Buffer {
  const f = Buffer.alloc(size, seq & 0xff);
  f.fill(0xff, 0, 6);
  Buffer.from([0x02, 0x56, 0x50, 0x54, 0x00, 0x02]).copy(f, 6);
  f.writeUInt16BE(0x88b5, 12);
  return f;
}

/** The unix socket QEMU's stream netdev connects to: 4-byte big-endian length, then the frame. */
class Wire implements QemuWire {
  readonly dir = mkdtempSync(join(tmpdir(), 'vpt-wire-'));
  readonly path = join(this.dir, 'wire.sock');
  private readonly server: Server;
  private socket: Socket | undefined;
  private pending = Buffer.alloc(0);
  private frames = 0;
  private bytes = 0;
  private seq = 0;

  private constructor() {
    this.server = createServer((s) => {
      if (this.socket) return void s.destroy();
      this.socket = s;
      s.on('data', (d: Buffer) => this.take(d));
      s.on('error', () => undefined);
    });
  }

  static async open(): Promise<Wire> {
    const w = new Wire();
    await new Promise<void>((resolve, reject) => {
      w.server.once('error', reject);
      w.server.listen(w.path, () => resolve());
    });
    return w;
  }

  connected(): boolean {
    return this.socket !== undefined;
  }

  private take(d: Buffer): void {
    this.pending = Buffer.concat([this.pending, d]);
    while (this.pending.length >= 4) {
      const len = this.pending.readUInt32BE(0);
      if (this.pending.length < 4 + len) break;
      this.frames++;
      this.bytes += len;
      this.pending = this.pending.subarray(4 + len);
    }
  }

  received(): { frames: number; bytes: number } {
    return { frames: this.frames, bytes: this.bytes };
  }

  send(count: number, size = 1000): Promise<number> {
    if (size < 14 || size > 65535) throw new Error(`frame size ${size} out of range`);
    const s = this.socket;
    if (!s) throw new Error('QEMU is not connected to the wire');
    const parts: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(size);
      parts.push(head, frame(size, this.seq++));
    }
    return new Promise((resolve, reject) => s.write(Buffer.concat(parts), (e) => (e ? reject(e) : resolve(count * size))));
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise((r) => this.server.close(r));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startQemu(o: QemuOptions): Promise<Qemu> {
  if (o.tap && o.tapByFd) throw new Error('give tap or tapByFd, not both');
  if (o.wire && !(o.running && (o.tap || o.tapByFd))) throw new Error('a wire needs a TAP and a running VM');
  const uuid = o.uuid ?? randomUUID();
  if (o.spin && !o.running) throw new Error('a spinning guest needs a running VM');
  const wire = o.wire ? await Wire.open() : undefined;
  const spinDir = o.spin ? mkdtempSync(join(tmpdir(), 'vpt-spin-')) : undefined;
  if (spinDir) {
    // A boot sector: `jmp $` (EB FE) and the 55 AA signature the firmware boots it by.
    const img = Buffer.alloc(512);
    img[0] = 0xeb;
    img[1] = 0xfe;
    img[510] = 0x55;
    img[511] = 0xaa;
    writeFileSync(join(spinDir, 'spin.raw'), img);
  }
  const args = qemuArgs(o, uuid, wire?.path, spinDir && join(spinDir, 'spin.raw'));
  const smp = o.smp ?? 2;
  const child = o.tapByFd
    ? spawn(tapfdExecBinary(), [o.tapByFd, String(TAP_FD), 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = async () => {
    try {
      await killChild(child);
    } finally {
      await wire?.close();
      if (spinDir) rmSync(spinDir, { recursive: true, force: true });
    }
  };
  if (child.pid === undefined) {
    await sleep(10);
    await wire?.close();
    if (spinDir) rmSync(spinDir, { recursive: true, force: true });
    throw new Error(`could not start qemu: ${stderr}`);
  }
  const pid = child.pid;
  let vcpus: [number, number, string][];
  try {
    vcpus = await waitFor(
      () => {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`qemu exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
        }
        const found: [number, number, string][] = [];
        for (const [tid, comm] of threadNames(pid)) {
          const m = VCPU_THREAD_RE.exec(comm);
          if (m) found.push([Number(m[1]), tid, m[2]]);
        }
        return found.length === smp && (!wire || wire.connected()) ? found.sort((a, b) => a[0] - b[0]) : undefined;
      },
      o.startTimeoutMs ?? 20_000,
      `${smp} vCPU threads of qemu ${pid}${wire ? ' and its wire' : ''}`,
      25,
    );
    if (wire) {
      // QEMU drops what reaches its stream netdev until its side of the connection is set up,
      // which it does after our accept. A frame sent over the wire is read only from then on, so
      // its arrival in the TAP says QEMU now passes frames both ways.
      const tapName = (o.tap ?? o.tapByFd)!;
      const rx0 = tapRxBytes(tapName);
      const probe = await wire.send(1, WIRE_PROBE_BYTES);
      await waitFor(() => tapRxBytes(tapName) - rx0 >= probe, o.startTimeoutMs ?? 20_000, `qemu ${pid} to pass a frame from its wire into ${tapName}`, 10);
    }
    const shown = vcpus[0][2];
    if (o.accel === undefined && shown !== testAccel().toUpperCase()) {
      throw new Error(`qemu ${pid} runs under ${shown}, not ${testAccel()}`);
    }
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\nstderr: ${stderr.trim()}`);
  }
  return {
    pid,
    uuid,
    args,
    child,
    vcpuTids: vcpus.map((v) => v[1]),
    accel: vcpus[0][2] as 'KVM' | 'TCG',
    wire,
    stderr: () => stderr,
    stop,
  };
}
