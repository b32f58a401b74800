// Alarms page: every alarm with its state per instance and its history; admins also create, edit
// and delete alarms through the alarms API (PUT/DELETE /v1/alarms/{name}), whose validation
// messages are shown as they come.
import { ApiError, del, get, put, type Session } from './api.js';
import { el, vmHref } from './dom.js';
import type { Page } from './page.js';

export interface AlarmView {
  alarmName: string;
  metricName: string;
  statistic: string;
  period: number;
  comparisonOperator: string;
  threshold: number;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  monitoredResourceName: string | null;
  selector: Record<string, unknown> | null;
  source: string;
  state: string;
  states: { instanceId: string; instanceName: string; agentId: string; state: string; reason: string; since: string }[];
  [k: string]: unknown;
}

interface HistoryEntry {
  timestamp: string;
  instanceId: string;
  instanceName: string;
  oldState: string | null;
  newState: string;
  reason: string;
}

const OPS: Record<string, string> = {
  GreaterThanOrEqualToThreshold: '≥',
  GreaterThanThreshold: '>',
  LessThanThreshold: '<',
  LessThanOrEqualToThreshold: '≤',
};

export function describe(a: AlarmView): string {
  return `${a.metricName} ${a.statistic} over ${a.period} s ${OPS[a.comparisonOperator] ?? a.comparisonOperator} ${a.threshold}, ${a.datapointsToAlarm} of ${a.evaluationPeriods}`;
}

/** A <details> that loads an alarm's history (optionally one instance's) when opened. */
function historyDetails(name: string, instanceId?: string): HTMLElement {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  const d = el('details', {}, el('summary', {}, 'History'), body);
  let loaded = false;
  d.addEventListener('toggle', () => {
    if (!d.open || loaded) return;
    loaded = true;
    const q = instanceId ? `?instanceId=${encodeURIComponent(instanceId)}` : '';
    get<{ history: HistoryEntry[] }>(`/console/api/alarms/${encodeURIComponent(name)}/history${q}`).then(
      (r) =>
        body.replaceChildren(
          r.history.length
            ? el(
                'table',
                { 'aria-label': `History of ${name}` },
                el('thead', {}, el('tr', {}, ...['Time', 'Instance', 'From', 'To', 'Reason'].map((x) => el('th', { scope: 'col' }, x)))),
                el('tbody', {}, ...r.history.map((h) => el('tr', {}, el('td', {}, h.timestamp.replace('T', ' ').slice(0, 19)), el('td', {}, h.instanceName), el('td', {}, h.oldState ?? '–'), el('td', { class: `state-${h.newState}` }, h.newState), el('td', { style: 'white-space: normal' }, h.reason)))),
              )
            : el('p', { class: 'muted' }, 'No transitions yet.'),
        ),
      (e: Error) => body.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message)),
    );
  });
  return d;
}

/** The alarms watching one VM, with its state in each and their history. */
export function alarmStatesFor(list: AlarmView[], agentId: string, instanceId: string): HTMLElement {
  const mine = list.flatMap((a) => a.states.filter((s) => s.instanceId === instanceId && s.agentId === agentId).map((s) => ({ a, s })));
  if (!mine.length) return el('p', { class: 'muted' }, 'No alarm watches this VM.');
  return el(
    'ul',
    {},
    ...mine.map(({ a, s }) => el('li', {}, el('strong', {}, a.alarmName), ' ', el('span', { class: `state-${s.state}` }, s.state), el('div', { class: 'muted' }, describe(a)), historyDetails(a.alarmName, instanceId))),
  );
}

const TEMPLATE = {
  selector: { instanceName: '*' },
  metricName: 'CPUUtilization',
  statistic: 'Average',
  period: 300,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  threshold: 90,
  evaluationPeriods: 3,
  datapointsToAlarm: 2,
  contacts: { webhooks: [], alertmanagers: [] },
};

function editable(a: AlarmView): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) if (!['alarmName', 'source', 'createdAt', 'updatedAt', 'state', 'states'].includes(k) && v !== null) out[k] = v;
  return out;
}

