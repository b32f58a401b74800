// How long an agent's windows are, learnt from its batches. An agent with windows longer than a
// minute (VMPULSE_WINDOW_SECONDS = 120 … 3600) ships a window's minute records together once the
// window has closed, so its newest minutes reach the server up to a window after they ended. The
// status checks (StatusCheckFailed*, the host-silent and VM-gone alarms) wait that much longer
// before they judge a minute of such an agent, so that a 300 s window does not make a host look
// silent for four minutes of five. Kept in memory: after a server start the first batch of each
// agent teaches it again (until then the configured lag alone applies).
const windows = new Map<string, number>();

/** Records the span of the minute records of one batch (host Stats), when longer than a minute. */
export function learnAgentWindow(agentId: string, minutes: readonly number[]): void {
  if (minutes.length === 0) return;
  const span = Math.max(...minutes) - Math.min(...minutes) + 60;
  // Only what a window spans: a backlog of older batches after an outage arrives one batch each.
  if (span > 3600) return;
  const had = windows.get(agentId);
  if (span > 60 || had !== undefined) windows.set(agentId, span);
}

/** Seconds beyond a minute that this agent's newest minutes may take to arrive. */
export function agentWindowDelay(agentId: string): number {
  return Math.max(0, (windows.get(agentId) ?? 60) - 60);
}
