// The sampler pool: VMs are split into shards, one worker thread per shard, and every tick sends
// each shard ONE task carrying all of its VMs (DESIGN.md §4: a task per VM costs ~15x more).
// A shard's kept-open fds live inside its worker, so a shard must always go back to the same
// thread; Piscina's queue hands a task to whichever worker is idle, hence one single-thread
// Piscina per shard. A worker that dies is replaced by Piscina; its shard gets a new generation,
// the replacement is reset with the shard's VMs, and the tick's VMs of that shard are reported as
// not sampled rather than as zeros.
// Worker threads are made as VMs arrive, one per `vmsPerWorker` VMs up to `size`: each thread is
// a V8 isolate of its own (12-27 MB resident at 1,000 VMs, measured under `npm run bench`), and
// one thread reads 1,000 VMs in about 30 ms, so a small host needs one. Threads are never ended
// while the agent runs (fds belong to the process, not the thread: a shard would have to be
// emptied first).
import { Piscina } from 'piscina';
import { esmWorker } from '../worker-module.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DiscoveredVm } from '../discover/vm.js';
import type { FieldError, VmSample } from '../collect/vm-sample.js';
import { fail, ok, type Outcome } from '../readers/outcome.js';
import type { SystemConstants } from '../readers/system.js';
import { STATUS_OK, forWorker, nextPacked, statusKind, unpackSample, type ShardResult, type ShardTask } from './sampler-protocol.js';

export interface PoolOptions {
  /** The most worker threads (shards). */
  readonly size: number;
  /** One more worker per this many VMs, up to `size` (default: every worker from the start). */
  readonly vmsPerWorker?: number;
  readonly procRoot: string;
  readonly sysRoot: string;
  readonly constants: SystemConstants;
}

interface Shard {
  readonly index: number;
  readonly piscina: Piscina;
  generation: number;
  needsReset: boolean;
  readonly members: Map<number, DiscoveredVm>;
  readonly upserts: Map<number, DiscoveredVm>;
  removes: number[];
}

export interface TickResult {
  /** One outcome per VM that was read this tick. */
  readonly samples: Map<string, Outcome<VmSample>>;
  /** VMs that should have been read but were not (their worker failed). */
  readonly notSampled: Set<string>;
  /** Shards whose worker failed during this tick. */
  readonly failedShards: number;
}

export function workerFile(): string {
  // Same extension as this module: dist/workers/sampler.js when compiled, .ts under tsx.
  const here = fileURLToPath(import.meta.url);
  const ext = here.endsWith('.ts') ? '.ts' : '.js';
  const file = fileURLToPath(new URL(`../../workers/sampler${ext}`, import.meta.url));
  if (!existsSync(file)) throw new Error(`sampler worker not found at ${file} (run npm run build)`);
  return file;
}

export class SamplerPool {
  private readonly shards: Shard[] = [];
  private readonly placement = new Map<string, { shard: Shard; slot: number }>();
  private readonly lastErrors = new Map<string, readonly FieldError[]>();
  private nextSlot = 1;

  private readonly filename = workerFile();
  private readonly maxShards: number;

  constructor(private readonly opts: PoolOptions) {
    this.maxShards = Math.max(1, opts.size);
    this.grow(opts.vmsPerWorker ? 1 : this.maxShards);
  }

  private grow(shards: number): void {
    while (this.shards.length < Math.min(shards, this.maxShards)) {
      this.shards.push({
        index: this.shards.length,
        piscina: new Piscina({ ...esmWorker(this.filename), minThreads: 1, maxThreads: 1, idleTimeout: 2 ** 31 - 1, maxQueue: 4 }),
        generation: 0,
        needsReset: true,
        members: new Map(),
        upserts: new Map(),
        removes: [],
      });
    }
  }

  /** Worker threads made so far. */
  get size(): number {
    return this.shards.length;
  }

  /** Worker threads, for tests that kill one mid-tick. */
  threadsOf(shard: number) {
    return this.shards[shard]?.piscina.threads ?? [];
  }

  shardSizes(): number[] {
    return this.shards.map((s) => s.members.size);
  }

  /** Make the pool hold exactly these VMs: new ones placed on the smallest shard, gone ones closed. */
  sync(vms: readonly DiscoveredVm[]): void {
    const wanted = new Map(vms.map((v) => [v.key, v]));
    if (this.opts.vmsPerWorker) this.grow(Math.ceil(wanted.size / this.opts.vmsPerWorker));
    for (const [key, p] of this.placement) {
      if (!wanted.has(key)) this.removeFrom(key, p.shard, p.slot);
    }
    for (const vm of vms) {
      const p = this.placement.get(vm.key);
      if (p) {
        const known = p.shard.members.get(p.slot)!;
        // Discovery may learn more later (vCPU threads appear after start, a TAP is added).
        if (known.taps.join() !== vm.taps.join() || known.vcpuTids.join() !== vm.vcpuTids.join() || known.cpuCgroupDir !== vm.cpuCgroupDir) {
          p.shard.members.set(p.slot, vm);
          p.shard.upserts.set(p.slot, vm);
        }
        continue;
      }
      this.addTo(vm, this.smallest());
    }
    this.rebalance();
  }

