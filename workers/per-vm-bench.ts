// Bench only (src/bench/agent-bench.ts): the design the agent does NOT use, one Piscina task per
// VM per tick, kept here to measure what it costs (DESIGN.md §4). Any worker may get any VM, so
// every task carries its VM and each worker keeps its own readers keyed by the VM's key.
import { threadId } from 'node:worker_threads';
import { VmReader } from '../src/collect/vm-reader.js';
import { NetnsTaps } from '../src/collect/netns-taps.js';
import type { DiscoveredVm } from '../src/discover/vm.js';
import type { SystemConstants } from '../src/readers/system.js';
import { packSample, packedLength } from '../src/agent/sampler-protocol.js';

export interface PerVmTask {
  readonly vm?: DiscoveredVm;
  readonly roots?: { readonly procRoot: string; readonly sysRoot: string };
  readonly constants?: SystemConstants;
  /** The bench's tick number: the worker's namespace tables are read anew once per tick. */
  readonly tick?: number;
  /** Close every reader of this worker (between bench phases, to give the fds back). */
  readonly closeAll?: boolean;
}

const readers = new Map<string, VmReader>();
let netns: NetnsTaps | null = null;
let lastTick = -1;

/** The packed sample, or the failure as text; for closeAll, this worker's threadId. */
export default function readOne(task: PerVmTask): Float64Array | number | string {
  if (task.closeAll) {
    for (const r of readers.values()) r.close();
    readers.clear();
    netns?.close();
    netns = null;
    // Held a moment so that the concurrent closeAll tasks land on different workers.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    return threadId;
  }
  const vm = task.vm!;
  netns ??= new NetnsTaps(task.roots!.procRoot);
  if (task.tick !== lastTick) {
    lastTick = task.tick ?? -1;
    netns.beginTick();
  }
  let reader = readers.get(vm.key);
  if (!reader) {
    reader = new VmReader(vm, { procRoot: task.roots!.procRoot, sysRoot: task.roots!.sysRoot, constants: task.constants!, netns });
    readers.set(vm.key, reader);
  }
  const r = reader.read();
  if (!r.ok) return `${r.kind}: ${r.detail}`;
  const out = new Float64Array(packedLength(r.value));
  packSample(out, 0, r.value);
  return out;
}
