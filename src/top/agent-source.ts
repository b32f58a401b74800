// `vmpulse top` over the local agent's API. One poll is GET /metrics (every VM's counters of the
// agent's last tick, one request whatever the number of VMs), GET /readyz (when that tick was)
// and GET /instances (vCPU thread counts and start times); the host's facts come once from
// /host/history. Rates are the counters' change between two of the agent's ticks divided by the
// time between those ticks, so they do not depend on how often top polls.
import { fail, ok, type Outcome } from '../readers/outcome.js';
import { parseExposition, type ExpoSample } from './exposition.js';
import type { TopHost, TopVm } from './model.js';
import type { TopData, TopSource } from './source.js';

/** What GET /instances says of one VM (the fields top uses). */
export interface AgentInstance {
  readonly instance_id: string;
  readonly pid: number;
  readonly starttime: number;
  readonly vcpu_threads: number;
}

export interface AgentFacts {
  readonly Hostname: string;
  readonly CPUCores: number | null;
  readonly RAM: number | null;
}

export interface AgentScrape {
  /** vmpulse_agent_ticks_total of the scrape. */
  readonly ticks: number;
  readonly vms: TopVm[];
  readonly omitted: number;
  readonly host: Omit<TopHost, 'hostname' | 'cpus' | 'ramBytes'>;
}

/**
 * The VMs and host figures of one /metrics text, the counters taken at `tickMs`. Pure. A VM needs
 * its vmpulse_vm_info and CPU and RSS series; any other missing series is an unmeasured figure.
 */
export function fromAgentMetrics(samples: readonly ExpoSample[], instances: readonly AgentInstance[], tickMs: number): Outcome<AgentScrape> {
  const per = new Map<string, Map<string, ExpoSample>>();
  const single = new Map<string, number>();
  for (const s of samples) {
    const id = s.labels.instance_id;
    const name = s.labels.instance_name;
    if (id !== undefined && name !== undefined && (s.name.startsWith('hypeman_vm_') || s.name.startsWith('vmpulse_vm_'))) {
      const k = `${id}\u0000${name}`;
      let m = per.get(k);
      if (!m) per.set(k, (m = new Map()));
      m.set(s.name, s);
    } else if (Object.keys(s.labels).length === 0) single.set(s.name, s.value);
  }
  const ticks = single.get('vmpulse_agent_ticks_total');
  if (ticks === undefined) return fail('malformed', 'no vmpulse_agent_ticks_total in /metrics: not a vmpulse agent');
  const threads = new Map(instances.map((i) => [`${i.pid}\u0000${i.instance_id}`, i]));
  const vms: TopVm[] = [];
  for (const m of per.values()) {
    const info = m.get('vmpulse_vm_info');
    const cpu = m.get('hypeman_vm_cpu_seconds_total');
    const rss = m.get('hypeman_vm_memory_rss_bytes');
    if (!info || !cpu || !rss) continue;
    const pid = Number(info.labels.pid);
    const id = info.labels.instance_id!;
    const inst = threads.get(`${pid}\u0000${id}`);
    const v = (name: string) => m.get(name)?.value ?? null;
    const steal = v('vmpulse_vm_cpu_steal_seconds_total');
    vms.push({
      key: inst ? `${pid}:${inst.starttime}` : `${pid}:${id}`,
      name: info.labels.instance_name!,
      id,
      hypervisor: info.labels.hypervisor ?? '?',
      pid,
      vcpus: v('hypeman_vm_allocated_vcpus') ?? 0,
      vcpuThreads: inst?.vcpu_threads ?? 0,
      allocatedMemoryBytes: v('hypeman_vm_allocated_memory_bytes') ?? 0,
      tMs: tickMs,
      cpuSeconds: cpu.value,
      rssBytes: rss.value,
      netInBytes: v('hypeman_vm_network_rx_bytes_total'),
      netOutBytes: v('hypeman_vm_network_tx_bytes_total'),
      diskReadBytes: v('vmpulse_vm_disk_read_bytes_total'),
      diskWriteBytes: v('vmpulse_vm_disk_write_bytes_total'),
      stealSeconds: steal,
    });
  }
  const g = (name: string) => single.get(name) ?? null;
  const l1 = g('vmpulse_host_load1');
  const l5 = g('vmpulse_host_load5');
  const l15 = g('vmpulse_host_load15');
  return ok({
    ticks,
    vms,
    omitted: g('vmpulse_agent_metrics_vms_omitted') ?? 0,
    host: {
      uptimeSeconds: g('vmpulse_host_uptime_seconds'),
      load: l1 !== null && l5 !== null && l15 !== null ? [l1, l5, l15] : null,
      cpuPct: g('vmpulse_host_cpu_percent'),
      memPct: g('vmpulse_host_memory_used_percent'),
    },
  });
}

/** The agent answered, but not with what top needs (a refused token, an error): not worth a fallback. */
export class AgentError extends Error {}

