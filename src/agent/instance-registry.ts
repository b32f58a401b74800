// The VMs the agent knows: what discovery found, each one's latest read and rates, the state
// ('running' until a read or a scan says the process is gone), and the readings carried over from
// a previous run until each VM's first read uses them.
import type { DiscoveredVm } from '../discover/vm.js';
import type { VmSample } from '../collect/vm-sample.js';
import { tapRates, type VmRates } from './rates.js';
import type { CarriedReading, WindowReport } from './report.js';
import type { InstanceView } from './view.js';
import { copySample } from './sampler-protocol.js';
import type { DeviceView } from '../collect/disks/device-poller.js';

export interface InstanceState {
  vm: DiscoveredVm;
  state: 'running' | 'gone';
  /**
   * The latest read and the rates to it. Both are overwritten in place by later ticks (see
   * `spare`): what must outlive a tick (a report, a checkpoint) takes a copy.
   */
  latest: VmSample | null;
  rates: VmRates | null;
  /** The read before `latest`, which nothing reads any more: the next read is unpacked into it. */
  spare: VmSample | null;
  lastSampledMs: number | null;
  goneAtMs: number | null;
}

export class InstanceRegistry {
  private readonly byKey = new Map<string, InstanceState>();
  private readonly carried = new Map<string, CarriedReading>();
  /** The latest device round's readings of a VM (per-disk I/O, balloon), when device rounds run. */
  devicesOf: (key: string) => DeviceView | null = () => null;

  get(key: string): InstanceState | undefined {
    return this.byKey.get(key);
  }

  /** The sample of `key` that the next read may overwrite, handed out once (null: none). */
  takeSpare(key: string): VmSample | null {
    const s = this.byKey.get(key);
    if (!s?.spare) return null;
    const spare = s.spare;
    s.spare = null;
    return spare;
  }

  /** Newly discovered VMs start running with no read yet. */
  add(vm: DiscoveredVm): void {
    this.byKey.set(vm.key, { vm, state: 'running', latest: null, rates: null, spare: null, lastSampledMs: null, goneAtMs: null });
  }

  /** A later scan's view of a known VM (threads, TAPs, allocation may change). */
  update(vm: DiscoveredVm): void {
    const s = this.byKey.get(vm.key);
    if (s) s.vm = vm;
  }

  /** Marks a running VM gone; false when it was not running (unknown or already gone). */
  markGone(key: string): InstanceState | null {
    const s = this.byKey.get(key);
    if (!s || s.state === 'gone') return null;
    s.state = 'gone';
    s.goneAtMs = Date.now();
    return s;
  }

  /** Gone VMs stay visible until the window that records their end has been handed on. */
  forgetGone(keys: Iterable<string>): void {
    for (const key of keys) if (this.byKey.get(key)?.state === 'gone') this.byKey.delete(key);
  }

  all(): IterableIterator<InstanceState> {
    return this.byKey.values();
  }

  /**
   * Readings kept by a previous run (same pid and starttime = same process). Each is used once, by
   * the VM's first read, so the counters between the two runs are not lost.
   */
  carryFrom(readings: Iterable<CarriedReading>): void {
    for (const r of readings) this.carried.set(r.key, r);
  }

  /** The carried reading of `key`, removed: it is used by the VM's first read or not at all. */
  takeCarried(key: string): CarriedReading | undefined {
    const r = this.carried.get(key);
    if (r) this.carried.delete(key);
    return r;
  }

  /** A carried reading whose process is not running any more has nothing to continue. */
  dropCarriedExcept(alive: ReadonlySet<string>): void {
    for (const key of this.carried.keys()) if (!alive.has(key)) this.carried.delete(key);
  }

  /** The latest reading of every running VM: what every report handed on so far adds up to. */
  readings(): CarriedReading[] {
    const out: CarriedReading[] = [];
    for (const s of this.byKey.values()) if (s.state === 'running' && s.latest) out.push({ key: s.vm.key, instanceId: s.vm.instanceId, sample: copySample(s.latest) });
    // A VM not read yet in this run keeps the reading it was carried with.
    for (const [key, r] of this.carried) if (this.byKey.get(key)?.state !== 'gone') out.push(r);
    return out;
  }

  /** Identity and latest read of each of `keys` known here, for a report. */
  vmsOf(keys: Iterable<string>): WindowReport['vms'] {
    const vms = new Map<string, { vm: DiscoveredVm; latest: VmSample | null; running: boolean; devices: DeviceView | null }>();
    for (const key of keys) {
      const s = this.byKey.get(key);
      if (s) vms.set(key, { vm: s.vm, latest: s.latest && copySample(s.latest), running: s.state === 'running', devices: this.devicesOf(key) });
    }
    return vms;
  }

  views(): InstanceView[] {
    return [...this.byKey.values()].map((s) => {
      const rates = s.rates;
      return {
        vm: s.vm,
        state: s.state,
        latest: s.latest,
        rates,
        // Made only when read (an instance's detail): the deltas behind them are kept with the
        // rates, and a metrics scrape or a listing of 1,000 VMs does not need them.
        get tapRates() {
          return rates ? tapRates(rates.perTap, rates.seconds) : [];
        },
        lastSampledMs: s.lastSampledMs,
        devices: this.devicesOf(s.vm.key),
      };
    });
  }
}
