// /proc/<pid>/cmdline: arguments separated (and ended) by NUL. A process that rewrote its argv
// (setproctitle) may hand back one string with spaces; we take it as it is.
export function splitCmdline(input: Buffer | string): string[] {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  const parts = text.split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

export function basename(path: string): string {
  // exe of a replaced binary reads "/usr/bin/qemu-system-x86_64 (deleted)".
  const clean = path.endsWith(' (deleted)') ? path.slice(0, -' (deleted)'.length) : path;
  const i = clean.lastIndexOf('/');
  return i >= 0 ? clean.slice(i + 1) : clean;
}
