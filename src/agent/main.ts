// `vmpulse agent`: sample every VM on this host, serve the local API and /metrics, and — with
// VMPULSE_ENDPOINT — spool and ship every closed window to the server.
import type { Logger } from 'pino';
import { createLogger } from '../log.js';
import { drainOnSignal } from '../signals.js';
import { systemConstants } from '../readers/system.js';
import { filesystems } from '../collect/host.js';
import { readShipConfig, type ShipConfig } from '../ship/config.js';
import { openOutbox, agentVersion, type Outbox } from '../ship/outbox.js';
import { resolveAgentId } from '../ship/identity.js';
import { newBatchId } from '../ship/batch-id.js';
import { agentConfig, type AgentConfig } from './config.js';
import { loadAgentApiConfig, type AgentApiConfig } from './api-config.js';
import { startAgentApi, type AgentApi } from './api.js';
import { Agent, type AgentObserver, type CarriedReading } from './agent.js';
import { buildPayload } from './payload-builder.js';
import type { AgentMetrics } from './metrics.js';
import { encodePayload, peekMeta, type RecordMeta } from '../ship/codec.js';
import { readCheckpoint, removeCheckpoint, writeCheckpoint } from './checkpoint.js';
import type { ClosedWindow } from './windows.js';
import { commandOptions } from '../cli-options.js';

/** Windows held in memory while the spool refuses them (an hour of 60 s windows). */
const MAX_UNSPOOLED = 60;
/** Most records per VM in one batch (backfilled minutes after a long stop go out in several). */
const RECORDS_PER_BATCH = 60;

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

const HELP = `Usage: vmpulse agent [--check]

Runs the host agent: discovers every hypervisor process, samples it every
VMPULSE_SAMPLE_INTERVAL_MS, aggregates per VMPULSE_WINDOW_SECONDS window, serves the local API
and /metrics on VMPULSE_LISTEN, and with VMPULSE_ENDPOINT ships every window to the server
(spooled on disk in VMPULSE_SPOOL_DIR until the server has acknowledged it).

  --check   validate the configuration, reach the endpoint with the token, and exit
            (0 when everything is in order)

Every variable is listed in README.md.`;

export interface RunningAgent {
  readonly agent: Agent;
  readonly api: AgentApi;
  readonly outbox: Outbox | null;
  readonly agentId: string | null;
  stop(): Promise<{ remaining: number }>;
}

