// How every long-running command ends (agent, server, start): the first SIGINT or SIGTERM drains
// (the agent closes and spools its open window, the server finishes its requests), a second one
// exits at once with 130: the operator will not wait, and nothing acknowledged is lost by it
// (unacknowledged batches stay spooled; the server's store commits per request).
import type { Logger } from 'pino';

export const SECOND_SIGNAL_EXIT = 130;

/** Resolves with `drain()`'s exit code once a first signal has been handled. */
export function drainOnSignal(log: Pick<Logger, 'info' | 'warn' | 'error'>, what: string, drain: () => Promise<number>): Promise<number> {
  return new Promise<number>((done) => {
    let draining = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (draining) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(SECOND_SIGNAL_EXIT);
      }
      draining = true;
      log.info({ signal }, what);
      drain().then(done, (err: unknown) => {
        log.error({ err }, 'stop failed');
        done(1);
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
