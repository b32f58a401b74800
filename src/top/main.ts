// `vmpulse top`: a live view of this host's VMs, one row per VM, in the spirit of virt-top and
// htop. Figures come from the local agent's API when one answers at VMPULSE_LISTEN, otherwise
// from this process's own reads of /proc and /sys.
import { commandOptions } from '../cli-options.js';
import { loadAgentApiConfig } from '../agent/api-config.js';
import { rootsFromEnv } from '../readers/roots.js';
import { AgentSource, agentAnswers, agentUrl } from './agent-source.js';
import { DirectSource } from './direct-source.js';
import { keyActions } from './keys.js';
import { filterVms, SORT_KEYS, topRows, type SortKey, type SortOrder, type TopHost, type TopRow } from './model.js';
import { KEY_LINE, renderFrame, type TopFrame } from './render.js';
import type { TopSource } from './source.js';
import { Terminal } from './terminal.js';

const HELP = `Usage: vmpulse top [--interval SECONDS] [--sort KEY] [--filter TEXT]
                   [--direct] [--once]

A live view of this host's VMs, one row per VM: PID, hypervisor (HV: clh is
Cloud Hypervisor, fc Firecracker), vCPUs (VC), CPU % of one core, memory RSS
and RSS as % of the VM's memory, network received and sent by the VM (RX/s,
TX/s), disk read and written by the hypervisor process (RD/s, WR/s), steal
(ST%: runqueue wait of the vCPU threads), under a header with the host's
facts. Sizes in binary units (K = 1024).

Reads the local agent's API at VMPULSE_LISTEN (default 127.0.0.1:9464; with
VMPULSE_API_TOKEN as the Bearer token when set). When no agent answers there,
it samples the VMs itself (run it as root).

Options:
  -i, --interval SECONDS  refresh every SECONDS (default 2, at least 0.2)
  -s, --sort KEY          cpu (default), mem, net, disk, pid or name
  -f, --filter TEXT       only VMs whose name or id contains TEXT (any case)
      --direct            sample directly even when an agent answers
      --once              print one frame (rates over one interval), exit
  -h, --help              this text

${KEY_LINE}
  (c m n d: largest first; p a: smallest first; r reverses; Ctrl-C quits too)
On a dumb terminal (TERM=dumb) or a pipe, frames follow one another.`;

interface Options {
  intervalS: number;
  sort: SortKey;
  filter: string | null;
  direct: boolean;
  once: boolean;
}

