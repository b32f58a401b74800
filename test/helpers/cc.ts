// Compiles the C helpers of the test suite (stand-ins, the tapfd exec wrapper) once per source
// version. The binary is cached under os.tmpdir()/vmpulse-cc-<hash of source and flags>, so
// repeated runs, and the several test files of one run, share one build.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { repoRoot } from '../../src/paths.js';

const FLAGS = ['-O2', '-pthread', '-Wall'];
const built = new Map<string, string>();

/** Absolute path of a C source under test/helpers/ of the source tree (not dist/). */
export function helperSource(file: string): string {
  return isAbsolute(file) ? file : join(repoRoot, 'test', 'helpers', file);
}

/**
 * Builds `source` (a path, or a file name under test/helpers/) with `cc -O2 -pthread` and
 * returns the binary's path. Throws with the compiler's output when the build fails.
 */
export function ccBinary(source: string, extraFlags: string[] = []): string {
  const src = helperSource(source);
  const flags = [...FLAGS, ...extraFlags];
  const text = readFileSync(src);
  const hash = createHash('sha256').update(text).update('\0').update(flags.join(' ')).digest('hex').slice(0, 16);
  const key = `${src}\0${hash}`;
  const known = built.get(key);
  if (known) return known;
  const dir = join(tmpdir(), `vmpulse-cc-${hash}`);
  const out = join(dir, basename(src).replace(/\.c$/, ''));
  if (!existsSync(out)) {
    mkdirSync(dir, { recursive: true });
    // Build beside the target and rename: a concurrent run never sees a half-written binary.
    const tmp = `${out}.${process.pid}.tmp`;
    try {
      execFileSync('cc', [...flags, '-o', tmp, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      rmSync(tmp, { force: true });
      const err = e as { stderr?: Buffer };
      throw new Error(`cc failed for ${src}:\n${err.stderr?.toString() ?? String(e)}`);
    }
    renameSync(tmp, out);
  }
  built.set(key, out);
  return out;
}

/** The stand-in binary (also the `--vpt-send-frames` host-side frame sender). */
export const standinBinary = (): string => ccBinary('standin.c');
/** The libvirt-style wrapper that passes an open TAP fd to the program it execs. */
export const tapfdExecBinary = (): string => ccBinary('tapfd-exec.c');
