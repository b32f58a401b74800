// Prometheus metrics of the agent on a private registry. The Hypeman series (hypeman_vm_*) keep
// the seed's names, types and labels so existing dashboards work; vmpulse_* adds what Hypeman
// never reads. Per-VM and host values are computed at scrape time from the AgentView's latest
// samples, by collectors that emit exactly the series that exist: an unmeasured value has no
// series (prom-client's own unlabelled gauges would show a fabricated 0), and counters carry the
// kernel's absolute value so rate() sees the real counter, resets included.
import { Counter, Histogram, type Metric, Registry } from 'prom-client';
import { hypemanInstanceStats } from './instance-stats.js';
import type { AgentView, InstanceView } from './view.js';
import type { VmSample } from '../collect/vm-sample.js';
import { registerDeviceMetrics } from './device-metrics.js';
import { tapVmView, type NetCounters } from '../collect/vm-counters.js';

export interface ShipperStats {
  spoolRecords: number;
  spoolBytes: number;
  batchesShipped: number;
  batchesFailed: number;
  batchesDropped: number;
  batchesDeadLettered: number;
  spoolCorruptRecords: number;
}

export interface AgentMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** One tick of the sampler took `seconds`. */
  observeTick(seconds: number): void;
  /** One discovery pass took `seconds`. */
  observeDiscovery(seconds: number): void;
  /** A read failed; `kind` is a FailureKind (gone, denied, missing, malformed, io). */
  readError(kind: string): void;
  /** The shipper's counters, read at every scrape; its metrics appear once this is called. */
  setShipperStats(getter: () => ShipperStats): void;
  /** The text exposition of one scrape. */
  render(): Promise<string>;
}

export interface AgentMetricsOptions {
  /** Most VMs with per-VM series; the rest are left out of the scrape and counted. */
  labelBudget: number;
  /** Register more metrics on the same registry (the shipper's, for instance). */
  extraMetrics?: (registry: Registry) => void;
}

type Labels = Record<string, string | number>;
export interface Point {
  labels: Labels;
  value: number;
}

export interface ScrapedVm {
  iv: InstanceView;
  sample: VmSample;
  base: { instance_id: string; instance_name: string };
}

interface Snapshot {
  vms: ScrapedVm[];
  omitted: number;
}

/** A metric whose series are computed when scraped. */
export function collector(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'gauge',
  points: () => Point[],
): void {
  const m = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: points() }),
    reset: () => {},
  };
  registry.registerMetric(m as unknown as Metric<string>);
}