/** The options of `vmpulse top`, checked; a string is the usage error. */
function options(v: Readonly<Record<string, string | boolean | undefined>>): Options | { error: string } {
  const str = (x: string | boolean | undefined) => (typeof x === 'string' ? x : undefined);
  const interval = str(v.interval);
  const sortArg = str(v.sort);
  const intervalS = interval === undefined ? 2 : Number(interval);
  if (!Number.isFinite(intervalS) || intervalS < 0.2 || intervalS > 3600) return { error: `--interval wants seconds from 0.2 to 3600, got ${JSON.stringify(interval)}` };
  const sort = (sortArg ?? 'cpu') as SortKey;
  if (!SORT_KEYS.includes(sort)) return { error: `--sort wants one of ${SORT_KEYS.join(', ')}, got ${JSON.stringify(sortArg)}` };
  return { intervalS, sort, filter: str(v.filter) || null, direct: v.direct === true, once: v.once === true };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function openSource(o: Options): Promise<TopSource> {
  const roots = rootsFromEnv();
  const direct = (label?: string) => new DirectSource(roots, { apiTimeoutMs: 500, filter: o.filter, ...(label ? { label } : {}) });
  if (o.direct) return direct();
  const api = loadAgentApiConfig();
  const url = agentUrl(api.listen);
  if (await agentAnswers(url, 1000)) return new AgentSource(url, api.token);
  return direct(`direct (no agent at ${url})`);
}

const NO_HOST: TopHost = { hostname: '-', cpus: null, ramBytes: null, uptimeSeconds: null, load: null, cpuPct: null, memPct: null };

/** --once: one frame whose rates cover one interval (with an agent: between two of its ticks). */
async function once(o: Options, source: TopSource, out: Terminal): Promise<number> {
  let data = await source.poll();
  if (source instanceof AgentSource) {
    // The agent's counters move once per agent tick: wait for two ticks, at most a minute
    // (the longest sample interval a 60 s window allows) and a little.
    const deadline = Date.now() + 65_000;
    while (!source.hasRates() && Date.now() < deadline) {
      await sleep(Math.min(250, o.intervalS * 1000));
      data = await source.poll();
    }
  } else {
    await sleep(o.intervalS * 1000);
    data = await source.poll();
  }
  const frame: TopFrame = {
    host: data.host,
    rows: topRows(data.previous, filterVms(data.current, o.filter)),
    sort: { key: o.sort, reverse: false },
    source: source.label,
    intervalSeconds: o.intervalS,
    filter: o.filter,
    notice: data.notice,
    omitted: data.omitted,
  };
  const size = out.size();
  await new Promise<void>((resolve) => {
    // A closed pipe (`vmpulse top --once | head -3`) is not an error of ours.
    process.stdout.once('error', () => resolve());
    process.stdout.write(renderFrame(frame, { cols: size.cols, rows: null }).join('\n') + '\n', () => resolve());
  });
  return 0;
}

async function live(o: Options, source: TopSource, term: Terminal): Promise<number> {
  let sort: SortOrder = { key: o.sort, reverse: false };
  let host = NO_HOST;
  let rows: TopRow[] = [];
  let notice: string | null = null;
  let omitted = 0;
  let quit: (code: number) => void = () => {};
  const quitting = new Promise<number>((resolve) => (quit = resolve));
  let done = false;

  const draw = () => {
    if (done) return;
    term.draw(renderFrame({ host, rows, sort, source: source.label, intervalSeconds: o.intervalS, filter: o.filter, notice, omitted }, term.size()));
  };
  const onKeys = (chunk: string) => {
    for (const a of keyActions(chunk)) {
      if (a.kind === 'quit') quit(0);
      else if (a.kind === 'reverse') sort = { ...sort, reverse: !sort.reverse };
      else sort = { key: a.key, reverse: false };
    }
    draw();
  };
  const signals: [NodeJS.Signals, number][] = [['SIGINT', 0], ['SIGTERM', 143], ['SIGHUP', 129]];
  const handlers = signals.map(([sig, code]) => [sig, () => quit(code)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);
  // Whatever ends the process, the terminal is given back as it was.
  const restoreOnExit = () => term.restore();
  process.on('exit', restoreOnExit);
  term.start(onKeys);
  term.onResize(draw);
  // A reader that went away (`vmpulse top | head`) ends the view quietly.
  const onOutputError = () => quit(0);
  process.stdout.on('error', onOutputError);
  let pollPending = false;
  try {
    for (;;) {
      // A key must not wait for a refresh in flight (a discovery scan of a busy host, an agent
      // that is slow to answer): the poll races the quit.
      pollPending = true;
      const polled = await Promise.race([
        source.poll().then(
          (data) => ({ data }),
          (error: unknown) => ({ error }),
        ),
        quitting.then((code) => ({ code })),
      ]);
      if ('code' in polled) return polled.code;
      pollPending = false;
      if ('data' in polled) {
        const data = polled.data;
        host = data.host;
        rows = topRows(data.previous, filterVms(data.current, o.filter));
        notice = data.notice;
        omitted = data.omitted;
      } else {
        // The agent restarting or a read failing must not end the view: said, and tried again.
        notice = `${message(polled.error)} (retrying every ${o.intervalS}s)`;
      }
      draw();
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([quitting, new Promise<null>((r) => (timer = setTimeout(() => r(null), o.intervalS * 1000)))]);
      clearTimeout(timer);
      if (code !== null) return code;
    }
  } finally {
    done = true;
    term.restore();
    process.off('exit', restoreOnExit);
    process.stdout.off('error', onOutputError);
    for (const [sig, h] of handlers) process.off(sig, h);
    // The abandoned refresh would keep the process alive until it ends: the view is closed and
    // the terminal given back, so the process ends now.
    if (pollPending) process.exit(await quitting);
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = commandOptions(
    'top',
    argv,
    {
      interval: { type: 'string', short: 'i' },
      sort: { type: 'string', short: 's' },
      filter: { type: 'string', short: 'f' },
      direct: { type: 'boolean' },
      once: { type: 'boolean' },
    },
    HELP,
  );
  if (!args.ok) return args.exitCode;
  const o = options(args.values);
  if ('error' in o) {
    process.stderr.write(`vmpulse top: ${o.error}\n\n${HELP}\n`);
    return 2;
  }
  const term = new Terminal(process.stdout, process.stdin);
  let source: TopSource;
  try {
    source = await openSource(o);
  } catch (e) {
    process.stderr.write(`vmpulse top: ${message(e)}\n`);
    return 1;
  }
  try {
    if (o.once) return await once(o, source, term);
    // The first poll says at once whether the agent accepts us: a refused token is an error,
    // not a view that retries for ever.
    if (source instanceof AgentSource) await source.poll();
    return await live(o, source, term);
  } catch (e) {
    process.stderr.write(`vmpulse top: ${message(e)}\n`);
    return 1;
  } finally {
    source.close();
  }
}
