import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the vmpulse checkout above ${start}`);
    dir = up;
  }
}

/** The checkout (or installed package) root: holds package.json, src/, workers/. */
export const repoRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
/** The compiled tree (dist/) that holds src/, workers/ and test/ as JavaScript. */
export const distRoot = join(repoRoot, 'dist');
