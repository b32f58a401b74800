// One screen of `vmpulse top` as lines of plain text: a pure function of what was read, the
// terminal's size and the sort, so that it is tested on values and works on any terminal (no
// colours, no line longer than the width, no more lines than the height).
import { fmtBytes, fmtPct, fmtSeconds, fmtUptime, printable, shortHypervisor } from './format.js';
import { sortRows, type SortKey, type SortOrder, type TopHost, type TopRow } from './model.js';

export interface TopFrame {
  readonly host: TopHost;
  /** In any order: the renderer sorts. */
  readonly rows: readonly TopRow[];
  readonly sort: SortOrder;
  /** Where the figures come from, e.g. `agent http://127.0.0.1:9464` or `direct`. */
  readonly source: string;
  readonly intervalSeconds: number;
  readonly filter: string | null;
  /** One line for something the operator should know (an error, a fallback); null for none. */
  readonly notice: string | null;
  /** VMs the source knows of but gave no figures for (the agent's VMPULSE_METRICS_VM_LIMIT). */
  readonly omitted: number;
}

export interface ScreenSize {
  readonly cols: number;
  /** Null: no height limit and no key line (one frame written to a pipe or a file). */
  readonly rows: number | null;
}

export const SORT_LABEL: Record<SortKey, string> = { cpu: 'CPU', mem: 'MEM', net: 'NET', disk: 'DISK', pid: 'PID', name: 'NAME' };

export const KEY_LINE = 'Keys: c CPU  m MEM  n NET  d DISK  p PID  a NAME  r reverse  q quit';

interface Column {
  readonly title: string;
  readonly width: number;
  readonly cell: (r: TopRow) => string;
  /** Dropped first when the terminal is narrow: 1 goes first; undefined never goes. */
  readonly drop?: number;
}

const COLUMNS: readonly Column[] = [
  { title: 'PID', width: 7, cell: (r) => String(r.pid), drop: 4 },
  { title: 'HV', width: 6, cell: (r) => shortHypervisor(r.hypervisor), drop: 2 },
  { title: 'VC', width: 3, cell: (r) => String(r.vcpus), drop: 1 },
  { title: 'CPU%', width: 5, cell: (r) => fmtPct(r.cpuPct) },
  { title: 'RSS', width: 5, cell: (r) => fmtBytes(r.rssBytes) },
  { title: 'MEM%', width: 4, cell: (r) => fmtPct(r.memPct) },
  { title: 'RX/s', width: 5, cell: (r) => fmtBytes(r.netInBps) },
  { title: 'TX/s', width: 5, cell: (r) => fmtBytes(r.netOutBps) },
  { title: 'RD/s', width: 5, cell: (r) => fmtBytes(r.diskReadBps) },
  { title: 'WR/s', width: 5, cell: (r) => fmtBytes(r.diskWriteBps) },
  { title: 'ST%', width: 4, cell: (r) => fmtPct(r.stealPct), drop: 3 },
];
const LEFT_ALIGNED = new Set(['HV']);
/** The NAME column (last) keeps at least this many characters before columns are dropped. */
export const MIN_NAME = 12;

/** The fixed columns that leave NAME at least MIN_NAME characters of `cols` (or all that can go, gone). */
function columnsFor(cols: number): Column[] {
  const kept = [...COLUMNS];
  const used = () => kept.reduce((a, c) => a + c.width + 1, 0);
  const droppable = COLUMNS.filter((c) => c.drop !== undefined).sort((a, b) => a.drop! - b.drop!);
  for (const c of droppable) {
    if (cols - used() >= MIN_NAME) break;
    kept.splice(kept.indexOf(c), 1);
  }
  return kept;
}

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, Math.max(0, n)) : s);

function line(columns: readonly Column[], cells: readonly string[], name: string, cols: number): string {
  const parts = columns.map((c, i) => (LEFT_ALIGNED.has(c.title) ? cells[i]!.padEnd(c.width) : cells[i]!.padStart(c.width)));
  return cut([...parts, name].join(' '), cols).trimEnd();
}

const pctOrDash = (v: number | null) => (v === null ? '-' : `${fmtPct(v)}%`);

function headerLines(f: TopFrame, shown: number): string[] {
  const h = f.host;
  const load = h.load ? h.load.map((x) => x.toFixed(2)).join(' ') : '-';
  const cpus = h.cpus === null ? '-' : String(h.cpus);
  const vms = [`VMs: ${f.rows.length}`];
  if (f.filter) vms.push(` matching ${JSON.stringify(printable(f.filter))}`);
  if (shown < f.rows.length) vms.push(`, ${shown} shown`);
  if (f.omitted > 0) vms.push(`, ${f.omitted} left out by the agent's VM limit`);
  const lines = [
    `vmpulse top - ${printable(h.hostname)} - up ${fmtUptime(h.uptimeSeconds)} - load ${load}`,
    `Host: ${cpus} CPUs, ${fmtBytes(h.ramBytes)} RAM, CPU ${pctOrDash(h.cpuPct)}, MEM ${pctOrDash(h.memPct)}`,
    `${vms.join('')} - sort: ${SORT_LABEL[f.sort.key]}${f.sort.reverse ? ' reversed' : ''} - every ${fmtSeconds(f.intervalSeconds)}s - ${printable(f.source)}`,
  ];
  if (f.notice) lines.push(`! ${printable(f.notice)}`);
  return lines;
}

/** The screen: header, column titles, the rows that fit, and (with a height) the key line at the bottom. */
export function renderFrame(f: TopFrame, size: ScreenSize): string[] {
  const cols = Math.max(1, size.cols);
  const columns = columnsFor(cols);
  const nameWidth = Math.max(0, cols - columns.reduce((a, c) => a + c.width + 1, 0));
  const headerCount = f.notice ? 4 : 3;
  const room = size.rows === null ? f.rows.length : Math.max(0, size.rows - headerCount - 2);
  const rows = sortRows(f.rows, f.sort).slice(0, room);
  const out = headerLines(f, rows.length).map((l) => cut(l, cols));
  out.push(line(columns, columns.map((c) => c.title), 'NAME', cols));
  for (const r of rows) out.push(line(columns, columns.map((c) => c.cell(r)), cut(printable(r.name), nameWidth), cols));
  if (size.rows !== null) {
    // The key line on the screen's last line, as htop has it.
    while (out.length < size.rows - 1) out.push('');
    out.push(cut(KEY_LINE, cols));
    return out.slice(0, size.rows);
  }
  return out;
}
