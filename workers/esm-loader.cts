// The file every Piscina pool names (src/worker-module.ts); the pool's workerData says which ES
// module is the worker. Piscina loads its file with require() first, and on Node 20.19+ require()
// of an ES module succeeds, but a thread terminated while require() instantiates the module aborts
// the whole process (a CHECK in node's ModuleWrap). This file is CommonJS, and it loads the worker
// with import(), whose termination only rejects a promise. Exporting a promise of the handler is
// Piscina's documented way for a worker that needs to load before it is ready.
import { workerData } from 'node:worker_threads';

// Named so as not to shadow CommonJS's own `module`.
const { module: url } = workerData as { module: string };
export = import(url).then((m: { default: unknown }) => m.default);
