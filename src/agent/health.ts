// The agent's account of itself for /readyz and /metrics: ticks and discoveries done and when,
// ready once both have happened, and the ticks it could not run.
import type { AgentHealth } from './view.js';

export class HealthState {
  private readonly startedAtMs = Date.now();
  private ticks = 0;
  private discoveries = 0;
  private lastTickMs: number | null = null;
  private lastDiscoveryMs: number | null = null;
  private ready = false;

  tickDone(): void {
    this.ticks++;
    this.lastTickMs = Date.now();
    this.ready = this.discoveries > 0;
  }

  discoveryDone(): void {
    this.discoveries++;
    this.lastDiscoveryMs = Date.now();
  }

  snapshot(overrunTicks: number, reportQueue: AgentHealth['reportQueue']): AgentHealth {
    return {
      ready: this.ready,
      startedAtMs: this.startedAtMs,
      ticks: this.ticks,
      discoveries: this.discoveries,
      lastTickMs: this.lastTickMs,
      lastDiscoveryMs: this.lastDiscoveryMs,
      overrunTicks,
      reportQueue,
    };
  }
}
