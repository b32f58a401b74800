// Fleet page: hosts (silent ones marked), totals, top VMs, and a table of every VM that sorts,
// filters and pages (100 rows at a time, so 10,000 VMs cost one page of DOM).
import { get } from './api.js';
import { announce, card, el, fmtAgo, fmtBytes, fmtPct, fmtRate, hostHref, vmHref } from './dom.js';
import type { Page } from './page.js';
import type { Fleet, FleetVm } from '../json-types.js';

export type { Fleet };

type Key = keyof FleetVm | 'net' | 'disk';
interface Column {
  key: Key;
  label: string;
  num?: boolean;
  cell: (v: FleetVm) => Node | string;
}

const COLUMNS: Column[] = [
  { key: 'name', label: 'Name', cell: (v) => el('a', { href: vmHref(v.agent_id, v.instance_id), 'data-vm': v.instance_id }, v.name) },
  { key: 'host', label: 'Host', cell: (v) => el('a', { href: hostHref(v.agent_id) }, v.host || v.agent_id) },
  { key: 'hypervisor', label: 'Hypervisor', cell: (v) => v.hypervisor },
  { key: 'vcpus', label: 'vCPUs', num: true, cell: (v) => String(v.vcpus) },
  { key: 'memory_bytes', label: 'Memory', num: true, cell: (v) => fmtBytes(v.memory_bytes) },
  { key: 'cpu', label: 'CPU', num: true, cell: (v) => fmtPct(v.cpu) },
  { key: 'memory', label: 'Mem', num: true, cell: (v) => fmtPct(v.memory) },
  { key: 'net_in', label: 'Net in', num: true, cell: (v) => fmtRate(v.net_in) },
  { key: 'net_out', label: 'Net out', num: true, cell: (v) => fmtRate(v.net_out) },
  { key: 'disk', label: 'Disk r/w', num: true, cell: (v) => `${fmtRate(v.disk_read)} / ${fmtRate(v.disk_write)}` },
  { key: 'steal', label: 'Steal', num: true, cell: (v) => fmtPct(v.steal) },
  { key: 'state', label: 'State', cell: (v) => el('span', { class: `state-${v.state}` }, v.state) },
  { key: 'alarms', label: 'Alarms', num: true, cell: (v) => (v.alarms ? el('span', { class: 'state-ALARM' }, String(v.alarms)) : '0') },
];

const PAGE_ROWS = 100;

function sortValue(v: FleetVm, k: Key): number | string | null {
  if (k === 'net') return (v.net_in ?? 0) + (v.net_out ?? 0);
  if (k === 'disk') return (v.disk_read ?? 0) + (v.disk_write ?? 0);
  return v[k] as number | string | null;
}

