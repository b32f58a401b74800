// The server's model is one record per (agent, minute) and (agent, instance, minute). An agent
// whose windows are shorter than a minute (a divisor of 60 s) sends several records per minute:
// each is moved to the start of its minute, and records of one minute in the same batch are
// combined here (counters add, gauges combine by their counts, Seconds add up); records of one
// minute that arrive in different batches are merged by the store.
import type { HostWindow, InstanceWindow, Payload } from '../ship/payload.js';
import { combineHostMinute, combineInstanceMinute } from '../ship/window-merge.js';

const MINUTE = 60;

function byMinute<W extends { Minute: number }>(ws: readonly W[], combine: (a: W, b: W) => W): W[] {
  if (ws.every((w) => w.Minute % MINUTE === 0) && new Set(ws.map((w) => w.Minute)).size === ws.length) return [...ws];
  const out = new Map<number, W>();
  for (const w of ws) {
    const m = w.Minute - (w.Minute % MINUTE);
    const moved = { ...w, Minute: m };
    const had = out.get(m);
    out.set(m, had ? combine(had, moved) : moved);
  }
  return [...out.values()].sort((a, b) => a.Minute - b.Minute);
}

/** The payload with every record on a minute boundary and at most one record per minute. */
export function toMinuteRecords(p: Payload): Payload {
  return {
    ...p,
    Stats: byMinute<HostWindow>(p.Stats, combineHostMinute),
    Instances: p.Instances.map((i) => ({ ...i, Stats: byMinute<InstanceWindow>(i.Stats, combineInstanceMinute) })),
  };
}