export function alarmsPage(session: Session): Page {
  const isAdmin = session.role === 'admin';
  const list = el('div');
  const editor = el('section', { 'aria-labelledby': 'alarm-editor-title' });
  const nameInput = el('input', { id: 'alarm-name', name: 'alarmName', required: true, pattern: '[A-Za-z0-9._-]+', autocomplete: 'off' });
  const defInput = el('textarea', { id: 'alarm-def', name: 'definition', spellcheck: 'false' });
  const message = el('p', { role: 'status' });
  let page: Page;

  const edit = (name: string, def: Record<string, unknown>) => {
    nameInput.value = name;
    defInput.value = JSON.stringify(def, null, 2);
    message.textContent = '';
    nameInput.focus();
  };

  if (isAdmin) {
    const form = el(
      'form',
      {
        onsubmit: (e: Event) => {
          e.preventDefault();
          let body: unknown;
          try {
            body = JSON.parse(defInput.value);
          } catch (err) {
            message.className = 'error';
            message.textContent = `The definition is not JSON: ${(err as Error).message}`;
            return;
          }
          put<{ outcome: string }>(`/v1/alarms/${encodeURIComponent(nameInput.value.trim())}`, body).then(
            (r) => {
              message.className = '';
              message.textContent = `Alarm ${nameInput.value.trim()} ${r.outcome}.`;
              void page.refresh();
            },
            (err: Error) => {
              message.className = 'error';
              message.textContent = err instanceof ApiError ? `Refused: ${err.message}` : err.message;
            },
          );
        },
      },
      el('h2', { id: 'alarm-editor-title' }, 'Create or edit an alarm'),
      el('p', {}, el('label', { for: 'alarm-name' }, 'Alarm name'), ' ', nameInput),
      el('p', {}, el('label', { for: 'alarm-def' }, 'Definition (JSON, the PUT /v1/alarms body)')),
      defInput,
      el('p', {}, el('button', { type: 'submit' }, 'Save alarm'), ' ', el('button', { type: 'button', onclick: () => edit('', TEMPLATE) }, 'New from template')),
      message,
    );
    editor.append(form);
    edit('', TEMPLATE);
  }

  page = {
    title: 'Alarms',
    render(root) {
      root.replaceChildren(el('h1', {}, 'Alarms'), list, isAdmin ? editor : el('p', { class: 'muted' }, 'Signed in as a reader: admins can create, edit and delete alarms.'));
    },
    async refresh() {
      const r = await get<{ alarms: AlarmView[] }>('/console/api/alarms');
      if (!r.alarms.length) {
        list.replaceChildren(el('p', { class: 'muted' }, 'No alarms.'));
        return;
      }
      list.replaceChildren(
        ...r.alarms.map((a) =>
          el(
            'article',
            { class: 'card', 'data-alarm': a.alarmName, style: 'margin-bottom: .6rem' },
            el('h2', {}, a.alarmName, ' ', el('span', { class: `state-${a.state}` }, a.state)),
            el('p', { class: 'muted' }, describe(a), ` · ${a.monitoredResourceName ? `instance ${a.monitoredResourceName}` : `selector ${JSON.stringify(a.selector)}`} · ${a.source}`),
            a.states.length
              ? el(
                  'div',
                  { class: 'scroll' },
                  el(
                    'table',
                    { 'aria-label': `States of ${a.alarmName}` },
                    el('thead', {}, el('tr', {}, ...['Instance', 'State', 'Since', 'Reason'].map((x) => el('th', { scope: 'col' }, x)))),
                    el('tbody', {}, ...a.states.map((s) => el('tr', {}, el('td', {}, el('a', { href: vmHref(s.agentId, s.instanceId) }, s.instanceName)), el('td', { class: `state-${s.state}` }, s.state), el('td', {}, s.since.replace('T', ' ').slice(0, 19)), el('td', { style: 'white-space: normal' }, s.reason)))),
                  ),
                )
              : el('p', { class: 'muted' }, 'No instance evaluated yet.'),
            historyDetails(a.alarmName),
            isAdmin
              ? el(
                  'p',
                  {},
                  el('button', { type: 'button', onclick: () => edit(a.alarmName, editable(a)) }, 'Edit'),
                  ' ',
                  el(
                    'button',
                    {
                      type: 'button',
                      onclick: () => {
                        if (!confirm(`Delete alarm ${a.alarmName}?`)) return;
                        del(`/v1/alarms/${encodeURIComponent(a.alarmName)}`).then(
                          () => void page.refresh(),
                          (err: Error) => {
                            message.className = 'error';
                            message.textContent = err.message;
                          },
                        );
                      },
                    },
                    'Delete',
                  ),
                )
              : null,
          ),
        ),
      );
    },
    liveS: 30,
  };
  return page;
}
