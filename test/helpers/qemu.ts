// A real QEMU for tests, kept cheap: no disk, no display, no serial, 64 MiB, and paused with -S
// by default. -S does not remove the vCPU threads: they are created at startup and just wait.
//
// vCPU thread names, observed with QEMU 7.2 (-name ...,debug-threads=on):
//   KVM:  `CPU 0/KVM`, `CPU 1/KVM`, ...
//   TCG:  `CPU 0/TCG`, `CPU 1/TCG`, ... — x86_64 on an x86_64 host defaults to multi-threaded TCG
//         (one thread per vCPU), so `-smp 2` gives two vCPU threads under TCG as under KVM.
//         (With `-accel tcg,thread=single` there would be one thread for all vCPUs.)
// Observed here (TCG, -smp 2): `qemu-system-x86` (main thread; comm is cut to 15 characters),
// `call_rcu`, `CPU 0/TCG`, `CPU 1/TCG`. Paused (-S) it uses no CPU; running the diskless guest
// (`running: true`) costs about 0.15 CPU s/s under TCG while the firmware looks for a boot device.
//
// With `tapByFd`, the TAP is opened by tapfd-exec (what libvirt does) and handed to QEMU as fd 3
// with libvirt's JSON -netdev syntax; then the command line never names the TAP: only
// /proc/<pid>/fdinfo/3 (`iff:\t<tap>`) does.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { tapfdExecBinary } from './cc.js';
import { killChild, threadNames, waitFor } from './procs.js';

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
  /** Default `-machine accel=kvm:tcg`. */
  accel?: string;
  extraArgs?: string[];
  startTimeoutMs?: number;
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
  stderr(): string;
  stop(): Promise<void>;
}

export function qemuArgs(o: QemuOptions, uuid: string): string[] {
  const args = [
    '-name', `guest=${o.name},debug-threads=on`,
    '-uuid', uuid,
    '-machine', `accel=${o.accel ?? 'kvm:tcg'}`,
    '-smp', String(o.smp ?? 2),
    '-m', String(o.memMiB ?? 64),
    '-display', 'none',
    '-nodefaults',
    '-no-user-config',
    '-monitor', 'none',
    '-serial', 'none',
  ];
  if (!o.running) args.push('-S');
  if (o.tap) {
    args.push('-netdev', `tap,id=n0,ifname=${o.tap},script=no,downscript=no`, '-device', 'virtio-net-pci,netdev=n0');
  } else if (o.tapByFd) {
    args.push(
      '-netdev', JSON.stringify({ type: 'tap', fd: String(TAP_FD), id: 'hostnet0' }),
      '-device', 'virtio-net-pci,netdev=hostnet0,id=net0',
    );
  }
  args.push(...(o.extraArgs ?? []));
  return args;
}

export async function startQemu(o: QemuOptions): Promise<Qemu> {
  if (o.tap && o.tapByFd) throw new Error('give tap or tapByFd, not both');
  const uuid = o.uuid ?? randomUUID();
  const args = qemuArgs(o, uuid);
  const smp = o.smp ?? 2;
  const child = o.tapByFd
    ? spawn(tapfdExecBinary(), [o.tapByFd, String(TAP_FD), 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const stop = () => killChild(child);
  if (child.pid === undefined) {
    await new Promise((r) => setTimeout(r, 10));
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
        return found.length === smp ? found.sort((a, b) => a[0] - b[0]) : undefined;
      },
      o.startTimeoutMs ?? 20_000,
      `${smp} vCPU threads of qemu ${pid}`,
      25,
    );
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
    stderr: () => stderr,
    stop,
  };
}
