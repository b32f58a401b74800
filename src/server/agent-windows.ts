// How long an agent's windows are, from the WindowSeconds its batches carry. An agent with windows
// longer than a minute (VMPULSE_WINDOW_SECONDS = 120 … 3600) ships a window's minute records
// together once the window has closed, so its newest minutes reach the server up to a window after
// they ended. The status checks (StatusCheckFailed*, the host-silent and VM-gone alarms) wait that
// much longer before they judge a minute of such an agent, so that a 300 s window does not make a
// host look silent for four minutes of five. Kept in memory per store: after a server start the
// first batch of each agent tells it again (until then the configured lag alone applies).
import type { Store } from './store/store.js';

const byStore = new WeakMap<Store, Map<string, number>>();

function of(store: Store): Map<string, number> {
  let m = byStore.get(store);
  if (!m) byStore.set(store, (m = new Map()));
  return m;
}

export function learnAgentWindow(store: Store, agentId: string, windowSeconds: number | undefined): void {
  if (windowSeconds === undefined) return;
  of(store).set(agentId, windowSeconds);
}

/** Seconds beyond a minute that this agent's newest minutes may take to arrive. */
export function agentWindowDelay(store: Store, agentId: string): number {
  return Math.max(0, (of(store).get(agentId) ?? 60) - 60);
}
