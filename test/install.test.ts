// What a new user and an operator do: a fresh clone, `npm install`, `npm start`, and the systemd
// units passing `systemd-analyze verify`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { repoRoot } from '../src/paths.js';
import { needs } from './helpers/needs.js';
import { freePort } from './helpers/api-check.js';
import { startQemu, type Qemu } from './helpers/qemu.js';
import { waitFor } from './helpers/procs.js';

const s = suite('install');

s('the systemd units pass systemd-analyze verify (and a broken unit does not)', async () => {
  if (!(await needs('systemd units', 'systemd-analyze'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-units-'));
  try {
    for (const unit of ['vmpulse-agent.service', 'vmpulse-server.service']) {
      copyFileSync(join(repoRoot, 'config', unit), join(dir, unit));
      const r = spawnSync('systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8', timeout: 60_000 });
      assert.is(r.status, 0, `${unit}: ${r.stdout}${r.stderr}`);
      assert.is(r.stderr.trim(), '', `${unit} warnings: ${r.stderr}`);
    }
    // The check really checks: a relative ExecStart is refused.
    const broken = readFileSync(join(repoRoot, 'config', 'vmpulse-agent.service'), 'utf8').replace(/^ExecStart=.*$/m, 'ExecStart=vmpulse agent');
    writeFileSync(join(dir, 'vmpulse-broken.service'), broken);
    const b = spawnSync('systemd-analyze', ['verify', join(dir, 'vmpulse-broken.service')], { encoding: 'utf8', timeout: 60_000 });
    assert.ok(b.status !== 0 || b.stderr.includes('ExecStart'), `a broken unit passed: ${b.stderr}`);
    const agent = readFileSync(join(repoRoot, 'config', 'vmpulse-agent.service'), 'utf8');
    assert.match(agent, /^User=root$/m);
    assert.match(agent, /^Restart=always$/m);
    assert.match(agent, /^EnvironmentFile=\/etc\/vmpulse\/agent\.env$/m);
    assert.match(agent, /^Environment=VMPULSE_SPOOL_DIR=\/var\/lib\/vmpulse\/spool$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

s('fresh clone: npm install, npm start; the server lists this host and a QEMU VM; SIGINT ends both with 0', async () => {
  if (!(await needs('fresh clone and npm start', 'root', 'qemu'))) return;
  if (spawnSync('git', ['-C', repoRoot, 'rev-parse', 'HEAD']).status !== 0) {
    throw new Error('the checkout is not a git repository with a commit; cannot make a fresh clone');
  }
  const dir = mkdtempSync(join(tmpdir(), 'vpt-clone-'));
  const clone = join(dir, 'vmpulse');
  let q: Qemu | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  try {
    execFileSync('git', ['clone', '--quiet', repoRoot, clone], { stdio: 'pipe', timeout: 60_000 });
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: clone, encoding: 'utf8', timeout: 900_000 });
    assert.is(install.status, 0, `npm install failed:\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-3000)}`);

    const uuid = randomUUID();
    q = await startQemu({ name: `vpt-start-${process.pid}`, uuid, smp: 1, memMiB: 64 });
    const serverPort = await freePort();
    const agentPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      VMPULSE_WINDOW_SECONDS: '2',
      VMPULSE_SAMPLE_INTERVAL_MS: '500',
      VMPULSE_SERVER_LISTEN: `127.0.0.1:${serverPort}`,
      VMPULSE_LISTEN: `127.0.0.1:${agentPort}`,
      VMPULSE_LOG_FORMAT: 'json',
      VMPULSE_LOG_LEVEL: 'info',
      VMPULSE_SERVER_LOG_LEVEL: 'warn',
    };
    delete env.VMPULSE_DB;
    delete env.VMPULSE_ENDPOINT;
    delete env.VMPULSE_SPOOL_DIR;
    // Its own process group, as a terminal session would have, so nothing can outlive the test.
    const c = spawn('npm', ['start'], { cwd: clone, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child = c;
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('vmpulse is running'), 60_000, `npm start to come up: ${out}`, 100);
    // The console's URL comes first.
    const running = out.slice(out.indexOf('vmpulse is running:')).split('\n');
    assert.match(running[1]!, new RegExp(`^  console +http://127\\.0\\.0\\.1:${serverPort}/ `));
    const home = await fetch(`http://127.0.0.1:${serverPort}/`);
    assert.is(home.status, 200);
    assert.match(home.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await home.text(), /<script type="module" src="\/app\.js">/);
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${agentPort}/instances`));
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${serverPort}/v1/servers`));
    const reader = readFileSync(join(clone, 'data', 'reader.token'), 'utf8').trim();
    const get = async (path: string) => {
      const r = await fetch(`http://127.0.0.1:${serverPort}${path}`, { headers: { authorization: `Bearer ${reader}` } });
      return r.status === 200 ? r.json() : null;
    };
    // Once the agent's first windows are delivered, the server lists this host and the VM.
    const servers = await waitFor(async () => {
      const list = (await get('/v1/servers')) as { AgentID: string; Hostname: string }[] | null;
      return list && list.length > 0 ? list : null;
    }, 30_000, 'the server to list this host', 200);
    assert.ok(servers.some((x) => x.Hostname === execFileSync('hostname', { encoding: 'utf8' }).trim()));
    const vm = await waitFor(async () => {
      const list = (await get('/v1/instances')) as { instance_id: string; instance_name: string; hypervisor: string }[] | null;
      return list?.find((i) => i.instance_id === uuid) ?? null;
    }, 30_000, 'the server to list the QEMU VM', 200);
    assert.is(vm.instance_name, `vpt-start-${process.pid}`);
    assert.is(vm.hypervisor, 'qemu');

    // Ctrl-C to vmpulse (npm itself reports 130 for any SIGINT it receives, whatever its child
    // does; the child's clean exit is what matters, and npm passes its 0 on).
    const vmpulse = spawnSync('pgrep', ['-g', String(c.pid), '-f', '^node dist/src/cli.js start'], { encoding: 'utf8' }).stdout.trim();
    assert.match(vmpulse, /^\d+$/, `one vmpulse process in the group: ${vmpulse}`);
    process.kill(Number(vmpulse), 'SIGINT');
    const timer = setTimeout(() => process.kill(-c.pid!, 'SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    assert.is(code, 0, `npm start exit code ${code}: ${out.slice(-2000)}`);
    assert.match(out, /"msg":"stopped"/);
    // Nothing of this start is left behind.
    const left = spawnSync('pgrep', ['-g', String(c.pid)], { encoding: 'utf8' }).stdout.trim();
    assert.is(left, '', `processes left in the group: ${left}`);
  } finally {
    if (child?.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    }
    await q?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

s.run();
