// Size strings of the hypervisors' command lines. All suffixes are binary (QEMU's qemu_strtosz,
// Cloud Hypervisor's ByteSized); what a suffixless number means differs per option, so the caller
// passes it.
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

const SUFFIX: Record<string, number> = {
  b: 1,
  k: KiB,
  m: MiB,
  g: GiB,
  t: 1024 * GiB,
  p: 1024 * 1024 * GiB,
};

/** Bytes, or null when the text is not a size. `suffixless` is the unit of a bare number. */
export function parseSize(text: string, suffixless: number): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgtp])?(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const unit = m[2] ? SUFFIX[m[2].toLowerCase()]! : suffixless;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A positive integer count (vCPUs, sockets...), or null. */
export function parseCount(text: string | undefined): number | null {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}
