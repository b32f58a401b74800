// Every reader answers with an Outcome instead of throwing: a monitoring agent must tell
// "the process is gone" apart from "we may not look" and from "the kernel said something odd",
// and must never turn any of those into a silent 0.

export type FailureKind =
  | 'gone' // ENOENT / ESRCH on a per-process file: the process (or thread) exited
  | 'denied' // EACCES / EPERM
  | 'missing' // a non-process object that does not exist (a TAP no longer in sysfs, no cgroup file)
  | 'malformed' // the content did not parse
  | 'io'; // any other I/O error

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly kind: FailureKind; readonly detail: string };

export type Failure = Extract<Outcome<never>, { ok: false }>;

export function ok<T>(value: T): Outcome<T> {
  return { ok: true, value };
}

export function fail(kind: FailureKind, detail: string): Failure {
  return { ok: false, kind, detail };
}

export function malformed(what: string, detail: string): Failure {
  return fail('malformed', `${what}: ${detail}`);
}

/**
 * Map an errno from a filesystem call to a failure kind. `processFile` says whether the path is
 * under /proc/<pid>: there ENOENT means the process went away; elsewhere it means the object is
 * missing.
 */
export function failureFromError(err: unknown, path: string, processFile: boolean): Failure {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ESRCH':
      return fail('gone', `${path}: ${code}`);
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return fail(processFile ? 'gone' : 'missing', `${path}: ${code}`);
    case 'EACCES':
    case 'EPERM':
      return fail('denied', `${path}: ${code}`);
    default:
      return fail('io', `${path}: ${code ?? String(err)}`);
  }
}
