// Bounded ingest: at most `maxInFlight` ingest requests and `maxBytes` of their declared bodies
// are admitted at once; the rest are answered 429 with Retry-After before their body is buffered
// (it is read and discarded, see drain.ts), so a herd of agents coming back with backlogs after
// an outage costs the server a bounded amount of memory and the agents keep the batches in their
// spools until they are let in. A body without Content-Length (chunked) is counted at the limit.
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { ApiError } from './errors.js';

export interface GateOptions {
  maxInFlight: number;
  maxBytes: number;
  /** Largest body accepted (what an undeclared length is counted as). */
  maxBodyBytes: number;
  /** Retry-After is drawn in [min, max] seconds so the refused agents do not return together. */
  retryAfterMinS?: number;
  retryAfterMaxS?: number;
  random?: () => number;
}

export interface GateStats {
  inFlight: number;
  bytesInFlight: number;
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
  private inFlight = 0;
  private bytes = 0;
  private admitted = 0;
  private rejected = 0;

  constructor(private readonly o: GateOptions) {}

  stats(): GateStats {
    return { inFlight: this.inFlight, bytesInFlight: this.bytes, admitted: this.admitted, rejected: this.rejected };
  }

  private retryAfter(): number {
    const lo = this.o.retryAfterMinS ?? 1;
    const hi = Math.max(lo, this.o.retryAfterMaxS ?? 5);
    return lo + Math.floor((this.o.random ?? Math.random)() * (hi - lo + 1));
  }

  /** Admits the request or throws BusyError; the slot is given back when the answer is finished or the connection closes. */
  admit(req: FastifyRequest, reply: FastifyReply): void {
    const declared = Number(req.headers['content-length']);
    const size = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, this.o.maxBodyBytes) : this.o.maxBodyBytes;
    if (this.inFlight >= this.o.maxInFlight) {
      this.rejected++;
      throw new BusyError(`the server is ingesting ${this.inFlight} batches already; try again later`, this.retryAfter());
    }
    // One request is always admitted when nothing is in flight, whatever its size.
    if (this.inFlight > 0 && this.bytes + size > this.o.maxBytes) {
      this.rejected++;
      throw new BusyError(`the server holds ${this.bytes} bytes of batches already; try again later`, this.retryAfter());
    }
    this.inFlight++;
    this.bytes += size;
    this.admitted++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.bytes -= size;
    };
    reply.raw.once('finish', release);
    reply.raw.once('close', release);
  }

  hook(): onRequestHookHandler {
    return (req, reply, done) => {
      try {
        this.admit(req, reply);
        done();
      } catch (e) {
        done(e as Error);
      }
    };
  }
}
