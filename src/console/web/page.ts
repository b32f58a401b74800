// What the router asks of a page: draw its frame once, then refresh its data (also on each live tick).
export interface Page {
  title: string;
  render(root: HTMLElement): void;
  refresh(): Promise<void>;
  /** Seconds between live refreshes (default 15). */
  liveS?: number;
}
