// Sampling ticks aligned to the wall clock (every multiple of the interval). The next tick is
// armed when a tick starts, not when it ends, so a tick that runs past the next boundary is seen:
// that boundary's tick is not run (ticks never pile up or overlap) and is counted as overrun, and
// the caller is told which nominal time went unsampled.
export interface TickSchedulerOptions {
  readonly intervalMs: number;
  /** One sampling pass attributed to the wall-clock aligned time `nominal`. */
  readonly tick: (nominal: number) => Promise<void>;
  /** A boundary passed while the previous tick was still running; its tick was not run. */
  readonly overrun?: (nominal: number) => void;
  /** A tick failed (it threw); the schedule goes on. */
  readonly failed?: (err: unknown) => void;
  /** Wall seconds a tick took. */
  readonly took?: (seconds: number) => void;
  /** The wall clock (tests put it behind the timers). */
  readonly now?: () => number;
}

export class TickScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private overrunCount = 0;
  /** The boundary last fired: a timer may fire a little before Date.now() reaches its boundary
   * (timers run on the monotonic clock), and re-arming from the clock alone would then fire the
   * same boundary twice. */
  private lastNominal = -Infinity;

  constructor(private readonly opts: TickSchedulerOptions) {}

  /** Ticks whose boundary passed while the previous tick still ran. */
  get overruns(): number {
    return this.overrunCount;
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  /** No tick starts after this; resolves once the running one (if any) has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  private arm(): void {
    if (this.stopped) return;
    const i = this.opts.intervalMs;
    const now = (this.opts.now ?? Date.now)();
    const nominal = Math.max(Math.floor(now / i) * i + i, this.lastNominal + i);
    this.timer = setTimeout(() => this.fire(nominal), Math.max(0, nominal - now));
  }

  private fire(nominal: number): void {
    this.timer = null;
    if (this.stopped) return;
    this.lastNominal = nominal;
    this.arm();
    if (this.running) {
      this.overrunCount++;
      this.opts.overrun?.(nominal);
      return;
    }
    const t0 = performance.now();
    this.running = this.opts
      .tick(nominal)
      .catch((err: unknown) => this.opts.failed?.(err))
      .finally(() => {
        this.running = null;
        this.opts.took?.((performance.now() - t0) / 1000);
      });
  }
}
