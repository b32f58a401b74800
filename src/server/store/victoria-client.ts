// A small HTTP client of VictoriaMetrics: JSON-lines import and export. The write base is a single
// node's URL or a cluster vminsert's `.../insert/<tenant>/prometheus`; the read base a single node's
// URL or a vmselect's `.../select/<tenant>/prometheus`.
import got, { type Got } from 'got';
import type { ExportedSeries } from './victoria-series.js';

/**
 * The metrics engine could not be reached or refused a write or read with a server-side error.
 * Ingest answers it with 503 and Retry-After (the agent keeps the batch and sends it again).
 */
export class TsdbUnavailableError extends Error {
  readonly retryAfterSeconds = 5;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TsdbUnavailableError';
  }
}

export interface VictoriaUrls {
  write: string;
  read: string;
}

/** A label matcher value, quoted for a series selector (backslash and double quote escaped). */
export function quoteLabel(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export class VictoriaClient {
  private readonly http: Got;

  constructor(readonly urls: VictoriaUrls) {
    this.http = got.extend({ retry: { limit: 0 }, timeout: { request: 60_000 }, throwHttpErrors: false });
  }

  private base(kind: 'write' | 'read'): string {
    return this.urls[kind].replace(/\/+$/, '');
  }

  private async call(what: string, fn: () => Promise<{ statusCode: number; body: string }>): Promise<string> {
    let res: { statusCode: number; body: string };
    try {
      res = await fn();
    } catch (e) {
      throw new TsdbUnavailableError(`VictoriaMetrics ${what}: ${(e as Error).message}`, { cause: e });
    }
    if (res.statusCode >= 500 || res.statusCode === 429) throw new TsdbUnavailableError(`VictoriaMetrics ${what}: HTTP ${res.statusCode} ${res.body.slice(0, 200)}`);
    if (res.statusCode >= 300) throw new Error(`VictoriaMetrics ${what}: HTTP ${res.statusCode} ${res.body.slice(0, 300)}`);
    return res.body;
  }

  /** Imports JSON lines (one series with its samples per line). */
  async importLines(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.call('import', () => this.http.post(`${this.base('write')}/api/v1/import`, { body: lines.join('\n') + '\n' }));
  }

  /** Raw samples of the series a selector matches in [startMs, endMs], deduplicated by the engine. */
  async exportSeries(selector: string, startMs: number, endMs: number): Promise<ExportedSeries[]> {
    const form = new URLSearchParams({ 'match[]': selector, start: (startMs / 1000).toFixed(3), end: (endMs / 1000).toFixed(3) });
    const body = await this.call('export', () => this.http.post(`${this.base('read')}/api/v1/export`, { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
    const out: ExportedSeries[] = [];
    for (const line of body.split('\n')) if (line.trim() !== '') out.push(JSON.parse(line) as ExportedSeries);
    return out;
  }

  /** Label sets of the series a selector matches (GET /api/v1/series). */
  async series(selector: string, startS: number, endS: number): Promise<Record<string, string>[]> {
    const form = new URLSearchParams({ 'match[]': selector, start: String(startS), end: String(endS) });
    const body = await this.call('series', () => this.http.post(`${this.base('read')}/api/v1/series`, { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
    return (JSON.parse(body) as { data: Record<string, string>[] }).data;
  }

  /** Single node only: converts the rows buffered so far into searchable parts (see VictoriaStore.flush). */
  async forceFlush(): Promise<void> {
    await this.call('force_flush', () => this.http.get(`${this.base('read')}/internal/force_flush`));
  }

  /** Every sample the engine holds, counted through the export API (tests and benches: it reads them all). */
  async sampleCount(): Promise<number> {
    let n = 0;
    for (const s of await this.exportSeries('{__name__=~".+"}', 0, Date.now() + 86_400_000)) n += s.values.length;
    return n;
  }
}