export const LATENCY_BUCKETS_TICK = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
export const LATENCY_BUCKETS_DISCOVERY = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createAgentMetrics(view: AgentView, opts: AgentMetricsOptions): AgentMetrics {
  const registry = new Registry();
  const budget = opts.labelBudget;

  const limitExceeded = new Counter({
    name: 'vmpulse_agent_metrics_vm_limit_exceeded_total',
    help: 'Scrapes in which more VMs were running than VMPULSE_METRICS_VM_LIMIT allows series for.',
    registers: [registry],
  });

  // The VMs with series, in a stable order (oldest discovery first) so the same VMs keep their
  // series from scrape to scrape when the budget is exceeded.
  function snapshot(): Snapshot {
    const eligible: ScrapedVm[] = [];
    const seen = new Set<string>();
    const sorted = view
      .instances()
      .filter((iv) => iv.state === 'running' && iv.latest !== null)
      .sort((a, b) => a.vm.discoveredAt - b.vm.discoveredAt || (a.vm.key < b.vm.key ? -1 : 1));
    for (const iv of sorted) {
      // Two processes claiming one identity would make duplicate series; the first one keeps it.
      const ident = `${iv.vm.instanceId}\u0000${iv.vm.instanceName}`;
      if (seen.has(ident)) continue;
      seen.add(ident);
      eligible.push({ iv, sample: iv.latest!, base: { instance_id: iv.vm.instanceId, instance_name: iv.vm.instanceName } });
    }
    return { vms: eligible.slice(0, budget), omitted: Math.max(0, eligible.length - budget) };
  }

  let current: Snapshot | null = null;
  const snap = () => current ?? snapshot();

  const perVm = (name: string, help: string, type: 'counter' | 'gauge', value: (v: ScrapedVm) => number | null | undefined) =>
    collector(registry, name, help, type, () => {
      const out: Point[] = [];
      for (const v of snap().vms) {
        const x = value(v);
        if (x != null && Number.isFinite(x)) out.push({ labels: v.base, value: x });
      }
      return out;
    });

  const ticks = view.clockTicksPerSecond;
  const stats = (v: ScrapedVm) => hypemanInstanceStats(v.iv.vm, v.sample, ticks);

  // --- Hypeman's eight, names/types/labels from hypeman-vm-metrics-package.txt ---
  perVm('hypeman_vm_cpu_seconds_total', 'Total CPU time consumed by VM', 'counter', (v) => stats(v).cpu_seconds);
  perVm('hypeman_vm_allocated_vcpus', 'Number of vCPUs allocated', 'gauge', (v) => v.iv.vm.allocatedVcpus);
  perVm('hypeman_vm_memory_rss_bytes', 'Resident Set Size (physical memory)', 'gauge', (v) => v.sample.rssBytes);
  perVm('hypeman_vm_memory_vms_bytes', 'Virtual Memory Size', 'gauge', (v) => v.sample.vmsBytes);
  perVm('hypeman_vm_allocated_memory_bytes', 'Total allocated memory', 'gauge', (v) => v.iv.vm.allocatedMemoryBytes);
  perVm('hypeman_vm_network_rx_bytes_total', 'Network bytes received', 'counter', (v) => stats(v).network_rx_bytes);
  perVm('hypeman_vm_network_tx_bytes_total', 'Network bytes transmitted', 'counter', (v) => stats(v).network_tx_bytes);
  perVm('hypeman_vm_memory_utilization_ratio', 'RSS / allocated memory', 'gauge', (v) => stats(v).memory_utilization_ratio);

  // --- vmpulse per VM ---
  collector(registry, 'vmpulse_vm_info', 'VM identity: 1 per running VM with its hypervisor and PID.', 'gauge', () =>
    snap().vms.map((v) => ({ labels: { ...v.base, hypervisor: v.iv.vm.hypervisor, pid: v.iv.vm.pid }, value: 1 })),
  );
  const ns = (x: number | null) => (x === null ? null : x / 1e9);
  perVm('vmpulse_vm_cpu_steal_seconds_total', 'Runqueue wait of the vCPU threads (host-side steal), seconds, summed over vCPUs.', 'counter', (v) => ns(v.sample.vcpuWaitNs));
  perVm('vmpulse_vm_vcpu_run_seconds_total', 'Run time of the vCPU threads, seconds, summed over vCPUs.', 'counter', (v) => ns(v.sample.vcpuRunNs));
  perVm('vmpulse_vm_disk_read_bytes_total', 'Bytes the hypervisor process read from storage (/proc/<pid>/io read_bytes).', 'counter', (v) => v.sample.diskReadBytes);
  perVm('vmpulse_vm_disk_write_bytes_total', 'Bytes the hypervisor process wrote to storage (/proc/<pid>/io write_bytes).', 'counter', (v) => v.sample.diskWriteBytes);
  perVm('vmpulse_vm_memory_swap_bytes', 'Swapped-out memory of the hypervisor process (VmSwap).', 'gauge', (v) => v.sample.swapBytes);
  perVm('vmpulse_vm_memory_peak_rss_bytes', 'Peak RSS of the hypervisor process (VmHWM).', 'gauge', (v) => v.sample.peakRssBytes);
  perVm('vmpulse_vm_cpu_throttled_periods_total', "Periods in which the VM's CPU cgroup was throttled.", 'counter', (v) => v.sample.throttle?.throttledPeriods);
  perVm('vmpulse_vm_cpu_throttled_seconds_total', "Time the VM's CPU cgroup was throttled, seconds.", 'counter', (v) => ns(v.sample.throttle?.throttledNs ?? null));
  // Per TAP in the VM's view, through the one mapping (collect/vm-counters.ts): rx = what the VM received.
  const tapMetric = (name: string, help: string, pick: (t: NetCounters) => number) =>
    collector(registry, name, help, 'counter', () => {
      const out: Point[] = [];
      for (const v of snap().vms) for (const t of v.sample.taps) if (t) out.push({ labels: { ...v.base, tap: t.name }, value: pick(tapVmView(t)) });
      return out;
    });
  tapMetric('vmpulse_vm_tap_rx_bytes_total', 'Bytes the VM received on this TAP (host tx_bytes).', (t) => t.rxBytes);
  tapMetric('vmpulse_vm_tap_tx_bytes_total', 'Bytes the VM sent on this TAP (host rx_bytes).', (t) => t.txBytes);
  tapMetric('vmpulse_vm_tap_rx_packets_total', 'Packets the VM received on this TAP (host tx_packets).', (t) => t.rxPackets);
  tapMetric('vmpulse_vm_tap_tx_packets_total', 'Packets the VM sent on this TAP (host rx_packets).', (t) => t.txPackets);
  tapMetric('vmpulse_vm_tap_rx_errors_total', 'Receive errors of the VM on this TAP (host tx_errors).', (t) => t.rxErrors);
  tapMetric('vmpulse_vm_tap_tx_errors_total', 'Transmit errors of the VM on this TAP (host rx_errors).', (t) => t.txErrors);
  tapMetric('vmpulse_vm_tap_rx_dropped_total', 'Frames for the VM the host dropped on this TAP: TAP down, the VM not reading its queue (host tx_dropped).', (t) => t.rxDropped);
  tapMetric('vmpulse_vm_tap_tx_dropped_total', 'Frames from the VM the host dropped on this TAP (host rx_dropped, /proc/net/dev drop).', (t) => t.txDropped);
  collector(registry, 'vmpulse_vm_pressure_stalled_seconds_total', "Pressure stall time (PSI total) of the VM's own cgroup v2 by resource (cpu, memory, io) and kind (some, full); no series where the VM has no cgroup v2 of its own.", 'counter', () => {
    const out: Point[] = [];
    for (const v of snap().vms) {
      const p = v.sample.pressure;
      if (!p) continue;
      for (const resource of ['cpu', 'memory', 'io'] as const) {
        out.push({ labels: { ...v.base, resource, kind: 'some' }, value: p[resource].someUs / 1e6 });
        const full = p[resource].fullUs;
        if (full !== null) out.push({ labels: { ...v.base, resource, kind: 'full' }, value: full / 1e6 });
      }
    }
    return out;
  });
  registerDeviceMetrics(registry, () => snap().vms);

  // --- host ---
  const hostGauge = (name: string, help: string, value: () => number | null | undefined) =>
    collector(registry, name, help, 'gauge', () => {
      const x = value();
      return x != null && Number.isFinite(x) ? [{ labels: {}, value: x }] : [];
    });
  const hl = () => view.host().latest;
  hostGauge('vmpulse_host_cpu_percent', 'Host CPU busy percent over the last tick interval (0..100).', () => hl()?.cpuPct);
  hostGauge('vmpulse_host_iowait_percent', 'Host CPU iowait percent over the last tick interval.', () => hl()?.iowaitPct);
  hostGauge('vmpulse_host_steal_percent', 'Host CPU steal percent over the last tick interval (the host is itself a guest).', () => hl()?.stealPct);
  hostGauge('vmpulse_host_memory_used_percent', 'Host memory used percent (MemTotal - MemAvailable).', () => hl()?.ramPct);
  hostGauge('vmpulse_host_swap_used_percent', 'Host swap used percent.', () => hl()?.swapPct);
  hostGauge('vmpulse_host_load1', 'Host 1-minute load average.', () => hl()?.load1);
  hostGauge('vmpulse_host_load5', 'Host 5-minute load average.', () => hl()?.load5);
  hostGauge('vmpulse_host_load15', 'Host 15-minute load average.', () => hl()?.load15);
  hostGauge('vmpulse_host_uptime_seconds', 'Seconds since the host booted.', () => view.host().facts.SystemUptime);

  // --- the agent itself ---
  collector(registry, 'vmpulse_agent_ticks_total', 'Sampling ticks completed.', 'counter', () => [{ labels: {}, value: view.health().ticks }]);
  collector(registry, 'vmpulse_agent_ticks_overrun_total', 'Ticks not run because the previous tick was still running at their boundary (each counts as Missed for every running VM).', 'counter', () => [
    { labels: {}, value: view.health().overrunTicks },
  ]);
  collector(registry, 'vmpulse_agent_report_queue_depth', 'Closed-window reports waiting for the outbox.', 'gauge', () => [
    { labels: {}, value: view.health().reportQueue.queued },
  ]);
  collector(registry, 'vmpulse_agent_report_queue_full_waits_total', 'Ticks that found the report queue full and waited for the outbox (back-pressure; nothing is dropped).', 'counter', () => [
    { labels: {}, value: view.health().reportQueue.fullWaits },
  ]);
  const tickHist = new Histogram({
    name: 'vmpulse_agent_tick_duration_seconds',
    help: 'Wall time of one sampling tick (every VM and the host read).',
    buckets: LATENCY_BUCKETS_TICK,
    registers: [registry],
  });
  const discoveryHist = new Histogram({
    name: 'vmpulse_agent_discovery_duration_seconds',
    help: 'Wall time of one discovery pass.',
    buckets: LATENCY_BUCKETS_DISCOVERY,
    registers: [registry],
  });
  collector(registry, 'vmpulse_agent_vms_observed', 'Running VMs the agent currently samples.', 'gauge', () => [
    { labels: {}, value: view.instances().filter((i) => i.state === 'running').length },
  ]);
  const readErrors = new Counter({
    name: 'vmpulse_agent_read_errors_total',
    help: 'Failed reads by kind (gone, denied, missing, malformed, io).',
    labelNames: ['kind'],
    registers: [registry],
  });
  // Known kinds start at 0 so rate() and alerts work before the first failure.
  for (const kind of ['gone', 'denied', 'missing', 'malformed', 'io']) readErrors.inc({ kind }, 0);
  const readErrorsByKind = new Map<string, { inc(): void }>();
  collector(registry, 'vmpulse_agent_ready', '1 once the first discovery and the first tick are done.', 'gauge', () => [
    { labels: {}, value: view.health().ready ? 1 : 0 },
  ]);
  collector(registry, 'vmpulse_agent_metrics_vm_limit', 'VMPULSE_METRICS_VM_LIMIT: most VMs given per-VM series.', 'gauge', () => [
    { labels: {}, value: budget },
  ]);
  collector(registry, 'vmpulse_agent_metrics_vms_omitted', 'Running VMs left out of the last scrape by the VM limit.', 'gauge', () => [
    { labels: {}, value: snap().omitted },
  ]);

  let shipper: (() => ShipperStats) | null = null;
  function registerShipper(): void {
    const g = (name: string, help: string, type: 'counter' | 'gauge', pick: (s: ShipperStats) => number) =>
      collector(registry, name, help, type, () => {
        if (!shipper) return [];
        const x = pick(shipper());
        return Number.isFinite(x) ? [{ labels: {}, value: x }] : [];
      });
    g('vmpulse_agent_spool_records', 'Batches waiting in the disk spool.', 'gauge', (s) => s.spoolRecords);
    g('vmpulse_agent_spool_bytes', 'Bytes of the disk spool.', 'gauge', (s) => s.spoolBytes);
    g('vmpulse_agent_batches_shipped_total', 'Batches the server accepted.', 'counter', (s) => s.batchesShipped);
    g('vmpulse_agent_batches_failed_total', 'Batch POST attempts that failed (to be retried).', 'counter', (s) => s.batchesFailed);
    g('vmpulse_agent_batches_dropped_total', 'Batches dropped (spool limit reached).', 'counter', (s) => s.batchesDropped);
    g('vmpulse_agent_batches_dead_lettered_total', 'Batches the server rejected for good, kept aside.', 'counter', (s) => s.batchesDeadLettered);
    g('vmpulse_agent_spool_corrupt_records_total', 'Spool records that failed their checksum and were skipped.', 'counter', (s) => s.spoolCorruptRecords);
  }

  opts.extraMetrics?.(registry);

  return {
    registry,
    contentType: registry.contentType,
    observeTick: (s) => tickHist.observe(s),
    observeDiscovery: (s) => discoveryHist.observe(s),
    readError: (kind) => {
      // A field unreadable on every VM (no PSI without a cgroup of its own) is counted 1,000 times
      // a tick on a large host: the labelled child is looked up once per kind, not hashed each time.
      let c = readErrorsByKind.get(kind);
      if (!c) readErrorsByKind.set(kind, (c = readErrors.labels({ kind })));
      c.inc();
    },
    setShipperStats(getter) {
      const first = shipper === null;
      shipper = getter;
      if (first) registerShipper();
    },
    async render() {
      // One snapshot per scrape, so every metric of a scrape describes the same VMs.
      const s = snapshot();
      if (s.omitted > 0) limitExceeded.inc();
      current = s;
      try {
        return await registry.metrics();
      } finally {
        current = null;
      }
    },
  };
}
