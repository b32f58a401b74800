// `npm run bench` (agent-bench.ts): the human-readable summary of its JSON result.

/** The fields of the bench's result the text summary shows. */
export interface ReportFields {
  vms: number;
  ticks: number;
  warmup_ticks: number;
  workers: number;
  rounds: number;
  files_per_vm: number;
  file_set: string[];
  pool_us_per_vm: number;
  inline_us_per_vm: number;
  naive_us_per_vm: number;
  per_task_us_per_vm: number;
  c_us_per_vm: number;
  c_sysfs_us_per_vm: number;
  raw_node_pread_us_per_vm: number;
  inline_tick_ms_p50: number;
  naive_tick_ms_p50: number;
  per_task_tick_ms_p50: number;
  c_tick_ms_p50: number;
  pool_vs_c_ratio: number;
  pool_vs_c_sysfs_ratio: number;
  agent_us_per_vm: number | null;
  agent_main_us_per_vm: number | null;
  agent_vs_c_ratio: number | null;
  process_exporter_us_per_vm: number | null;
  process_exporter_vs_pool_ratio: number | null;
  agent_ticks: number;
  agent_interval_ms: number;
  agent_vms_observed: number | null;
  agent_rss_bytes: number | null;
  process_exporter_groups_seen: number | null;
  process_exporter_rss_bytes: number | null;
  tick_ms_p50: number;
  tick_ms_max: number;
  bench_process_rss_bytes: number;
  loadavg_at_rounds: number[][];
}

/** The bench's human-readable summary of its JSON result. */
export function textReport(r: ReportFields, o: { perTaskWorkers: number; peerAbsent: string | null; poolVsCPerRound: number[] }): string {
  const row = (name: string, us: number, tickMs: number) =>
    `${name.padEnd(10)} ${us.toFixed(2).padStart(9)} ${(us / r.c_us_per_vm).toFixed(2).padStart(8)}x ${tickMs.toFixed(2).padStart(10)}`;
  return [
    `${r.vms} VMs, ${r.ticks} ticks (+${r.warmup_ticks} warm-up), ${r.workers} workers (per-task: ${o.perTaskWorkers}), ${r.rounds} round(s); ${r.files_per_vm} files per VM: ${r.file_set.join(', ')}`,
    `path       µs/VM/tick     vs C   tick ms p50`,
    row('pool', r.pool_us_per_vm, r.tick_ms_p50),
    row('inline', r.inline_us_per_vm, r.inline_tick_ms_p50),
    row('naive', r.naive_us_per_vm, r.naive_tick_ms_p50),
    row('per-task', r.per_task_us_per_vm, r.per_task_tick_ms_p50),
    row('c', r.c_us_per_vm, r.c_tick_ms_p50),
    `(C on the old 11 files, 4 sysfs counters per TAP: ${r.c_sysfs_us_per_vm} µs/VM/tick; the pool is ${r.pool_vs_c_sysfs_ratio}x that old floor)`,
    r.agent_us_per_vm === null
      ? 'agent process: not run (--paths)'
      : `agent process ${r.agent_us_per_vm.toFixed(2)} µs/VM/tick (main thread ${r.agent_main_us_per_vm?.toFixed(2)}; ${r.agent_ticks} ticks every ${r.agent_interval_ms} ms, ${r.agent_vms_observed} VMs), ${r.agent_vs_c_ratio}x C; RSS ${((r.agent_rss_bytes ?? NaN) / 2 ** 20).toFixed(1)} MiB`,
    `(node preads alone, nothing parsed: ${r.raw_node_pread_us_per_vm} µs/VM/tick)`,
    r.process_exporter_us_per_vm === null
      ? `process-exporter: ${o.peerAbsent}`
      : `process-exporter ${r.process_exporter_us_per_vm.toFixed(2)} µs/VM/scrape (${r.ticks} scrapes every ${r.agent_interval_ms} ms, ${r.process_exporter_groups_seen} of ${r.vms} VMs followed), ${r.process_exporter_vs_pool_ratio}x the pool; RSS ${((r.process_exporter_rss_bytes ?? NaN) / 2 ** 20).toFixed(1)} MiB`,
    `pool tick max ${r.tick_ms_max} ms; bench process RSS with the pool holding ${r.vms} VMs: ${(r.bench_process_rss_bytes / 2 ** 20).toFixed(1)} MiB`,
    `pool vs C: ${r.pool_vs_c_ratio}x (per round: ${o.poolVsCPerRound.join(', ')}); load at rounds: ${r.loadavg_at_rounds.map((l) => l.join('/')).join(', ')}`,
    '',
  ].join('\n');
}
