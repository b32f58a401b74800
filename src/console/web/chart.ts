// One time-series chart: uPlot draws it; the same datapoints are in the element's data-points
// attribute and in a visually hidden table, so screen readers and tests read exactly what is drawn.
import uPlot from 'uplot';
import { el, fmtBytes, fmtTime } from './dom.js';

export interface Series {
  label: string;
  /** Values aligned with the chart's timestamps; null where there is no datapoint. */
  values: (number | null)[];
}

export interface ChartSpec {
  metric: string;
  title: string;
  unit: string;
  timestamps: number[];
  series: Series[];
  /** The time range drawn, unix seconds (default: the datapoints' own span). */
  xRange?: [number, number];
  /** Extra data-* attributes (range, period, statistic). */
  data?: Record<string, string | number>;
}

function formatter(unit: string): (v: number | null) => string {
  if (unit === 'Bytes') return (v) => (v === null ? '–' : fmtBytes(v));
  if (unit === 'Bytes/s') return (v) => (v === null ? '–' : `${fmtBytes(v)}/s`);
  if (unit === 'Percent') return (v) => (v === null ? '–' : `${v.toFixed(2)} %`);
  return (v) => (v === null ? '–' : String(Math.round(v * 1000) / 1000));
}

const colors = (): string[] => {
  const cs = getComputedStyle(document.documentElement);
  return [cs.getPropertyValue('--s1').trim() || '#0a66c2', cs.getPropertyValue('--s2').trim() || '#c2410c'];
};

export function chart(spec: ChartSpec): HTMLElement {
  const fmt = formatter(spec.unit);
  const id = `chart-${spec.metric}`;
  const section = el('section', { class: 'chart', 'data-metric': spec.metric, 'aria-labelledby': `${id}-title` });
  // [timestamp, value] pairs of the first series: what the chart holds, for tests and tools.
  section.dataset.points = JSON.stringify(spec.timestamps.map((t, i) => [t, spec.series[0]?.values[i] ?? null]).filter((p) => p[1] !== null));
  for (const [k, v] of Object.entries(spec.data ?? {})) section.dataset[k] = String(v);
  section.append(el('h3', { id: `${id}-title` }, `${spec.title} (${spec.unit})`));
  const plot = el('div', { class: 'plot', role: 'img', 'aria-label': `${spec.title}: ${spec.timestamps.length} datapoints; the table below lists them` });
  section.append(plot);
  if (spec.timestamps.length === 0) plot.append(el('p', { class: 'muted' }, 'No datapoints in this range.'));
  const table = el(
    'table',
    { class: 'sr-only' },
    el('caption', {}, `${spec.title} datapoints`),
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Time'), ...spec.series.map((s) => el('th', { scope: 'col' }, s.label)))),
    el('tbody', {}, ...spec.timestamps.map((t, i) => el('tr', {}, el('td', {}, fmtTime(t)), ...spec.series.map((s) => el('td', {}, fmt(s.values[i] ?? null)))))),
  );
  section.append(table);
  if (spec.timestamps.length === 0) return section;

  const c = colors();
  const make = (width: number) =>
    new uPlot(
      {
        width,
        height: 180,
        series: [{}, ...spec.series.map((s, i) => ({ label: s.label, stroke: c[i % c.length], width: 1.5, spanGaps: false, points: { size: 6 }, value: (_u: uPlot, v: number | null) => fmt(v) }))],
        axes: [
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.2)' }, ticks: { stroke: 'rgba(128,128,128,.3)' } },
          { stroke: 'currentColor', grid: { stroke: 'rgba(128,128,128,.2)' }, ticks: { stroke: 'rgba(128,128,128,.3)' }, size: 70, values: (_u: uPlot, vals: number[]) => vals.map((v) => fmt(v)) },
        ],
        scales: {
          x: { time: true, ...(spec.xRange ? { range: (): uPlot.Range.MinMax => spec.xRange! } : {}) },
          // Zero-based, so a flat line at 50 % does not look like a full-scale swing.
          y: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, max > 0 ? max * 1.1 : 1] },
        },
        legend: { live: true },
      },
      [spec.timestamps, ...spec.series.map((s) => s.values)] as uPlot.AlignedData,
      plot,
    );
  // uPlot needs a width in pixels: draw once the section is in the page, and follow its size.
  let u: uPlot | null = null;
  const ro = new ResizeObserver(() => {
    const w = Math.max(200, Math.floor(plot.clientWidth));
    if (!plot.isConnected) {
      ro.disconnect();
      u?.destroy();
      return;
    }
    if (!u) u = make(w);
    else if (Math.abs(u.width - w) > 2) u.setSize({ width: w, height: 180 });
  });
  ro.observe(plot);
  return section;
}
