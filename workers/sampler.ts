// Piscina worker: owns the kept-open readers of one shard of VMs. Readers persist across ticks
// (module state lives as long as the thread); a replaced thread starts empty and says so by
// answering `resync` until the agent resets it.
import { VmReader } from '../src/collect/vm-reader.js';
import { NetnsTaps } from '../src/collect/netns-taps.js';
import type { FieldError, VmSample } from '../src/collect/vm-sample.js';
import type { ShardResult, ShardTask } from '../src/agent/sampler-protocol.js';
import { STATUS_OK, packSample, packedLength, statusCode } from '../src/agent/sampler-protocol.js';

const readers = new Map<number, VmReader>();
const lastErrorSig = new Map<number, string>();
let generation = -1;
// The shard's TAP counters: one /proc/<pid>/net/dev read per network namespace per tick.
let netns: NetnsTaps | null = null;
let buffer = new Float64Array(4096);

function errorSignature(errors: readonly FieldError[]): string {
  let s = '';
  for (const e of errors) s += `${e.field}:${e.kind};`;
  return s;
}

export default function sample(task: ShardTask): ShardResult {
  if (task.reset) {
    for (const r of readers.values()) r.close();
    readers.clear();
    lastErrorSig.clear();
    generation = task.generation;
  } else if (task.generation !== generation) {
    return { generation, resync: true, slots: new Int32Array(0), status: new Int8Array(0), data: new Float64Array(0), errorChanges: [] };
  }
  for (const slot of task.removes) {
    readers.get(slot)?.close();
    readers.delete(slot);
    lastErrorSig.delete(slot);
  }
  netns ??= new NetnsTaps(task.roots.procRoot);
  netns.beginTick();
  const opts = { procRoot: task.roots.procRoot, sysRoot: task.roots.sysRoot, constants: task.constants, netns };
  for (const { slot, vm } of task.upserts) {
    readers.get(slot)?.close();
    readers.set(slot, new VmReader(vm, opts));
  }

  const slots = new Int32Array(readers.size);
  const status = new Int8Array(readers.size);
  const errorChanges: { slot: number; errors: readonly FieldError[] }[] = [];
  let at = 0;
  let i = 0;
  for (const [slot, reader] of readers) {
    slots[i] = slot;
    const r = reader.read();
    if (!r.ok) {
      status[i] = statusCode(r.kind);
      const sig = `!${r.kind}`;
      if (lastErrorSig.get(slot) !== sig) {
        lastErrorSig.set(slot, sig);
        errorChanges.push({ slot, errors: [{ field: '*', kind: r.kind, detail: r.detail }] });
      }
    } else {
      status[i] = STATUS_OK;
      const s: VmSample = r.value;
      const need = at + packedLength(s);
      if (need > buffer.length) {
        const bigger = new Float64Array(Math.max(need, buffer.length * 2));
        bigger.set(buffer.subarray(0, at));
        buffer = bigger;
      }
      at = packSample(buffer, at, s);
      const sig = errorSignature(s.errors);
      if (lastErrorSig.get(slot) !== sig) {
        lastErrorSig.set(slot, sig);
        errorChanges.push({ slot, errors: s.errors });
      }
    }
    i++;
  }
  // Copy out what was written: the shared scratch buffer stays in the worker for the next tick.
  const data = buffer.slice(0, at);
  return { generation, resync: false, slots, status, data, errorChanges };
}
