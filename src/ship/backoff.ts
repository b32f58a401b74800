// The project's one exponential backoff: the agent's shipper (with full jitter) and the server's
// alarm outbox (alerts/delivery.ts, without: one lease holder retries, nobody to spread out).
// Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): a uniform draw in
// [0, min(cap, base * 2^attempt)] spreads the retries of many agents after a server outage
// instead of having them return in lockstep.

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** The backoff ceiling of retry number `attempt` (0 = the first retry): initial × 2^attempt, capped. */
export function backoffCeiling(attempt: number, opts: BackoffOptions): number {
  return Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(Math.max(0, attempt), 52));
}

/** Delay before retry number `attempt` (0 = the first retry), full jitter. `random` is injectable for tests. */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, opts));
}

/** Retry-After is capped so a misbehaving server cannot park an agent for hours. */
export const RETRY_AFTER_MAX_MS = 300_000;

/**
 * Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date. Returns milliseconds clamped to
 * [0, 300 s], or undefined when the header is absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === '') return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(RETRY_AFTER_MAX_MS, Math.max(0, ms));
}

/** A sleep that an AbortSignal cuts short; resolves false when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(v);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
