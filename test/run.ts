// Runs every test/*.test.js file (compiled into dist/test) in one process with uvu, then prints
// the plain closing line `N passed, N failed, N skipped` from uvu's own counts. Tests that cannot
// run here (no root, no QEMU, no PostgreSQL) record themselves through helpers/needs.ts; they are
// counted as skipped, or as failed when VMPULSE_TEST_REQUIRE_ALL=1.
//
//   node dist/test/run.js [substring ...]   run only the files whose name contains a substring
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { skipped } from './helpers/needs.js';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();

const limitS = Number(process.env.VMPULSE_TEST_TIMEOUT_S ?? 3000);
const watchdog = setTimeout(() => {
  process.stdout.write(`\nthe test run exceeded ${limitS} s and was stopped\n0 passed, 1 failed\n`);
  process.exit(1);
}, limitS * 1000);
watchdog.unref();

let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  if (captured.length > 1_000_000) captured = captured.slice(-100_000);
  return write(chunk, ...rest);
}) as typeof process.stdout.write;

(globalThis as { UVU_DEFER?: number }).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
let index = 0;
for (const file of files) {
  (globalThis as { UVU_INDEX?: number }).UVU_INDEX = index++;
  queue.push([file]);
  await import(pathToFileURL(join(here, file)).href);
}
await uvu.exec(false);
process.stdout.write = write;

// eslint-disable-next-line no-control-regex
const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const grab = (label: string): number => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
const total = grab('Total');
const passedRaw = grab('Passed');
const uvuSkipped = grab('Skipped');
if (!Number.isFinite(total) || !Number.isFinite(passedRaw) || files.length === 0) {
  process.stdout.write(`could not read uvu's summary (${files.length} test files)\n0 passed, 1 failed\n`);
  process.exit(1);
}
const runtimeSkips = skipped.length;
const failed = total - passedRaw - uvuSkipped;
const passed = passedRaw - runtimeSkips;
if (runtimeSkips > 0) {
  process.stdout.write(`\nSkipped at run time (${runtimeSkips}):\n`);
  for (const s of skipped) process.stdout.write(`  - ${s}\n`);
}
process.stdout.write(`\n${passed} passed, ${failed} failed, ${runtimeSkips + uvuSkipped} skipped\n`);
process.exit(failed > 0 ? 1 : 0);