/** Starts the agent in this process; `vmpulse start` uses it too. */
export async function startAgent(opts: { log: Logger; config?: AgentConfig; api?: AgentApiConfig; ship?: ShipConfig }): Promise<RunningAgent> {
  const { log } = opts;
  const config = opts.config ?? agentConfig();
  const apiCfg = opts.api ?? loadAgentApiConfig();
  const ship = opts.ship ?? readShipConfig();
  const constants = systemConstants();
  let metrics: AgentMetrics | null = null;
  const observer: AgentObserver = {
    observeTick: (s) => metrics?.observeTick(s),
    observeDiscovery: (s) => metrics?.observeDiscovery(s),
    readError: (k) => metrics?.readError(k),
  };
  const agent = new Agent(config, constants, log.child({ component: 'sampler' }), observer);
  const outbox = ship.endpoints.length > 0 ? await openOutbox(ship, log.child({ component: 'ship' }), { version: agentVersion() }) : null;
  if (!outbox) log.info('VMPULSE_ENDPOINT is not set: sampling and serving the local API only, shipping nothing');
  const api = await startAgentApi(agent, { listen: apiCfg.listen, token: apiCfg.token ?? '', labelBudget: apiCfg.labelBudget, logger: log });
  metrics = api.metrics;
  let finalCheckpoint: (() => Promise<void>) | null = null;
  if (outbox) {
    metrics.setShipperStats(() => {
      const s = outbox.stats();
      return {
        spoolRecords: s.spool.records,
        spoolBytes: s.spool.bytes,
        batchesShipped: s.shipper.shipped,
        batchesFailed: s.shipper.failedAttempts,
        batchesDropped: s.spool.dropped,
        batchesDeadLettered: s.shipper.deadLettered,
        spoolCorruptRecords: s.spool.corrupt,
      };
    });
    const version = agentVersion();
    const spoolDir = ship.spoolDir;
    // The previous run's checkpoint: its batches go (back) into the spool unless it still holds
    // them, and its readings let each VM process that is still the same continue from them.
    const cp = await readCheckpoint(spoolDir, (msg, err) => log.warn({ err: String(err) }, msg));
    if (cp) {
      const pending = outbox.pendingBatchIds();
      for (const gz of cp.batches) {
        const meta = peekMeta(gz);
        if (!meta) {
          log.warn('checkpoint holds a batch that is not a gzipped payload; skipped');
          continue;
        }
        if (!pending.has(meta.batchId)) await outbox.enqueueEncoded({ gz, meta });
      }
      const oldest = Date.now() - ship.spoolMaxAgeSeconds * 1000;
      const fresh = cp.readings.filter((r) => r.sample.tMs >= oldest);
      agent.carryFrom(fresh);
      log.info({ readings: fresh.length, tooOld: cp.readings.length - fresh.length, batches: cp.batches.length, savedAt: new Date(cp.savedAtMs).toISOString() }, 'continuing from the readings kept at the last stop');
    }
    // Batches the spool refused (disk full, I/O error): kept in memory, bounded, and offered
    // again oldest first with the next window, so a passing disk problem loses nothing.
    const unspooled: { gz: Buffer; meta: RecordMeta }[] = [];
    // The readings are those of the report being spooled (a report is consumed while the agent
    // goes on sampling, so the agent's current readings may be ahead of every report made).
    const checkpoint = async (readings: readonly CarriedReading[]) => {
      try {
        await writeCheckpoint(spoolDir, { savedAtMs: Date.now(), readings, batches: unspooled.map((b) => b.gz) });
      } catch (err) {
        // A checkpoint older than the batches spooled next would count their deltas twice.
        log.error({ err }, 'could not write the readings checkpoint; the next start begins fresh');
        await removeCheckpoint(spoolDir).catch((e: unknown) => log.error({ err: e }, 'could not remove the stale readings checkpoint'));
      }
    };
    agent.onWindow(async (report) => {
      const disks = filesystems({ procRoot: config.procRoot }).map((f) => ({ Mount: f.Mount, Size: f.Size, Used: f.Used, Available: f.Available }));
      const parts: ClosedWindow[][] = chunks(report.windows, RECORDS_PER_BATCH);
      for (const [i, windows] of parts.entries()) {
        const payload = buildPayload({ windows, vms: report.vms }, {
          batchId: newBatchId(),
          agentId: outbox.agentId,
          agentVersion: version,
          facts: report.facts,
          disks,
          interfaces: i === parts.length - 1 ? report.interfaces : [],
          clockTicksPerSecond: constants.clockTicksPerSecond,
          windowSeconds: config.windowSeconds,
        });
        unspooled.push(await encodePayload(payload));
      }
      // Durable before the batches are appended: see src/agent/checkpoint.ts for the ordering.
      await checkpoint(report.readings);
      while (unspooled.length > 0) {
        try {
          await outbox.enqueueEncoded(unspooled[0]!);
          unspooled.shift();
        } catch (err) {
          if (unspooled.length > MAX_UNSPOOLED) {
            const lost = unspooled.shift()!;
            log.error({ err, batchId: lost.meta.batchId, minute: lost.meta.minute }, 'spool keeps failing: dropping the oldest unspooled batch');
          } else {
            log.error({ err, pending: unspooled.length }, 'could not spool the window; kept in memory, retried with the next window');
          }
          return;
        }
      }
    });
    // After `agent.stop()` every report has been consumed: the current readings are covered.
    finalCheckpoint = () => checkpoint(agent.readings());
  }
  await agent.start();
  log.info({ api: api.url, endpoint: ship.endpoints, windowSeconds: config.windowSeconds, intervalMs: config.intervalMs, workers: config.workers }, 'agent started');
  let stopping: Promise<{ remaining: number }> | null = null;
  return {
    agent,
    api,
    outbox,
    agentId: outbox?.agentId ?? null,
    stop() {
      stopping ??= (async () => {
        // Close the open window first so it is spooled, then give the shipper a bounded time.
        await agent.stop();
        const r = outbox ? await outbox.close({ flushMs: ship.flushMs }) : { remaining: 0 };
        // Every batch is in the spool now: the checkpoint keeps only the readings (and any batch
        // the spool refused), so the next start does not send delivered batches again.
        await finalCheckpoint?.();
        await api.close();
        return r;
      })();
      return stopping;
    },
  };
}

