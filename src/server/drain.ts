// Early answers a client can read. When the server refuses a request before reading its body
// (401 from the auth hook, 413 from the Content-Length, 429 from the ingest gate), a client that
// writes the whole body before it reads (Python's urllib, many shell tools) is still writing when
// the answer goes out; the connection then ends under it and it reports a broken pipe instead of
// the status. So the rest of the body is read and thrown away first, up to a bound in bytes and
// time; past the bound the answer goes out with Connection: close, which is the best that can be
// done for a client that sends far more than the limit.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';

export interface DrainOptions {
  /** Bytes of an unwanted body read and discarded at most. */
  maxBytes: number;
  /** How long the discard may take at most. */
  maxMs: number;
}

/** Reads and discards what is left of req; resolves true when the body ended within the bounds. */
export function drainRequest(req: IncomingMessage, o: DrainOptions): Promise<boolean> {
  if (req.complete || req.readableEnded || req.destroyed) return Promise.resolve(req.complete || req.readableEnded);
  return new Promise((resolve) => {
    let seen = 0;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onErr);
      req.off('close', onErr);
      resolve(ok);
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > o.maxBytes) done(false);
    };
    const onEnd = () => done(true);
    const onErr = () => done(req.complete);
    const timer = setTimeout(() => done(false), o.maxMs);
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onErr);
    req.once('close', onErr);
    req.resume();
  });
}

/** An onSend hook: every error answer waits for the unread body to be discarded (within bounds). */
export function installDrainOnError(app: FastifyInstance, o: DrainOptions): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (reply.statusCode < 400 || req.raw.complete || req.raw.readableEnded) return payload;
    const ended = await drainRequest(req.raw, o);
    if (!ended) reply.header('connection', 'close');
    return payload;
  });
}
