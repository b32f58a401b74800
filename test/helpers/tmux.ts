// A program in a real terminal: tmux on a server of its own (its own socket, no user config),
// one pane of a fixed size whose screen the test reads with capture-pane and whose keys it types
// with send-keys. The pane's shell runs the program and writes its exit status to a file: the
// status comes from the shell that reaped it, not from tmux's own bookkeeping (tmux 3.3a here
// now and then marked a pane dead and left its exited process a zombie, unreaped and with no
// status, for more than 10 s).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alive } from './procs.js';

let counter = 0;

/** One argument for `sh -c`, single-quoted. */
export const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function childOf(pid: number): number | null {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(' ')[0];
    return first ? Number(first) : null;
  } catch {
    return null;
  }
}

export class TmuxPane {
  private constructor(
    private readonly socket: string,
    private readonly socketPath: string,
    private readonly dir: string,
    /** PID of the program in the pane (a child of the pane's shell). */
    readonly pid: number,
  ) {}

  /** Starts `argv` with `env` in a cols×rows pane. */
  static start(argv: readonly string[], env: Record<string, string>, size = { cols: 80, rows: 24 }): TmuxPane {
    const socket = `vpt-${process.pid}-${counter++}`;
    const dir = mkdtempSync(join(tmpdir(), 'vpt-tmux-'));
    const assignments = Object.entries(env).map(([k, v]) => `${k}=${shQuote(v)}`);
    const command = `env ${[...assignments, ...argv.map(shQuote)].join(' ')}; echo $? > ${shQuote(join(dir, 'status'))}`;
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    tmux('start-server', ';', 'set-option', '-g', 'remain-on-exit', 'on', ';', 'new-session', '-d', '-s', 'main', '-x', String(size.cols), '-y', String(size.rows), command);
    const [shellPid, socketPath] = tmux('display-message', '-p', '-t', 'main', '#{pane_pid}|#{socket_path}').trim().split('|');
    const deadline = Date.now() + 5000;
    let pid = childOf(Number(shellPid));
    while (pid === null && Date.now() < deadline) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      pid = childOf(Number(shellPid));
    }
    const pane = new TmuxPane(socket, socketPath!, dir, pid ?? -1);
    if (pid === null) {
      pane.stop();
      throw new Error(`no program started in the tmux pane: ${command}`);
    }
    return pane;
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

  /** Null while the program runs; its exit status (128 + N for signal N) once the shell reaped it. */
  exitStatus(): number | null {
    const f = join(this.dir, 'status');
    if (!existsSync(f)) return null;
    const text = readFileSync(f, 'latin1');
    return text.endsWith('\n') ? Number(text.trim()) : null;
  }

  /** Ends the program (by its PID) if still running and the tmux server; removes the files. Idempotent. */
  stop(): void {
    if (this.pid > 0 && alive(this.pid)) {
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
    // The server leaves its socket file behind.
    rmSync(this.socketPath, { force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
