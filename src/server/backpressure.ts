// Bounded ingest, in two stages.
//
// Admission (onRequest, before the body is read): at most `maxHeld` ingest requests and
// `maxBytes` of their declared bodies are held at once — being received, waiting, or being
// stored. Beyond either, 429 with Retry-After before the body is buffered (it is read and
// discarded, see drain.ts), so a herd of agents coming back with backlogs costs the server a
// bounded amount of memory and the agents keep their batches spooled until they are let in. A
// body without Content-Length (chunked) counts as the body limit.
//
// Storing (preHandler, once the body is in): at most `maxInFlight` batches are decoded and
// stored at once; the others wait their turn in arrival order, for at most `maxWaitMs` — well
// under the agent's request timeout (10 s), so an agent is told 429 + Retry-After instead of
// timing out and sending the batch again while the first copy still waits. Slots are taken only
// once a body has arrived, so slow senders hold bytes of the budget but never the database.
import type { FastifyReply, FastifyRequest, onRequestHookHandler, preHandlerHookHandler } from 'fastify';
import { ApiError } from './errors.js';

export interface GateOptions {
  /** Batches decoded and stored at once. */
  maxInFlight: number;
  /** Declared body bytes held at once. */
  maxBytes: number;
  /** Ingest requests held at once (default 32 × maxInFlight). */
  maxHeld?: number;
  /** Longest wait for a storing slot before 429 (default 5000 ms). */
  maxWaitMs?: number;
  /** Largest body accepted (what an undeclared length is counted as). */
  maxBodyBytes: number;
  /** Retry-After is drawn in [min, max] seconds so the refused agents do not return together. */
  retryAfterMinS?: number;
  retryAfterMaxS?: number;
  random?: () => number;
}

export interface GateStats {
  held: number;
  bytesHeld: number;
  storing: number;
  waiting: number;
  admitted: number;
  rejected: number;
}

export class BusyError extends ApiError {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super(429, 'too_many_requests', message, { retry_after_s: retryAfterS });
  }
}

export class IngestGate {
  private held = 0;
  private bytes = 0;
  private storing = 0;
  private readonly queue: (() => void)[] = [];
  private admitted = 0;
  private rejected = 0;
  private readonly maxHeld: number;

  constructor(private readonly o: GateOptions) {
    this.maxHeld = o.maxHeld ?? o.maxInFlight * 32;
  }

  stats(): GateStats {
    return { held: this.held, bytesHeld: this.bytes, storing: this.storing, waiting: this.queue.length, admitted: this.admitted, rejected: this.rejected };
  }

  private retryAfter(): number {
    const lo = this.o.retryAfterMinS ?? 1;
    const hi = Math.max(lo, this.o.retryAfterMaxS ?? 5);
    return lo + Math.floor((this.o.random ?? Math.random)() * (hi - lo + 1));
  }

  /** Admits the request or throws BusyError; what it holds is given back when the answer is finished or the connection closes. */
  admit(req: FastifyRequest, reply: FastifyReply): void {
    const declared = Number(req.headers['content-length']);
    const size = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, this.o.maxBodyBytes) : this.o.maxBodyBytes;
    if (this.held >= this.maxHeld) {
      this.rejected++;
      throw new BusyError(`the server holds ${this.held} ingest requests already; try again later`, this.retryAfter());
    }
    // One request is always admitted when nothing is held, whatever its size.
    if (this.held > 0 && this.bytes + size > this.o.maxBytes) {
      this.rejected++;
      throw new BusyError(`the server holds ${this.bytes} bytes of batches already; try again later`, this.retryAfter());
    }
    this.held++;
    this.bytes += size;
    this.admitted++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.held--;
      this.bytes -= size;
    };
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
  }

  /** Waits for a storing slot; it is given back when the answer is finished or the connection closes. */
  async slot(reply: FastifyReply): Promise<void> {
    let granted = false;
    let done = false;
    // The slot passes straight to the next waiter, so the count never dips under a queue.
    const handOn = () => {
      const next = this.queue.shift();
      if (next) next();
      else this.storing--;
    };
    let waiter: (() => void) | null = null;
    const release = () => {
      if (done) return;
      done = true;
      if (granted) handOn();
      else if (waiter && this.queue.includes(waiter)) this.queue.splice(this.queue.indexOf(waiter), 1); // gone while waiting
    };
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
    if (this.storing < this.o.maxInFlight) {
      this.storing++;
      granted = true;
      return;
    }
    const waited = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.o.maxWaitMs ?? 5000);
      waiter = () => {
        clearTimeout(timer);
        granted = true;
        resolve(true);
      };
      this.queue.push(waiter);
    });
    if (!waited) {
      const i = this.queue.indexOf(waiter!);
      if (i >= 0) this.queue.splice(i, 1);
      done = true;
      this.rejected++;
      throw new BusyError(`the server is storing ${this.storing} batches with ${this.queue.length} waiting; try again later`, this.retryAfter());
    }
  }

  admitHook(): onRequestHookHandler {
    return (req, reply, done) => {
      try {
        this.admit(req, reply);
        done();
      } catch (e) {
        done(e as Error);
      }
    };
  }

  slotHook(): preHandlerHookHandler {
    return async (_req, reply) => {
      await this.slot(reply);
    };
  }
}
