// What the evaluator can vouch for: the spans in which this process was up with its store
// reachable (evaluator.ts, "The server's own outage is not the VMs' fault"). A minute is vouched
// when the server was up from that minute until its data was due; missing data in a minute that
// is not vouched may be the server's outage rather than the VMs'.
export class StoreHealth {
  /** Evaluation time (ms) of this process's first pass that reached the store. */
  private firstGoodMs: number | null = null;
  private lastGoodMs: number | null = null;
  /** Spans (ms) in which the store failed: from the last good pass before to the next good pass after. */
  private outages: { fromMs: number; toMs: number }[] = [];
  private inOutage = false;

  constructor(private readonly lagSeconds: number) {}

  /** Records a pass at nowMs that reached the store (good) or did not. */
  note(nowMs: number, good: boolean): void {
    if (good) {
      this.firstGoodMs ??= nowMs;
      if (this.inOutage) {
        this.outages[this.outages.length - 1]!.toMs = nowMs;
        this.inOutage = false;
      }
      this.lastGoodMs = nowMs;
      // Windows are at most 15 days long: older outages no longer matter.
      this.outages = this.outages.filter((x) => x.toMs > nowMs - 16 * 86400_000);
    } else if (!this.inOutage) {
      this.outages.push({ fromMs: this.lastGoodMs ?? -Infinity, toMs: Infinity });
      this.inOutage = true;
    }
  }

  /** True when the server was up with its store reachable from minute m until its data was due. */
  vouched(m: number): boolean {
    if (this.firstGoodMs === null || m * 1000 < this.firstGoodMs) return false;
    const dueMs = (m + 60 + this.lagSeconds) * 1000;
    return !this.outages.some((x) => x.fromMs < dueMs && x.toMs > m * 1000);
  }
}
