// The background loop of an alarm service (evaluation passes, notification delivery): after each
// wait it asks the lease (several server processes on one database: one of them runs the round)
// and runs the round; a failed round is logged and the loop goes on. The timer does not keep the
// process alive.
export interface LeaseLoopOptions {
  /** Milliseconds until the next round, asked before each wait. */
  wait: () => number;
  /** False = another replica runs this round. */
  lease?: () => Promise<boolean>;
  round: () => Promise<unknown>;
  failed: (err: Error) => void;
}

export class LeaseLoop {
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;

  constructor(private readonly o: LeaseLoopOptions) {}

  start(): void {
    this.stopped = false;
    const schedule = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        (this.o.lease ? this.o.lease() : Promise.resolve(true))
          .then((mine) => (mine && !this.stopped ? this.o.round() : null))
          .catch((e: unknown) => this.o.failed(e as Error))
          .finally(schedule);
      }, this.o.wait());
      this.timer.unref?.();
    };
    schedule();
  }

  /** No round starts after this (the owner awaits the one in progress). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
