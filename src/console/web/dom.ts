// A tiny DOM builder and the number formats every page shares. No UI library: the pages are small.
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') e.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(typeof c === 'number' ? String(c) : c);
  return e;
}

export function fmtPct(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${v.toFixed(1)} %`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function fmtBytes(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  let x = v;
  let i = 0;
  while (Math.abs(x) >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 && (Number.isInteger(x) || Math.abs(x) >= 10) ? Math.round(x) : x.toFixed(1)} ${UNITS[i]}`;
}

export function fmtRate(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${fmtBytes(v)}/s`;
}

export function fmtAgo(unixS: number | null | undefined, nowS = Date.now() / 1000): string {
  if (unixS === null || unixS === undefined) return '–';
  const d = Math.max(0, Math.round(nowS - unixS));
  if (d < 90) return `${d} s ago`;
  if (d < 5400) return `${Math.round(d / 60)} min ago`;
  if (d < 172800) return `${Math.round(d / 3600)} h ago`;
  return `${Math.round(d / 86400)} d ago`;
}

export function fmtTime(unixS: number): string {
  return new Date(unixS * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

export function vmHref(agentId: string, instanceId: string): string {
  return `#/vm/${encodeURIComponent(agentId)}/${encodeURIComponent(instanceId)}`;
}

export function hostHref(agentId: string): string {
  return `#/host/${encodeURIComponent(agentId)}`;
}

export function card(label: string, value: string): HTMLElement {
  return el('div', { class: 'card' }, el('div', { class: 'k' }, label), el('div', { class: 'v' }, value));
}

/** Announces a change to screen readers without moving focus. */
export function announce(text: string): void {
  const live = document.getElementById('live');
  if (live) live.textContent = text;
}
