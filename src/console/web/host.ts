// Host page: HetrixTools-style charts of the host's recent minutes and the host's VMs.
import { get } from './api.js';
import { chart } from './chart.js';
import { el, fmtAgo, fmtBytes, vmHref } from './dom.js';
import type { Page } from './page.js';

interface HostMinute {
  Minute: number;
  Seconds: number;
  CPU: number | null;
  IOWait: number | null;
  Steal: number | null;
  RAM: number | null;
  Swap: number | null;
  Disk: number | null;
  Load1: number | null;
  Load5: number | null;
  Load15: number | null;
  NetIn: number;
  NetOut: number;
}
interface HostData {
  AgentID: string;
  Hostname: string;
  AgentLastData: number;
  AgentVersion: string;
  OperatingSystem: string;
  Kernel: string;
  CPUModel: string;
  CPUCores: number;
  RAM: number;
  Swap: number;
  Disk: number;
  Stats: HostMinute[];
  Instances: { instance_id: string; instance_name: string; hypervisor: string; allocated_vcpus: number; allocated_memory_bytes: number; running: boolean; last_seen: string; agent_id: string }[];
}

const SPANS = [
  { minutes: 60, label: '1 h' },
  { minutes: 360, label: '6 h' },
  { minutes: 1440, label: '1 d' },
];

export function hostPage(agentId: string): Page {
  let minutes = 60;
  const head = el('div');
  const spans = el('div', { class: 'toolbar', role: 'group', 'aria-label': 'Time span' });
  const charts = el('div', { class: 'charts' });
  const vms = el('div', { class: 'scroll' });
  const page: Page = {
    title: 'Host',
    render(root) {
      const drawSpans = () =>
        spans.replaceChildren(
          ...SPANS.map((s) =>
            el('button', { type: 'button', 'aria-pressed': s.minutes === minutes ? 'true' : 'false', onclick: () => ((minutes = s.minutes), drawSpans(), void page.refresh()) }, s.label),
          ),
        );
      drawSpans();
      root.replaceChildren(head, spans, charts, el('h2', {}, 'VMs on this host'), vms);
    },
    async refresh() {
      const h = await get<HostData>(`/console/api/hosts/${encodeURIComponent(agentId)}?minutes=${minutes}`);
      document.title = `Host ${h.Hostname} — vmpulse`;
      head.replaceChildren(
        el('h1', {}, `Host ${h.Hostname}`),
        el(
          'dl',
          { class: 'facts' },
          ...([
            ['Agent ID', h.AgentID],
            ['Last data', fmtAgo(h.AgentLastData)],
            ['OS', `${h.OperatingSystem}, kernel ${h.Kernel}`],
            ['CPU', `${h.CPUModel} (${h.CPUCores} cores)`],
            ['RAM / swap', `${fmtBytes(h.RAM)} / ${fmtBytes(h.Swap)}`],
            ['Disk', fmtBytes(h.Disk)],
            ['Agent', h.AgentVersion],
          ] as const).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
        ),
      );
      const ts = h.Stats.map((m) => m.Minute);
      const col = (f: (m: HostMinute) => number | null) => h.Stats.map(f);
      const perS = (f: (m: HostMinute) => number) => h.Stats.map((m) => (m.Seconds ? f(m) / m.Seconds : null));
      charts.replaceChildren(
        chart({ metric: 'host.CPU', title: 'CPU', unit: 'Percent', timestamps: ts, series: [{ label: 'CPU', values: col((m) => m.CPU) }] }),
        chart({ metric: 'host.IOWait', title: 'IOWait', unit: 'Percent', timestamps: ts, series: [{ label: 'IOWait', values: col((m) => m.IOWait) }] }),
        chart({ metric: 'host.Steal', title: 'Steal', unit: 'Percent', timestamps: ts, series: [{ label: 'Steal', values: col((m) => m.Steal) }] }),
        chart({ metric: 'host.RAM', title: 'RAM', unit: 'Percent', timestamps: ts, series: [{ label: 'RAM', values: col((m) => m.RAM) }, { label: 'Swap', values: col((m) => m.Swap) }] }),
        chart({ metric: 'host.Load', title: 'Load', unit: 'Load', timestamps: ts, series: [{ label: 'Load 1', values: col((m) => m.Load1) }, { label: 'Load 15', values: col((m) => m.Load15) }] }),
        chart({ metric: 'host.Disk', title: 'Disk used', unit: 'Percent', timestamps: ts, series: [{ label: 'Disk', values: col((m) => m.Disk) }] }),
        chart({ metric: 'host.Network', title: 'Network', unit: 'Bytes/s', timestamps: ts, series: [{ label: 'In', values: perS((m) => m.NetIn) }, { label: 'Out', values: perS((m) => m.NetOut) }] }),
      );
      vms.replaceChildren(
        el(
          'table',
          { 'aria-label': 'VMs on this host' },
          el('thead', {}, el('tr', {}, ...['Name', 'Hypervisor', 'vCPUs', 'Memory', 'State', 'Last seen'].map((x) => el('th', { scope: 'col' }, x)))),
          el(
            'tbody',
            {},
            ...h.Instances.map((i) =>
              el(
                'tr',
                {},
                el('td', {}, el('a', { href: vmHref(i.agent_id, i.instance_id) }, i.instance_name)),
                el('td', {}, i.hypervisor),
                el('td', {}, String(i.allocated_vcpus)),
                el('td', {}, fmtBytes(i.allocated_memory_bytes)),
                el('td', { class: i.running ? 'state-running' : 'state-stopped' }, i.running ? 'running' : 'stopped'),
                el('td', {}, fmtAgo(Date.parse(i.last_seen) / 1000)),
              ),
            ),
          ),
        ),
      );
    },
  };
  return page;
}