export function fleetPage(): Page {
  let data: Fleet | null = null;
  let sortKey: Key = 'name';
  let desc = false;
  let filter = '';
  let stateFilter = '';
  let page = 0;

  const summary = el('div', { class: 'cards' });
  const hosts = el('div', { class: 'scroll' });
  const tops = el('div', { class: 'two' });
  const count = el('span', { class: 'muted', 'aria-live': 'polite' });
  const tbody = el('tbody');
  const headRow = el('tr');
  const prev = el('button', { type: 'button', onclick: () => ((page = Math.max(0, page - 1)), renderTable()) }, 'Previous');
  const next = el('button', { type: 'button', onclick: () => ((page += 1), renderTable()) }, 'Next');
  const filterInput = el('input', { type: 'search', id: 'vm-filter', placeholder: 'name, host, id, hypervisor', autocomplete: 'off' });
  filterInput.addEventListener('input', () => {
    filter = filterInput.value.trim().toLowerCase();
    page = 0;
    renderTable();
  });
  const stateSelect = el('select', { id: 'vm-state' }, el('option', { value: '' }, 'any state'), ...['running', 'stopped', 'silent'].map((s) => el('option', { value: s }, s)));
  stateSelect.addEventListener('change', () => {
    stateFilter = stateSelect.value;
    page = 0;
    renderTable();
  });

  function renderHead(): void {
    headRow.replaceChildren(
      ...COLUMNS.map((c) =>
        el(
          'th',
          { scope: 'col', class: c.num ? 'n' : null, 'aria-sort': sortKey === c.key ? (desc ? 'descending' : 'ascending') : 'none' },
          el(
            'button',
            {
              type: 'button',
              'data-sort': c.key,
              onclick: () => {
                if (sortKey === c.key) desc = !desc;
                else {
                  sortKey = c.key;
                  desc = !!c.num;
                }
                page = 0;
                renderHead();
                renderTable();
              },
            },
            c.label,
            sortKey === c.key ? (desc ? ' ▼' : ' ▲') : '',
          ),
        ),
      ),
    );
  }

  function visible(): FleetVm[] {
    if (!data) return [];
    let rows = data.vms;
    if (filter) rows = rows.filter((v) => v.name.toLowerCase().includes(filter) || v.host.toLowerCase().includes(filter) || v.instance_id.toLowerCase().includes(filter) || v.hypervisor.toLowerCase().includes(filter));
    if (stateFilter) rows = rows.filter((v) => v.state === stateFilter);
    const dir = desc ? -1 : 1;
    return [...rows].sort((a, b) => {
      const x = sortValue(a, sortKey);
      const y = sortValue(b, sortKey);
      if (x === y) return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
  }

  function renderTable(): void {
    const rows = visible();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
    page = Math.min(page, pages - 1);
    const slice = rows.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
    tbody.replaceChildren(...slice.map((v) => el('tr', { 'data-instance': v.instance_id }, ...COLUMNS.map((c) => el('td', { class: c.num ? 'n' : null }, c.cell(v))))));
    count.textContent = rows.length ? `VMs ${page * PAGE_ROWS + 1}–${page * PAGE_ROWS + slice.length} of ${rows.length}${rows.length !== data!.vms.length ? ` (filtered from ${data!.vms.length})` : ''}` : 'No VMs match.';
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }

  function renderRest(d: Fleet): void {
    const t = d.totals;
    summary.replaceChildren(
      card('Hosts', `${t.hosts}${t.silent_hosts ? ` (${t.silent_hosts} silent)` : ''}`),
      card('VMs running', `${t.running_vms} / ${t.vms}`),
      card('Fleet CPU', fmtPct(t.cpu)),
      card('Fleet network in', fmtRate(t.net_in)),
      card('Fleet network out', fmtRate(t.net_out)),
    );
    hosts.replaceChildren(
      el(
        'table',
        { 'aria-label': 'Hosts' },
        el('thead', {}, el('tr', {}, ...['Host', 'Last data', 'VMs', 'Cores', 'CPU', 'RAM', 'Net in', 'Net out'].map((h, i) => el('th', { scope: 'col', class: i >= 2 ? 'n' : null }, h)))),
        el(
          'tbody',
          {},
          ...d.hosts.map((h) =>
            el(
              'tr',
              {},
              el('td', {}, el('a', { href: hostHref(h.agent_id) }, h.hostname)),
              el('td', { class: h.silent ? 'state-silent' : null }, fmtAgo(h.last_seen, d.now), h.silent ? ' — silent' : ''),
              el('td', { class: 'n' }, String(h.vms)),
              el('td', { class: 'n' }, String(h.cpu_cores)),
              el('td', { class: 'n' }, fmtPct(h.cpu)),
              el('td', { class: 'n' }, fmtPct(h.ram_used)),
              el('td', { class: 'n' }, fmtRate(h.net_in)),
              el('td', { class: 'n' }, fmtRate(h.net_out)),
            ),
          ),
        ),
      ),
    );
    const top = (title: string, key: (v: FleetVm) => number | null, fmt: (v: FleetVm) => string) => {
      const list = d.vms.filter((v) => key(v) !== null).sort((a, b) => key(b)! - key(a)!).slice(0, 5);
      return el(
        'section',
        { 'aria-label': title },
        el('h2', {}, title),
        list.length ? el('ol', {}, ...list.map((v) => el('li', {}, el('a', { href: vmHref(v.agent_id, v.instance_id) }, v.name), ` — ${fmt(v)}`))) : el('p', { class: 'muted' }, 'No recent windows.'),
      );
    };
    tops.replaceChildren(
      top('Top VMs by CPU', (v) => v.cpu, (v) => fmtPct(v.cpu)),
      top('Top VMs by network', (v) => (v.net_in === null && v.net_out === null ? null : (v.net_in ?? 0) + (v.net_out ?? 0)), (v) => `${fmtRate(v.net_in)} in, ${fmtRate(v.net_out)} out`),
    );
  }

  return {
    title: 'Fleet',
    render(root) {
      renderHead();
      root.replaceChildren(
        el('h1', {}, 'Fleet'),
        summary,
        el('h2', {}, 'Hosts'),
        hosts,
        tops,
        el('h2', { id: 'vms-title' }, 'Virtual machines'),
        el('div', { class: 'toolbar' }, el('label', { for: 'vm-filter' }, 'Filter'), filterInput, el('label', { for: 'vm-state' }, 'State'), stateSelect, prev, next, count),
        el('div', { class: 'scroll' }, el('table', { id: 'vm-table', 'aria-labelledby': 'vms-title' }, el('thead', {}, headRow), tbody)),
      );
    },
    async refresh() {
      const before = data?.totals;
      data = await get<Fleet>('/console/api/fleet');
      renderRest(data);
      // A keyboard user on a row keeps their place; the rows catch up on their next sort, filter or page.
      if (!tbody.contains(document.activeElement)) renderTable();
      const t = data.totals;
      if (before && (before.vms !== t.vms || before.hosts !== t.hosts || before.silent_hosts !== t.silent_hosts)) {
        announce(`Fleet changed: ${t.vms} VMs on ${t.hosts} hosts, ${t.silent_hosts} silent`);
      }
    },
  };
}
