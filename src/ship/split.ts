// 413 handling: a batch the server finds too large is cut in two, and each part is spooled as a
// batch of its own. Instances are halved first (they are what makes a host's batch big); a batch
// of one instance halves that instance's windows instead. Host Stats stay with the first part so
// the host's windows are never counted twice.
import { childBatchId } from './batch-id.js';
import type { Payload } from './payload.js';

/** The two halves with derived BatchIDs, or null when the batch cannot be made smaller. */
export function splitPayload(p: Payload): [Payload, Payload] | null {
  const first = childBatchId(p.BatchID, 1);
  const second = childBatchId(p.BatchID, 2);
  if (p.Instances.length >= 2) {
    const half = Math.ceil(p.Instances.length / 2);
    return [
      { ...p, BatchID: first, Instances: p.Instances.slice(0, half) },
      { ...p, BatchID: second, Stats: [], Instances: p.Instances.slice(half) },
    ];
  }
  if (p.Instances.length === 1) {
    const inst = p.Instances[0]!;
    if (inst.Stats.length < 2) return null;
    const half = Math.ceil(inst.Stats.length / 2);
    return [
      { ...p, BatchID: first, Instances: [{ ...inst, Stats: inst.Stats.slice(0, half) }] },
      { ...p, BatchID: second, Stats: [], Instances: [{ ...inst, Stats: inst.Stats.slice(half) }] },
    ];
  }
  if (p.Stats.length >= 2) {
    const half = Math.ceil(p.Stats.length / 2);
    return [
      { ...p, BatchID: first, Stats: p.Stats.slice(0, half) },
      { ...p, BatchID: second, Stats: p.Stats.slice(half) },
    ];
  }
  return null;
}
