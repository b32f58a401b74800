// A program in a real terminal: tmux on a server of its own (its own socket, no user config),
// one pane of a fixed size whose screen the test reads with capture-pane and whose keys it types
// with send-keys. The pane stays after its program exits (remain-on-exit), so that the test can
// read the exit status from tmux.
import { execFileSync } from 'node:child_process';
import { alive } from './procs.js';

let counter = 0;

/** One argument for `sh -c`, single-quoted. */
export const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export class TmuxPane {
  private constructor(
    private readonly socket: string,
    /** PID of the program in the pane (exec'd by the pane's shell). */
    readonly pid: number,
  ) {}

  /** Starts `argv` with `env` in a cols×rows pane. */
  static start(argv: readonly string[], env: Record<string, string>, size = { cols: 80, rows: 24 }): TmuxPane {
    const socket = `vpt-${process.pid}-${counter++}`;
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${shQuote(v)}`);
    const command = ['exec', 'env', ...assignments, ...argv.map(shQuote)].join(' ');
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', 'main', '-x', String(size.cols), '-y', String(size.rows), command);
    const pid = Number(tmux('display-message', '-p', '-t', 'main', '#{pane_pid}').trim());
    return new TmuxPane(socket, pid);
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** The pane's screen (with `history`, that many lines scrolled off above it too), one string per line, trailing blanks trimmed. */
  screen(history = 0): string[] {
    return this.tmux('capture-pane', '-p', '-t', 'main', ...(history > 0 ? ['-S', String(-history)] : []))
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => l.trimEnd());
  }

  /** Keys as tmux names them (`q`, `C-c`, `Enter`). */
  sendKeys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...keys);
  }

  /** Null while the program runs; once it has exited, its exit status, or `signal N` when a signal ended it. */
  exitStatus(): number | string | null {
    const [dead, status, signal] = this.tmux('display-message', '-p', '-t', 'main', '#{pane_dead}|#{pane_dead_status}|#{pane_dead_signal}').trim().split('|');
    // tmux marks the pane dead when its pty closes, which may come before it has reaped the
    // program: until then neither the status nor the signal is known.
    if (dead !== '1' || (!status && !signal)) return null;
    return status ? Number(status) : `signal ${signal}`;
  }

  /** Ends the tmux server; the program, if still running, by its PID first. Idempotent. */
  stop(): void {
    if (alive(this.pid)) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }
}
