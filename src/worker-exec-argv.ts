// Piscina loads a worker file with require() first and import() only when that throws. Since Node
// 20.19, require() of an ES module succeeds, and a worker terminated while require() instantiates
// its module aborts the whole process: a CHECK in node's ModuleWrap (CreateRequiredModuleFacade or
// InstantiateSync), seen in CI when a test closed a server whose decode threads were still starting,
// and reproduced here in 4 of 18 runs of 300 workers terminated mid-load. With require(esm) turned
// off in the worker, Piscina's require() throws ERR_REQUIRE_ESM and the file is loaded by import(),
// whose termination rejects a promise instead (0 aborts in 12 runs of the same loop).

const FLAG = '--no-experimental-require-module';

/** execArgv for every Piscina pool: the parent's flags, with require(esm) off where node has it. */
export function workerExecArgv(): string[] {
  const inherited = process.execArgv.filter((a) => a !== '--experimental-require-module');
  // A worker refuses a flag its node does not know (ERR_WORKER_INVALID_EXEC_ARGV): asked first.
  return process.allowedNodeEnvironmentFlags.has(FLAG) && !inherited.includes(FLAG) ? [...inherited, FLAG] : inherited;
}
