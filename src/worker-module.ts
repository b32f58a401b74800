// Piscina options that load a worker's ES module through workers/esm-loader.cjs with import(),
// never with require(): a thread terminated inside require() of an ES module aborts node (seen in
// CI when a test closed a server whose decode threads were still starting, and reproduced in 4 of
// 18 runs of 300 threads terminated mid-load; 0 of 12 through import()). Flags would not do: a
// Piscina given its own execArgv stops inheriting the parent's, and a worker refuses V8 flags
// such as the unit's --max-semi-space-size outright.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** `filename` and `workerData` for a Piscina whose worker is the ES module `file` (its default export). */
export function esmWorker(file: string): { filename: string; workerData: { module: string } } {
  // dist/workers/esm-loader.cjs when compiled, the .cts itself under tsx.
  const ext = fileURLToPath(import.meta.url).endsWith('.ts') ? '.cts' : '.cjs';
  const loader = fileURLToPath(new URL(`../workers/esm-loader${ext}`, import.meta.url));
  if (!existsSync(loader)) throw new Error(`worker loader not found at ${loader} (run npm run build)`);
  return { filename: loader, workerData: { module: pathToFileURL(file).href } };
}
