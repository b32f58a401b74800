// Which accelerator the tests' QEMUs run under. A real hypervisor host has KVM, so the suite uses
// it whenever /dev/kvm can be opened; `VMPULSE_TEST_ACCEL=tcg|kvm` forces one, so that the same
// machine can run the QEMU tests both ways. QEMU is given exactly one accelerator (never the
// `kvm:tcg` fallback), so a run never silently tests the other one.
import { closeSync, openSync, statSync } from 'node:fs';

export type Accel = 'kvm' | 'tcg';

let kvmWhyNot: string | null | undefined;
/** null when /dev/kvm can be opened read-write, else why not. */
export function kvmUnusable(): string | null {
  if (kvmWhyNot === undefined) {
    try {
      if (!statSync('/dev/kvm').isCharacterDevice()) throw Object.assign(new Error('not a device'), { code: 'not a character device' });
      closeSync(openSync('/dev/kvm', 'r+'));
      kvmWhyNot = null;
    } catch (e) {
      kvmWhyNot = `/dev/kvm is not usable (${(e as NodeJS.ErrnoException).code ?? String(e)})`;
    }
  }
  return kvmWhyNot;
}

/** The value of VMPULSE_TEST_ACCEL, or undefined when unset; throws on anything but kvm or tcg. */
export function forcedAccel(): Accel | undefined {
  const v = process.env.VMPULSE_TEST_ACCEL;
  if (v === undefined || v === '') return undefined;
  if (v !== 'kvm' && v !== 'tcg') throw new Error(`VMPULSE_TEST_ACCEL=${v}: expected kvm or tcg`);
  return v;
}

/** The accelerator for test QEMUs: the forced one, else KVM when usable, else TCG. */
export function testAccel(): Accel {
  return forcedAccel() ?? (kvmUnusable() === null ? 'kvm' : 'tcg');
}

/** Why the chosen accelerator cannot run here (KVM forced without a usable /dev/kvm), or null. */
export function accelUnavailable(): string | null {
  if (testAccel() !== 'kvm') return null;
  const why = kvmUnusable();
  return why ? `VMPULSE_TEST_ACCEL=kvm but ${why}` : null;
}
