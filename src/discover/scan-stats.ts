// What one scan did, for the agent's metrics and the discovery bench.

export interface ScanStats {
  /** PID entries listed in the proc root. */
  scanned: number;
  /** New processes classified (cmdline and exe read). */
  parsed: number;
  /** stat files read (new PIDs and known PIDs that may have been reused). */
  statReads: number;
  /** Young processes whose exe was re-checked for an exec. */
  rechecked: number;
  /** Known VMs whose threads / TAPs were re-read. */
  refreshed: number;
  /** API questions asked this scan. */
  apiCalls: number;
  /** 'window': only PIDs the allocator may have reused were re-checked; 'all': every known PID. */
  reuseCheck: 'window' | 'all';
  durationMs: number;
  /** Failures by kind (`gone`, `denied`, `cmdline-gone`, `api-io`, ...). */
  errors: Record<string, number>;
  /** Deliberate skips by reason (`kernel-thread`, `hypervisor-child`, ...). */
  skipped: Record<string, number>;
}

export function newScanStats(): ScanStats {
  return {
    scanned: 0,
    parsed: 0,
    statReads: 0,
    rechecked: 0,
    refreshed: 0,
    apiCalls: 0,
    reuseCheck: 'all',
    durationMs: 0,
    errors: {},
    skipped: {},
  };
}

export function count(rec: Record<string, number>, k: string): void {
  rec[k] = (rec[k] ?? 0) + 1;
}
