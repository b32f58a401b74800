// Between the sampler and whoever consumes closed windows (the outbox: gzip, checkpoint fsync,
// spool fsync). A tick hands its report here and goes on sampling; the consumer runs at its own
// pace. The queue is bounded and never drops: when it is full, `push` waits for room (the tick is
// held back, which the scheduler then counts as overrun ticks) and the wait is counted, so a
// stuck disk shows as back-pressure rather than as windows silently lost.
import type { WindowListener, WindowReport } from './report.js';

export interface ReportQueueStats {
  /** Reports waiting for the consumer (the one being consumed included). */
  readonly queued: number;
  readonly capacity: number;
  /** Reports handed to every listener. */
  readonly delivered: number;
  /** Pushes that found the queue full and waited for room. */
  readonly fullWaits: number;
}

export class ReportQueue {
  private readonly items: WindowReport[] = [];
  private readonly listeners: WindowListener[] = [];
  private readonly roomWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private draining = false;
  private delivered = 0;
  private fullWaits = 0;

  constructor(
    readonly capacity: number,
    private readonly onListenerError: (err: unknown, r: WindowReport) => void,
  ) {
    if (!(capacity >= 1)) throw new Error(`report queue capacity must be at least 1, got ${capacity}`);
  }

  /** Listeners get every report, oldest first; a report goes to the next only once all have returned. */
  onReport(listener: WindowListener): void {
    this.listeners.push(listener);
  }

  /** Resolves once the report is queued: at once while there is room, else when room frees up. */
  async push(r: WindowReport): Promise<void> {
    if (this.items.length >= this.capacity) {
      this.fullWaits++;
      while (this.items.length >= this.capacity) await new Promise<void>((res) => this.roomWaiters.push(res));
    }
    this.items.push(r);
    if (!this.draining) void this.drain();
  }

  /** Resolves when every report pushed so far has been consumed. */
  idle(): Promise<void> {
    if (!this.draining && this.items.length === 0) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  stats(): ReportQueueStats {
    return { queued: this.items.length, capacity: this.capacity, delivered: this.delivered, fullWaits: this.fullWaits };
  }

  // Synchronous listeners are called synchronously (no await), so a report pushed while nothing
  // is being consumed has reached them by the time `push` returns.
  private async drain(): Promise<void> {
    this.draining = true;
    while (this.items.length > 0) {
      const r = this.items[0]!;
      for (const l of this.listeners) {
        try {
          const p = l(r);
          if (p) await p;
        } catch (err) {
          this.onListenerError(err, r);
        }
      }
      this.items.shift();
      this.delivered++;
      this.roomWaiters.shift()?.();
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
