// VM page: a chart per GetInstanceMetricData metric over the chosen range and statistic (the
// server computes them with the same code as the API), its disks' I/O over the range, the latest
// counters, the VM's alarms.
import { RANGE_KEYS, RANGES, STATISTICS, VM_METRICS, type RangeKey } from '../ranges.js';
import { get } from './api.js';
import { chart } from './chart.js';
import { el, fmtAgo, fmtBytes, fmtTime, hostHref } from './dom.js';
import type { Page } from './page.js';
import type { DiskTotal } from '../json-types.js';
import { alarmStatesFor, type AlarmView } from './alarms.js';

interface VmData {
  instance: Record<string, unknown> & { instance_id: string; instance_name: string; agent_id: string; hostname: string; last_seen: string };
  range: { key: RangeKey; label: string; startTime: number; endTime: number; period: number; statistic: string };
  metrics: Record<string, { unit: string; points: [number, number][] }>;
  /** Per virtual disk, added over [from, to) (the minutes kept: the range, or the minute tier's retention). */
  disks: { from: number; to: number; devices: DiskTotal[] };
}

const DISK_COLUMNS = [
  ['read_bytes', 'Read', fmtBytes],
  ['write_bytes', 'Written', fmtBytes],
  ['read_ops', 'Read ops', (v: number) => v.toLocaleString('en-US')],
  ['write_ops', 'Write ops', (v: number) => v.toLocaleString('en-US')],
] as const;

/** The hypervisor's own per-disk counters (libvirt, Cloud Hypervisor, Firecracker) over the range. */
function diskTable(d: VmData['disks'], range: VmData['range']): HTMLElement {
  const head = el('h2', {}, 'Disks');
  if (!d.devices.length) return el('div', { id: 'vm-disks' }, head, el('p', { class: 'muted' }, 'No per-disk counters: the hypervisor gives none, or none in this range.'));
  const span = d.from > range.startTime ? el('p', { class: 'muted' }, `Since ${fmtTime(d.from)}: disk counters are kept per minute only.`) : null;
  return el(
    'div',
    { id: 'vm-disks' },
    head,
    ...(span ? [span] : []),
    el(
      'table',
      { 'aria-label': `Disk I/O over ${range.label}` },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Device'), ...DISK_COLUMNS.map((c) => el('th', { scope: 'col' }, c[1])))),
      el(
        'tbody',
        {},
        ...d.devices.map((x) =>
          el('tr', { 'data-device': x.device }, el('td', {}, x.device), ...DISK_COLUMNS.map(([k, , f]) => el('td', { 'data-field': k, 'data-value': String(x[k]) }, f(x[k])))),
        ),
      ),
    ),
  );
}

export function vmPage(agentId: string, instanceId: string, query: URLSearchParams): Page {
  let range: RangeKey = RANGE_KEYS.includes(query.get('range') as RangeKey) ? (query.get('range') as RangeKey) : '1h';
  let statistic = (STATISTICS as readonly string[]).includes(query.get('statistic') ?? '') ? query.get('statistic')! : 'Average';
  const head = el('div');
  const controls = el('div', { class: 'toolbar' });
  const charts = el('div', { class: 'charts', 'aria-live': 'off' });
  const counters = el('div');
  const disks = el('div');
  const alarms = el('div');

  const page: Page = {
    title: 'VM',
    render(root) {
      const drawControls = () => {
        const stat = el('select', { id: 'vm-statistic' }, ...STATISTICS.map((s) => el('option', { value: s, selected: s === statistic }, s)));
        stat.addEventListener('change', () => {
          statistic = stat.value;
          void page.refresh();
        });
        controls.replaceChildren(
          el(
            'div',
            { role: 'group', 'aria-label': 'Range', class: 'toolbar' },
            ...RANGE_KEYS.map((k) =>
              el('button', { type: 'button', 'data-range': k, title: RANGES[k].label, 'aria-pressed': k === range ? 'true' : 'false', onclick: () => ((range = k), drawControls(), void page.refresh()) }, k),
            ),
          ),
          el('label', { for: 'vm-statistic' }, 'Statistic'),
          stat,
        );
      };
      drawControls();
      root.replaceChildren(head, controls, charts, disks, el('div', { class: 'two' }, counters, alarms));
    },
    async refresh() {
      const base = `/console/api/vms/${encodeURIComponent(agentId)}/${encodeURIComponent(instanceId)}`;
      const [d, alarmList] = await Promise.all([
        get<VmData>(`${base}?range=${range}&statistic=${statistic}`),
        get<{ alarms: AlarmView[] }>('/console/api/alarms').then(
          (r) => r.alarms,
          () => null,
        ),
      ]);
      const i = d.instance;
      document.title = `VM ${i.instance_name} — vmpulse`;
      head.replaceChildren(
        el('h1', {}, `VM ${i.instance_name}`),
        el('p', { class: 'muted' }, `${i.instance_id} on `, el('a', { href: hostHref(i.agent_id) }, i.hostname || i.agent_id), ` · ${String(i.hypervisor)} · ${String(i.allocated_vcpus)} vCPUs · ${fmtBytes(i.allocated_memory_bytes as number)} · ${i.running ? 'running' : 'not running'} · last seen ${fmtAgo(Date.parse(i.last_seen) / 1000)}`),
      );
      const r = d.range;
      charts.replaceChildren(
        ...VM_METRICS.map((m) => {
          const pts = d.metrics[m.name]?.points ?? [];
          return chart({
            metric: m.name,
            title: `${m.title} — ${statistic}`,
            unit: m.unit,
            timestamps: pts.map((p) => p[0]),
            series: [{ label: statistic, values: pts.map((p) => p[1]) }],
            xRange: [r.startTime, r.endTime],
            data: { start: r.startTime, end: r.endTime, period: r.period, statistic: r.statistic, unit: m.unit },
          });
        }),
      );
      disks.replaceChildren(diskTable(d.disks, r));
      const c = (k: string) => (typeof i[k] === 'number' ? (i[k] as number) : null);
      counters.replaceChildren(
        el('h2', {}, 'Latest counters'),
        el(
          'dl',
          { class: 'facts' },
          ...([
            ['CPU time', c('cpu_seconds') === null ? '–' : `${c('cpu_seconds')!.toFixed(2)} s`],
            ['Memory RSS', fmtBytes(c('memory_rss_bytes'))],
            ['Memory VMS', fmtBytes(c('memory_vms_bytes'))],
            ['Network received', fmtBytes(c('network_rx_bytes'))],
            ['Network sent', fmtBytes(c('network_tx_bytes'))],
            ['TAP devices', Array.isArray(i.tap_devices) ? (i.tap_devices as string[]).join(', ') || '–' : '–'],
            ['PID', String(i.pid)],
          ] as const).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]),
        ),
      );
      alarms.replaceChildren(el('h2', {}, 'Alarms'), alarmList === null ? el('p', { class: 'muted' }, 'Alarms are not available.') : alarmStatesFor(alarmList, agentId, instanceId));
    },
  };
  return page;
}