async function check(log: Logger): Promise<number> {
  let ok = true;
  const say = (good: boolean, what: string) => {
    process.stdout.write(`${good ? 'ok  ' : 'FAIL'} ${what}\n`);
    if (!good) ok = false;
  };
  let ship: ShipConfig | null = null;
  try {
    const c = agentConfig();
    say(true, `sampling every ${c.intervalMs} ms, windows of ${c.windowSeconds} s, ${c.workers} workers, proc root ${c.procRoot}`);
    const a = loadAgentApiConfig();
    say(true, `local API on ${a.listen.host}:${a.listen.port}${a.token ? ' (token required)' : ''}`);
    ship = readShipConfig();
    const k = systemConstants();
    say(true, `clock ticks ${k.clockTicksPerSecond}/s, page size ${k.pageSize} bytes`);
  } catch (err) {
    say(false, `configuration: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (ship.endpoints.length === 0) {
    say(true, 'no VMPULSE_ENDPOINT: the agent will not ship');
    return ok ? 0 : 1;
  }
  const { agentId, source } = resolveAgentId({ configured: ship.agentId, spoolDir: ship.spoolDir });
  say(true, `AgentID ${agentId} (from ${source}), spool ${ship.spoolDir}`);
  const { got } = await import('got');
  for (const endpoint of ship.endpoints) {
    try {
      const res = await got.get(`${endpoint}/v1/whoami`, {
        headers: ship.token ? { authorization: `Bearer ${ship.token}` } : {},
        timeout: { request: ship.timeoutMs },
        retry: { limit: 0 },
        throwHttpErrors: false,
        responseType: 'json',
      });
      const body = res.body as { role?: string; agent_id?: string | null; message?: string };
      if (res.statusCode === 200 && body.role === 'agent' && (!body.agent_id || body.agent_id === agentId)) say(true, `${endpoint}: reachable, token accepted (role agent${body.agent_id ? `, bound to ${body.agent_id}` : ', binds on first batch'})`);
      else if (res.statusCode === 200) say(false, `${endpoint}: token is for role ${body.role}${body.agent_id ? ` bound to ${body.agent_id}` : ''}, not an agent credential for ${agentId}`);
      else say(false, `${endpoint}: HTTP ${res.statusCode}${body?.message ? `: ${body.message}` : ''}`);
    } catch (err) {
      say(false, `${endpoint}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  log.flush?.();
  return ok ? 0 : 1;
}

export async function main(argv: string[]): Promise<number> {
  const args = commandOptions('agent', argv, { check: { type: 'boolean' } }, HELP);
  if (!args.ok) return args.exitCode;
  const log = createLogger('vmpulse-agent');
  if (args.values.check) return check(log);
  const running = await startAgent({ log });
  return drainOnSignal(log, 'stopping: closing the open window and flushing', async () => {
    const { remaining } = await running.stop();
    log.info({ remaining }, 'agent stopped');
    return 0;
  });
}
