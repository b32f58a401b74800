// The terminal `vmpulse top` draws on. A capable terminal gets the alternate screen, a hidden
// cursor and raw keys, all undone by restore() (which is safe to call more than once and from an
// exit handler). A dumb terminal (TERM=dumb or unset) or a pipe gets no escape sequence at all:
// each frame is printed after the last one, as `top -b` does.
import type { ScreenSize } from './render.js';

const ESC = '\u001b[';

export class Terminal {
  /** Escape sequences are understood. */
  readonly fancy: boolean;
  private started = false;
  private raw = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly input: NodeJS.ReadStream,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const term = env.TERM ?? '';
    this.fancy = out.isTTY === true && term !== '' && term !== 'dumb';
  }

  size(): ScreenSize {
    const envCols = Number(process.env.COLUMNS);
    const cols = this.out.isTTY && this.out.columns ? this.out.columns : Number.isInteger(envCols) && envCols > 0 ? envCols : 80;
    if (!this.out.isTTY) return { cols, rows: null };
    // A dumb terminal scrolls: a frame one line shorter than the screen, then the cursor's line,
    // fills it exactly, so each frame pushes the last one out whole.
    return { cols, rows: (this.out.rows || 24) - (this.fancy ? 0 : 1) };
  }

  /** Raw keys (Ctrl-C arrives as a key) and, when fancy, the alternate screen. */
  start(onKeys: (chunk: string) => void): void {
    this.started = true;
    if (this.input.isTTY) {
      this.input.setRawMode(true);
      this.raw = true;
    }
    this.input.setEncoding('utf8');
    this.input.on('data', onKeys);
    this.input.resume();
    if (this.fancy) this.out.write(`${ESC}?1049h${ESC}?25l${ESC}H${ESC}2J`);
  }

  draw(lines: readonly string[]): void {
    if (!this.fancy) {
      // To a pipe (no height) a blank line between frames, as `top -b` writes them.
      this.out.write(lines.join('\n') + (this.out.isTTY ? '\n' : '\n\n'));
      return;
    }
    const { cols, rows } = this.size();
    // Erase to the end of a line only when it is shorter than the screen: on a full line the
    // cursor waits in the last column and the erase would take that column's character.
    const body = lines.map((l) => (l.length < cols ? `${l}${ESC}K` : l)).join('\r\n');
    // Same for the rest of the screen: only when the frame leaves lines below it.
    this.out.write(`${ESC}H${body}${rows !== null && lines.length < rows ? `${ESC}J` : ''}`);
  }

  onResize(fn: () => void): void {
    this.out.on('resize', fn);
  }

  restore(): void {
    if (!this.started) return;
    this.started = false;
    if (this.fancy) this.out.write(`${ESC}?25h${ESC}?1049l`);
    if (this.raw) {
      this.raw = false;
      try {
        this.input.setRawMode(false);
      } catch {
        // the terminal is gone (SSH dropped): nothing to restore
      }
    }
    this.input.pause();
    this.input.removeAllListeners('data');
  }
}
