// Configuration at start: every interval, window, size and count is checked, and a refused value
// stops the real command with exit code 2 and a message naming the variable.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distRoot } from '../src/paths.js';
import { acceptedWindow, agentConfig } from '../src/agent/config.js';
import { isPostgresUrl } from '../src/config/db-url.js';
import { isPostgresUrl as storeIsPostgresUrl } from '../src/server/store/store.js';

const t = suite('configuration');

interface Run {
  code: number | null;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(distRoot, 'src', 'cli.js'), ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VMPULSE_LOG_LEVEL: 'silent', VMPULSE_SERVER_LOG_LEVEL: 'silent', VMPULSE_LISTEN: '127.0.0.1:0', VMPULSE_SERVER_LISTEN: '127.0.0.1:0', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // A value that is wrongly accepted starts a long-running command: stop it, the test then fails on the code.
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Runs `fn` over `items` four at a time (each is a node start), keeping the order. */
async function inBatches<T, R>(items: readonly T[], fn: (x: T) => Promise<R>): Promise<[T, R][]> {
  const out: [T, R][] = [];
  for (let i = 0; i < items.length; i += 4) {
    const part = items.slice(i, i + 4);
    const rs = await Promise.all(part.map(fn));
    part.forEach((x, j) => out.push([x, rs[j]!]));
  }
  return out;
}

const AGENT_REFUSED: [string, string][] = [
  ['VMPULSE_WINDOW_SECONDS', '0'],
  ['VMPULSE_WINDOW_SECONDS', '-60'],
  ['VMPULSE_WINDOW_SECONDS', '7'],
  ['VMPULSE_WINDOW_SECONDS', '90'],
  ['VMPULSE_WINDOW_SECONDS', '7200'],
  ['VMPULSE_WINDOW_SECONDS', '1.5'],
  ['VMPULSE_SAMPLE_INTERVAL_MS', '0'],
  ['VMPULSE_SAMPLE_INTERVAL_MS', '7000'],
  ['VMPULSE_SAMPLE_INTERVAL_MS', 'fast'],
  ['VMPULSE_DISCOVERY_INTERVAL_MS', '0'],
  ['VMPULSE_WORKERS', '0'],
  ['VMPULSE_WORKERS', '100000'],
  ['VMPULSE_HYPERVISOR_API_TIMEOUT_MS', '0'],
  ['VMPULSE_METRICS_VM_LIMIT', '-1'],
  ['VMPULSE_LISTEN', 'nowhere'],
  ['VMPULSE_SPOOL_MAX_BYTES', '0'],
  ['VMPULSE_SPOOL_MAX_AGE_SECONDS', '0'],
  ['VMPULSE_SPOOL_SEGMENT_BYTES', '10'],
  ['VMPULSE_SPOOL_SEGMENT_RECORDS', '0'],
  ['VMPULSE_SHIP_TIMEOUT_MS', '0'],
  ['VMPULSE_SHIP_CONCURRENCY', '0'],
  ['VMPULSE_SHIP_CONCURRENCY', '1000'],
  ['VMPULSE_SHIP_BACKOFF_INITIAL_MS', '0'],
  ['VMPULSE_SHIP_BACKOFF_MAX_MS', '-5'],
  ['VMPULSE_SHIP_FAILBACK_MS', '0'],
  ['VMPULSE_SHIP_FLUSH_MS', '0'],
];

const SERVER_REFUSED: [string, string][] = [
  ['VMPULSE_RETENTION_INTERVAL_S', '0'],
  ['VMPULSE_RETENTION_DAYS', '0'],
  ['VMPULSE_RETENTION_DAYS', '100000'],
  ['VMPULSE_RETENTION_1H_DAYS', '15'], // not more than the minutes' 15 days
  ['VMPULSE_RETENTION_1D_DAYS', '100'], // fewer than the hours' 455 days
  ['VMPULSE_SERVER_MAX_BODY_BYTES', '0'],
  ['VMPULSE_PG_POOL_MAX', '0'],
  ['VMPULSE_SERVER_LISTEN', 'x:99999'],
  ['VMPULSE_ALARM_EVAL_INTERVAL_MS', '0'],
  ['VMPULSE_ALARM_EVAL_LAG_SECONDS', '-1'],
  ['VMPULSE_ALARM_GONE_GRACE_SECONDS', '-1'],
  ['VMPULSE_ALARM_DELIVERY_INTERVAL_MS', '0'],
  ['VMPULSE_ALARM_RETRY_BASE_MS', '0'],
  ['VMPULSE_ALARM_RETRY_MAX_MS', '5'],
  ['VMPULSE_ALARM_DELIVERY_MAX_AGE_S', '0'],
  ['VMPULSE_ALARM_HTTP_TIMEOUT_MS', '0'],
  ['VMPULSE_ALERTMANAGER_RESEND_SECONDS', '0'],
];

t('vmpulse agent: each refused value exits 2 naming the variable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-cfg-'));
  try {
    const runs = await inBatches(AGENT_REFUSED, ([name, value]) => cli(['agent'], { [name]: value, VMPULSE_SPOOL_DIR: join(dir, 'spool'), VMPULSE_ENDPOINT: 'http://127.0.0.1:9' }, dir));
    for (const [[name, value], r] of runs) {
      assert.is(r.code, 2, `${name}=${value}: exit code (stderr: ${r.stderr.trim()})`);
      assert.ok(r.stderr.includes(name), `${name}=${value}: the message names the variable: ${r.stderr.trim()}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('vmpulse server: each refused value exits 2 naming the variable, before the store is opened', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpt-cfg-'));
  try {
    const runs = await inBatches(SERVER_REFUSED, ([name, value]) => cli(['server'], { [name]: value, VMPULSE_DB: join(dir, 'db', 'vmpulse.db') }, dir));
    for (const [[name, value], r] of runs) {
      assert.is(r.code, 2, `${name}=${value}: exit code (stderr: ${r.stderr.trim()})`);
      assert.ok(r.stderr.includes(name), `${name}=${value}: the message names the variable: ${r.stderr.trim()}`);
      assert.not.ok(existsSync(join(dir, 'db')), `${name}=${value}: nothing created`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('window lengths: divisors of 60 and whole minutes up to an hour; the interval divides the window', () => {
  const accepted = Array.from({ length: 3600 }, (_, i) => i + 1).filter(acceptedWindow);
  assert.equal(accepted.slice(0, 12), [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60]);
  assert.is(accepted.length, 12 + 59);
  assert.is(accepted.at(-1), 3600);
  assert.is(agentConfig({ VMPULSE_WINDOW_SECONDS: '300' }).windowSeconds, 300);
  assert.is(agentConfig({ VMPULSE_WINDOW_SECONDS: '10', VMPULSE_SAMPLE_INTERVAL_MS: '1000' }).intervalMs, 1000);
  assert.throws(() => agentConfig({ VMPULSE_WINDOW_SECONDS: '120', VMPULSE_SAMPLE_INTERVAL_MS: '40000' }), /VMPULSE_SAMPLE_INTERVAL_MS/);
});

t('one PostgreSQL URL check: any case of the scheme; `vmpulse start` does not take POSTGRES:// for a file', async () => {
  assert.is(storeIsPostgresUrl, isPostgresUrl);
  for (const u of ['postgres://h/db', 'POSTGRES://h/db', 'PostgreSQL://h/db', ' postgresql://h/db']) assert.ok(isPostgresUrl(u), u);
  for (const u of ['./data/postgres.db', 'postgres.db', '/var/lib/postgres://x', 'sqlite://x']) assert.not.ok(isPostgresUrl(u), u);
  const dir = mkdtempSync(join(tmpdir(), 'vpt-cfg-'));
  try {
    // Port 9 refuses: as a URL this fails to connect; as a file path it would create ./POSTGRES:/...
    const r = await cli(['start'], { VMPULSE_DB: 'POSTGRES://postgres@127.0.0.1:9/nope', VMPULSE_SERVER_KEY_FILE: join(dir, 'server.key') }, dir);
    assert.is.not(r.code, 0, 'no database there');
    assert.ok(/ECONNREFUSED|connect/i.test(r.stderr), `a connection error: ${r.stderr.trim()}`);
    assert.equal(readdirSync(dir).filter((f) => f.toUpperCase().startsWith('POSTGRES')), [], 'no SQLite file or directory named after the URL');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('one redaction list: credentials, cookies and secrets never reach a log line, agent or server', () => {
  const script = `
    const { createLogger, REDACT } = await import(${JSON.stringify(join(distRoot, 'src', 'log.js'))});
    const { pino } = await import('pino');
    const rec = { req: { headers: { authorization: 'Bearer A1', cookie: 'C1', 'x-amz-security-token': 'X1' } }, res: { headers: { 'set-cookie': 'S1' } }, token: 'T1', cred: { secret: 'Z1', token: 'T2' } };
    createLogger('t').info(rec, 'made by createLogger');
    pino({ level: 'info' }).child({}, { redact: REDACT }).info(rec, 'a child given REDACT');
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: join(distRoot, '..'), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VMPULSE_LOG_FORMAT: 'json' }, encoding: 'utf8' });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(lines.length, 2);
  for (const secret of ['A1', 'C1', 'X1', 'S1', 'T1', 'Z1', 'T2']) assert.not.ok(out.includes(secret), `${secret} is not logged`);
  for (const l of lines) {
    assert.is(l.req.headers.authorization, '[redacted]');
    assert.is(l.req.headers.cookie, '[redacted]');
    assert.is(l.cred.secret, '[redacted]');
  }
});

t.run();