/** The agent's base URL for a VMPULSE_LISTEN address: a wildcard listener is asked on loopback. */
export function agentUrl(listen: { host: string; port: number }): string {
  const host = listen.host === '0.0.0.0' || listen.host === '' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}`;
}

/** True when something answers HTTP at `base` (any status); false when nothing listens. */
export async function agentAnswers(base: string, timeoutMs: number): Promise<boolean> {
  try {
    const r = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await r.arrayBuffer();
    return true;
  } catch {
    return false;
  }
}

interface Tick {
  readonly ticks: number;
  readonly tickMs: number;
  readonly scrape: AgentScrape;
}

export class AgentSource implements TopSource {
  readonly label: string;
  private facts: AgentFacts | null = null;
  private cur: Tick | null = null;
  private prev: Tick | null = null;

  constructor(
    private readonly base: string,
    private readonly token: string | undefined,
    private readonly timeoutMs = 5000,
  ) {
    this.label = `agent ${base}`;
  }

  /** GET `path`; `allow` lists statuses besides 2xx whose body is still wanted. */
  private async get(path: string, allow: number[] = []): Promise<string> {
    const headers: Record<string, string> = this.token ? { authorization: `Bearer ${this.token}` } : {};
    const r = await fetch(`${this.base}${path}`, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
    const body = await r.text();
    if (r.status === 401) {
      throw new AgentError(
        this.token
          ? `the agent at ${this.base} refused VMPULSE_API_TOKEN (401): it is not the agent's token`
          : `the agent at ${this.base} requires a token (401): set VMPULSE_API_TOKEN to the agent's token`,
      );
    }
    if (!r.ok && !allow.includes(r.status)) {
      let message = body.slice(0, 200);
      try {
        message = (JSON.parse(body) as { message?: string }).message ?? message;
      } catch {
        // not JSON: the raw text is the message
      }
      throw new AgentError(`GET ${this.base}${path}: HTTP ${r.status}: ${message}`);
    }
    return body;
  }

  private async json<T>(path: string, allow: number[] = []): Promise<T> {
    const text = await this.get(path, allow);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AgentError(`GET ${this.base}${path} did not answer JSON: not a vmpulse agent?`);
    }
  }

  private readyz() {
    return this.json<{ ticks?: number; last_tick_at?: string | null }>('/readyz', [503]);
  }

  /**
   * The agent's counters with the time of the tick they show: the last scrape again when the
   * agent has not ticked since (no /metrics request then); null when ticks kept landing between
   * the requests.
   */
  private async scrape(): Promise<Tick | null> {
    let ready = await this.readyz();
    if (this.cur && ready.ticks === this.cur.ticks) return this.cur;
    for (let attempt = 0; attempt < 2; attempt++) {
      const parsed = parseExposition(await this.get('/metrics'));
      if (!parsed.ok) throw new AgentError(`GET ${this.base}/metrics: ${parsed.detail}`);
      const instances = await this.json<AgentInstance[]>('/instances');
      const s = fromAgentMetrics(parsed.value, Array.isArray(instances) ? instances : [], NaN);
      if (!s.ok) throw new AgentError(`GET ${this.base}/metrics: ${s.detail}`);
      // A tick between /readyz and /metrics: ask /readyz again when the scraped tick was.
      if (s.value.ticks !== ready.ticks) ready = await this.readyz();
      const tickMs = ready.last_tick_at ? Date.parse(ready.last_tick_at) : NaN;
      if (s.value.ticks === ready.ticks && Number.isFinite(tickMs)) {
        const scrape = { ...s.value, vms: s.value.vms.map((v) => ({ ...v, tMs: tickMs })) };
        return { ticks: scrape.ticks, tickMs, scrape };
      }
      if (s.value.ticks === 0) return null;
    }
    return null;
  }

  async poll(): Promise<TopData> {
    this.facts ??= await this.json<AgentFacts>('/host/history');
    const t = await this.scrape();
    let notice: string | null = null;
    if (t && (!this.cur || t.ticks !== this.cur.ticks)) {
      this.prev = this.cur;
      this.cur = t;
    } else if (!t && !this.cur) notice = 'waiting for the agent\'s first tick';
    const s = this.cur?.scrape;
    const f = this.facts;
    return {
      host: {
        hostname: f.Hostname,
        cpus: f.CPUCores,
        ramBytes: f.RAM,
        uptimeSeconds: s?.host.uptimeSeconds ?? null,
        load: s?.host.load ?? null,
        cpuPct: s?.host.cpuPct ?? null,
        memPct: s?.host.memPct ?? null,
      },
      current: s?.vms ?? [],
      previous: this.prev ? new Map(this.prev.scrape.vms.map((v) => [v.key, v])) : null,
      omitted: s?.omitted ?? 0,
      notice,
    };
  }

  /** True once two of the agent's ticks were seen, so that rates are known. */
  hasRates(): boolean {
    return this.prev !== null;
  }

  close(): void {}
}
