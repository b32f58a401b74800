// Numbers as `vmpulse top` prints them: narrow, binary units, "-" for what is not known. Pure.

const UNITS = ['K', 'M', 'G', 'T', 'P', 'E'];

/** Bytes (or bytes per second) in at most 5 characters: 0, 999, 1023, 1.0K, 9.9K, 10K, 1023K, 1.0M, ... */
export function fmtBytes(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  let x = Math.max(0, v);
  if (Math.round(x) < 1024) return String(Math.round(x));
  x /= 1024;
  let u = 0;
  // Rounding may reach the next unit: 1023.7K is shown as 1.0M, never as 1024K.
  while (Math.round(x) >= 1024 && u < UNITS.length - 1) {
    x /= 1024;
    u++;
  }
  return (x < 9.95 ? x.toFixed(1) : String(Math.round(x))) + UNITS[u]!;
}

/** A percentage: one decimal below 100 (0.0, 12.3, 99.9), whole above (100, 812). */
export function fmtPct(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '-';
  const x = Math.max(0, v);
  return x < 99.95 ? x.toFixed(1) : String(Math.round(x));
}

/** Uptime as `3d 04:12` or `04:12` (hours:minutes). */
export function fmtUptime(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '-';
  const days = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const hm = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
  return days > 0 ? `${days}d ${hm}` : hm;
}

/** Seconds as the shortest decimal: 2, 0.5, 1.25. */
export function fmtSeconds(s: number): string {
  return String(Math.round(s * 1000) / 1000);
}

/** Hypervisor names short enough for a 6-character column. */
const SHORT_HYPERVISOR: Record<string, string> = { 'cloud-hypervisor': 'clh', firecracker: 'fc' };

export function shortHypervisor(name: string): string {
  return SHORT_HYPERVISOR[name] ?? name.slice(0, 6);
}

/**
 * Names come from command lines and sockets the VM's owner chose: control characters (escape
 * sequences included) would drive the operator's terminal, so each is shown as `?`.
 */
export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}