  private smallest(): Shard {
    return this.shards.reduce((a, b) => (b.members.size < a.members.size ? b : a));
  }

  private addTo(vm: DiscoveredVm, shard: Shard): void {
    const slot = this.nextSlot++;
    shard.members.set(slot, vm);
    shard.upserts.set(slot, vm);
    this.placement.set(vm.key, { shard, slot });
  }

  private removeFrom(key: string, shard: Shard, slot: number): void {
    shard.members.delete(slot);
    if (!shard.upserts.delete(slot)) shard.removes.push(slot);
    this.placement.delete(key);
    this.lastErrors.delete(key);
  }

  /** Move VMs from the largest to the smallest shard until sizes differ by at most one. */
  private rebalance(): void {
    for (;;) {
      const big = this.shards.reduce((a, b) => (b.members.size > a.members.size ? b : a));
      const small = this.smallest();
      if (big.members.size - small.members.size <= 1) return;
      const [slot, vm] = big.members.entries().next().value as [number, DiscoveredVm];
      this.removeFrom(vm.key, big, slot);
      this.addTo(vm, small);
    }
  }

  private task(shard: Shard): ShardTask {
    const reset = shard.needsReset;
    const upserts = reset ? [...shard.members] : [...shard.upserts];
    const t: ShardTask = {
      generation: shard.generation,
      reset,
      roots: { procRoot: this.opts.procRoot, sysRoot: this.opts.sysRoot },
      constants: this.opts.constants,
      upserts: upserts.map(([slot, vm]) => ({ slot, vm: forWorker(vm) })),
      removes: reset ? [] : shard.removes,
    };
    shard.needsReset = false;
    shard.upserts.clear();
    shard.removes = [];
    return t;
  }

  private async runShard(shard: Shard): Promise<ShardResult> {
    let result = (await shard.piscina.run(this.task(shard))) as ShardResult;
    if (result.resync) {
      // A replacement thread that never got this shard: reset it now, within the same tick.
      shard.generation++;
      shard.needsReset = true;
      result = (await shard.piscina.run(this.task(shard))) as ShardResult;
    }
    return result;
  }

  /**
   * One read of every VM. `spare(key)`: a sample of that VM the caller no longer reads (its
   * previous-but-one), which this tick may overwrite in place instead of allocating; null: a new one.
   */
  async tick(spare: (key: string) => VmSample | null = () => null): Promise<TickResult> {
    const samples = new Map<string, Outcome<VmSample>>();
    const notSampled = new Set<string>();
    let failedShards = 0;
    const settled = await Promise.allSettled(this.shards.map((s) => this.runShard(s)));
    settled.forEach((r, i) => {
      const shard = this.shards[i]!;
      if (r.status === 'rejected' || r.value.resync) {
        failedShards++;
        shard.generation++;
        shard.needsReset = true;
        for (const vm of shard.members.values()) notSampled.add(vm.key);
        return;
      }
      const res = r.value;
      for (const ch of res.errorChanges) {
        const vm = shard.members.get(ch.slot);
        if (vm) this.lastErrors.set(vm.key, ch.errors);
      }
      let at = 0;
      const seen = new Set<number>();
      for (let j = 0; j < res.slots.length; j++) {
        const slot = res.slots[j]!;
        const vm = shard.members.get(slot);
        const code = res.status[j]!;
        if (code !== STATUS_OK) {
          if (vm) {
            seen.add(slot);
            const e = this.lastErrors.get(vm.key)?.[0];
            samples.set(vm.key, fail(statusKind(code), e?.detail ?? statusKind(code)));
          }
          continue;
        }
        if (!vm) {
          // Removed while this tick was in flight: skip its packed record.
          at = nextPacked(res.data, at);
          continue;
        }
        seen.add(slot);
        samples.set(vm.key, ok(unpackSample(res.data, at, vm, this.lastErrors.get(vm.key) ?? [], spare(vm.key))));
        at = nextPacked(res.data, at);
      }
      // Members added after the task was built are read from the next tick on; not a miss.
      for (const [slot, vm] of shard.members) if (!seen.has(slot) && !shard.upserts.has(slot)) notSampled.add(vm.key);
    });
    return { samples, notSampled, failedShards };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.shards.map((s) => s.piscina.destroy()));
  }
}
