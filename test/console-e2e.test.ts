// The console in a real browser (Debian's chromium via playwright-core), on real data: a stand-in
// VM burns a core, the real agent ships it to the real server, and a reader signs in through the
// form. The VM is in the fleet table; its page's CPUUtilization chart holds exactly the datapoints
// GetInstanceMetricData (SigV4, the AWS SDK) returns for the same range; a wrong secret shows an
// error and no data; the open fleet page shows the VM when it appears (no reload); after sign-out
// the cookie no longer opens the API. An admin creates an alarm
// through the alarms page and sees the server's validation message first. Screenshots are kept.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetInstanceMetricDataCommand, LightsailClient } from '@aws-sdk/client-lightsail';
import type { Browser } from 'playwright-core';
import { needs } from './helpers/needs.js';
import { hostWindow, ingest, instanceRecord, instanceWindow, nowMinute, payload, request, startTestServer, type TestServer } from './helpers/server.js';
import { startStandin, type Standin } from './helpers/standin.js';
import { startAgentProcess, type AgentProcess } from './helpers/agent-process.js';
import { waitFor } from './helpers/procs.js';
import { artefactDir, launchChromium } from './helpers/browser.js';

const s = suite('console in a browser');

s('sign in, fleet table, VM chart = GetInstanceMetricData, wrong secret, sign out, admin alarm editing', async () => {
  if (!(await needs('console in a browser', 'root', 'cc', 'chromium'))) return;
  const dir = mkdtempSync(join(tmpdir(), 'vpt-console-'));
  const folder = `console-${process.pid}`;
  mkdirSync(join(dir, folder));
  const argv = ['run', '--cpus', '1', '--mem', '64', '--socket', `${dir}/${folder}/crosvm.sock`, '/boot/vmlinux'];
  const agentId = `console-e2e-${process.pid}`;
  let srv: TestServer | undefined;
  let vm: Standin | undefined;
  let agent: AgentProcess | undefined;
  let browser: Browser | undefined;
  const shots = artefactDir();
  try {
    srv = await startTestServer('sqlite', { alerts: { loops: false, builtins: false } });
    browser = await launchChromium();
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${srv.url}/`);
    await page.waitForSelector('input[name="token"]');
    assert.is(await page.title(), 'Sign in — vmpulse');

    // A wrong secret: an error, no cookie, no data.
    await page.fill('input[name="token"]', 'not-a-secret');
    await page.press('input[name="token"]', 'Enter');
    await page.locator('#signin-error', { hasText: /\S/ }).waitFor();
    assert.match((await page.textContent('#signin-error'))!, /Wrong secret/);
    assert.is(await page.$('#vm-table'), null, 'no fleet table after a wrong secret');
    assert.equal((await ctx.cookies()).length, 0, 'no cookie after a wrong secret');
    assert.is(await page.evaluate("fetch('/console/api/fleet').then((r) => r.status)"), 401);

    // The reader's secret, typed and submitted with Enter: an empty fleet so far.
    await page.fill('input[name="token"]', srv.reader.secret);
    await page.press('input[name="token"]', 'Enter');
    await page.locator('#vm-table').waitFor();
    assert.is(await page.title(), 'Fleet — vmpulse');
    await page.locator('#main', { hasText: 'No VMs match.' }).waitFor();
    // Survives only if the page is never reloaded.
    await page.evaluate('window.vmpulseTestMarker = 1');

    // Now the VM starts and the agent ships it: the open page shows it by itself.
    vm = await startStandin({ kind: 'crosvm', argv, threads: 1, burn: 'all' });
    agent = await startAgentProcess({
      VMPULSE_SAMPLE_INTERVAL_MS: '500',
      VMPULSE_WINDOW_SECONDS: '2',
      VMPULSE_DISCOVERY_INTERVAL_MS: '1000',
      VMPULSE_ENDPOINT: srv.url,
      VMPULSE_TOKEN: srv.agent.secret,
      VMPULSE_SPOOL_DIR: join(dir, 'spool'),
      VMPULSE_AGENT_ID: agentId,
    });
    const stats = () => request(`${srv!.url}/v1/instances/${folder}/stats`, { secret: srv!.reader.secret });
    await waitFor(async () => (await stats()).status === 200, 20_000, 'the VM at the server');
    const st = (await stats()).body;
    const vmName = st.instance_name as string;
    assert.is(vmName, folder);
    const link = page.locator('#vm-table a[data-vm]', { hasText: vmName });
    await link.waitFor({ timeout: 45_000 });
    assert.is(await page.evaluate('window.vmpulseTestMarker'), 1, 'the VM appeared without a reload');
    await new Promise((r) => setTimeout(r, 6000)); // a few windows of burning
    // The agent delivers its open window and stops, so the data no longer moves under the comparison.
    assert.is(await agent.stop('SIGINT'), 0, 'the agent exits 0 on SIGINT');

    const row = page.locator(`#vm-table tr[data-instance="${folder}"]`);
    assert.match((await row.textContent())!, /crosvm/);
    assert.ok((await row.textContent())!.includes(st.hostname), 'the host column names the host');
    const cookies = await ctx.cookies();
    assert.is(cookies.length, 1);
    assert.is(cookies[0]!.name, 'vmpulse_session');
    assert.ok(cookies[0]!.httpOnly && cookies[0]!.sameSite === 'Strict', JSON.stringify(cookies[0]));
    assert.is(await page.evaluate('document.cookie'), '', 'scripts cannot read the session cookie');
    assert.is(await page.evaluate('localStorage.length + sessionStorage.length'), 0, 'nothing kept in web storage');
    // A fresh render with the figures of the last windows, for the screenshot.
    await page.reload();
    await link.waitFor();
    await page.screenshot({ path: join(shots, 'console-fleet.png') });

    // The phone width: nothing wider than the screen (tables scroll inside their box).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    assert.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'no horizontal page scroll at 390 px');
    await page.screenshot({ path: join(shots, 'console-fleet-phone.png') });
    await page.setViewportSize({ width: 1280, height: 800 });

    // The VM page: its CPUUtilization chart against GetInstanceMetricData for the same range.
    await link.click();
    // A locator, not a handle: the chart element is replaced when the page re-reads its data.
    const chart = page.locator('[data-metric="CPUUtilization"]');
    await chart.locator('canvas').waitFor();
    assert.is(await page.title(), `VM ${vmName} — vmpulse`);
    // All of one render at once (a live refresh may redraw the chart between two reads).
    const dataset = async () => JSON.parse(await chart.evaluate((e) => JSON.stringify((e as unknown as { dataset: Record<string, string> }).dataset))) as Record<string, string>;
    const d1 = await dataset();
    const shown = JSON.parse(d1.points!) as [number, number][];
    const [start, end, period, statistic] = [Number(d1.start), Number(d1.end), Number(d1.period), d1.statistic];
    assert.is(statistic, 'Average');
    assert.is(period, 60, 'the 1 h range asks for 60 s datapoints');
    assert.is(end - start, 3600);
    const client = new LightsailClient({ endpoint: srv.url, region: 'us-east-1', credentials: { accessKeyId: srv.reader.access_key_id, secretAccessKey: srv.reader.secret }, maxAttempts: 1 });
    const api = await client.send(
      new GetInstanceMetricDataCommand({ instanceName: folder, metricName: 'CPUUtilization', period, startTime: new Date(start * 1000), endTime: new Date(end * 1000), unit: 'Percent', statistics: ['Average'] }),
    );
    client.destroy();
    const expected = (api.metricData ?? []).map((d) => [d.timestamp!.getTime() / 1000, d.average!]);
    assert.ok(expected.length >= 1, 'the burning VM has datapoints');
    assert.equal(shown, expected, 'the chart holds exactly the API datapoints');
    // A burning vCPU shows CPU in every minute. Its share of a core depends on what else this
    // shared machine runs (7 % seen at a load average of 21 on 2 cores), so no floor is asserted
    // here; the agent's ground-truth tests check the figure itself against the kernel.
    for (const p of shown) assert.ok(p[1] > 0, JSON.stringify(shown));
    // Every GetInstanceMetricData metric has its chart.
    for (const m of ['CPUUtilization', 'CPUStealPercent', 'MemoryUtilization', 'NetworkIn', 'NetworkOut', 'DiskReadBytes', 'DiskWriteBytes', 'StatusCheckFailed']) {
      assert.is(await page.locator(`[data-metric="${m}"]`).count(), 1, m);
    }
    // Another statistic re-reads the server's figures: Maximum is the API's Maximum.
    await page.selectOption('#vm-statistic', 'Maximum');
    await page.locator('[data-metric="CPUUtilization"][data-statistic="Maximum"]').waitFor();
    const d2 = await dataset();
    assert.is(d2.statistic, 'Maximum');
    const maxShown = JSON.parse(d2.points!) as [number, number][];
    const maxApi = (await request(`${srv.url}/v1/instances/${folder}/metric-data?metricName=CPUUtilization&period=${d2.period}&startTime=${d2.start}&endTime=${d2.end}&unit=Percent&statistics=Maximum`, { secret: srv.reader.secret })).body;
    assert.equal(maxShown, (maxApi.metricData as { timestamp: number; maximum: number }[]).map((d) => [d.timestamp, d.maximum]));
    await page.selectOption('#vm-statistic', 'Average');
    await page.locator('[data-metric="CPUUtilization"][data-statistic="Average"]').waitFor();
    await chart.locator('canvas').waitFor();
    await page.screenshot({ path: join(shots, 'console-vm.png'), fullPage: true });

    // The system's dark theme is followed.
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.is(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(15, 19, 23)');
    await page.screenshot({ path: join(shots, 'console-vm-dark.png') });
    await page.emulateMedia({ colorScheme: 'light' });
    assert.is(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(255, 255, 255)');

    // The host page lists the VM; its CPU chart holds the HetrixTools API's minutes.
    await page.goto(`${srv.url}/#/host/${encodeURIComponent(agentId)}`);
    await page.locator('table[aria-label="VMs on this host"] a', { hasText: vmName }).waitFor();
    assert.is(await page.title(), `Host ${st.hostname} — vmpulse`);
    const hostCpu = JSON.parse((await page.locator('[data-metric="host.CPU"]').getAttribute('data-points'))!) as [number, number][];
    const hetrix = (await request(`${srv.url}/v1/servers/${encodeURIComponent(agentId)}/stats`, { secret: srv.reader.secret })).body.Stats as { Minute: number; CPU: number | null }[];
    assert.ok(hostCpu.length >= 1);
    // CPU is a rate of two reads: a minute in which the agent read the host once (it started in
    // the minute's last tick) has CPU null, which the chart leaves out. Only the first minute can.
    const first = Math.min(...hetrix.map((m) => m.Minute));
    assert.equal(hetrix.filter((m) => m.CPU === null && m.Minute !== first), [], 'CPU is known in every minute but the first');
    assert.equal(hostCpu, hetrix.filter((m) => m.CPU !== null).map((m) => [m.Minute, m.CPU]).reverse());
    await page.screenshot({ path: join(shots, 'console-host.png'), fullPage: true });

    // Sign out: the cookie the browser held no longer opens the API.
    const held = cookies[0]!.value;
    const cookieHeader = { cookie: `vmpulse_session=${held}` };
    assert.is((await request(`${srv.url}/v1/instances`, { headers: cookieHeader })).status, 200, 'the cookie opens the API while signed in');
    await page.click('#logout');
    await page.waitForSelector('input[name="token"]');
    assert.is((await request(`${srv.url}/v1/instances`, { headers: cookieHeader })).status, 401);
    assert.is((await request(`${srv.url}/console/api/fleet`, { headers: cookieHeader })).status, 401);
    assert.is(await page.evaluate("fetch('/console/api/fleet').then((r) => r.status)"), 401);
    await ctx.close();

    // An admin edits alarms through the page; the server's validation message is shown as it is.
    const actx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const apage = await actx.newPage();
    apage.on('pageerror', (e) => pageErrors.push(e.message));
    await apage.goto(`${srv.url}/#/alarms`);
    await apage.fill('input[name="token"]', srv.admin.secret);
    await apage.press('input[name="token"]', 'Enter');
    await apage.waitForSelector('#alarm-def');
    assert.is(await apage.title(), 'Alarms — vmpulse');
    const def = { selector: { instanceName: 'console-*' }, metricName: 'CPUUtilization', statistic: 'Average', period: 60, comparisonOperator: 'GreaterThanOrEqualToThreshold', threshold: 50, evaluationPeriods: 1, datapointsToAlarm: 1 };
    await apage.fill('#alarm-name', 'console-hot');
    await apage.fill('#alarm-def', JSON.stringify({ ...def, period: 61 }));
    await apage.click('button[type="submit"]');
    await apage.locator('[role="status"]', { hasText: 'Refused' }).waitFor();
    const refusal = (await apage.textContent('[role="status"]'))!;
    const direct = await request(`${srv.url}/v1/alarms/console-hot`, { method: 'PUT', secret: srv.admin.secret, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...def, period: 61 }) });
    assert.is(direct.status, 400);
    assert.is(refusal, `Refused: ${direct.body.message}`);
    await apage.fill('#alarm-def', JSON.stringify(def));
    await apage.click('button[type="submit"]');
    await apage.locator('[data-alarm="console-hot"]').waitFor();
    assert.is((await request(`${srv.url}/v1/alarms/console-hot`, { secret: srv.admin.secret })).body.threshold, 50);
    await actx.close();
    assert.equal(pageErrors, [], 'no script errors in the pages');

    const keep = process.env.VMPULSE_SCREENSHOTS_DIR;
    if (keep) for (const f of ['console-fleet.png', 'console-vm.png']) copyFileSync(join(shots, f), join(keep, f));
    process.stdout.write(`\n  screenshots in ${shots}\n`);
  } finally {
    await browser?.close();
    await agent?.stop();
    await vm?.stop();
    await srv?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

s('VM page: the disks table adds up exactly what GET /v1/instances/{id}/disks returns; a VM without disk counters says so', async () => {
  if (!(await needs('console disks in a browser', 'chromium'))) return;
  let srv: TestServer | undefined;
  let browser: Browser | undefined;
  try {
    srv = await startTestServer('sqlite', { alerts: { loops: false, builtins: false } });
    const agentId = `console-disks-${process.pid}`;
    const m0 = nowMinute(-4);
    const minutes = [m0, m0 + 60, m0 + 120];
    // Odd sizes, and a device that appears in two of the three minutes only.
    const disksOf = (k: number) => [
      { Device: 'vda', ReadBytes: 4096 * (k + 1) + 17, WriteBytes: 1_000_003 * (k + 2), ReadOps: 3 + k, WriteOps: 250 + k },
      ...(k === 1 ? [] : [{ Device: 'vdb', ReadBytes: 123_456_789 + k, WriteBytes: 0, ReadOps: 9_999, WriteOps: 0 }]),
    ];
    const body = payload({
      AgentID: agentId,
      Stats: minutes.map((m) => hostWindow(m)),
      Instances: [
        { ...instanceRecord('vm-disks'), Stats: minutes.map((m, k) => ({ ...instanceWindow(m), Disks: disksOf(k) })) },
        { ...instanceRecord('vm-nodisks'), Stats: minutes.map((m) => instanceWindow(m)) },
      ],
    });
    assert.is((await ingest(srv.url, srv.agent.secret, body)).status, 200);
    const api = (await request(`${srv.url}/v1/instances/vm-disks/disks?start=${m0 - 3600}&end=${m0 + 240}`, { secret: srv.reader.secret })).body as {
      minutes: { device: string; read_bytes: number; write_bytes: number; read_ops: number; write_ops: number }[];
    };
    assert.is(api.minutes.length, 5, 'three minutes of vda, two of vdb');
    const want = new Map<string, Record<string, number>>();
    for (const r of api.minutes) {
      const t = want.get(r.device) ?? { read_bytes: 0, write_bytes: 0, read_ops: 0, write_ops: 0 };
      for (const k of ['read_bytes', 'write_bytes', 'read_ops', 'write_ops'] as const) t[k]! += r[k];
      want.set(r.device, t);
    }

    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${srv.url}/`);
    await page.fill('input[name="token"]', srv.reader.secret);
    await page.press('input[name="token"]', 'Enter');
    await page.locator('#vm-table').waitFor();
    await page.goto(`${srv.url}/#/vm/${encodeURIComponent(agentId)}/vm-disks`);
    await page.locator('#vm-disks table').waitFor();
    const shown = (await page.$$eval('#vm-disks tbody tr', (trs) =>
      trs.map((tr) => [tr.getAttribute('data-device'), Object.fromEntries([...tr.querySelectorAll('td[data-field]')].map((td) => [td.getAttribute('data-field'), Number(td.getAttribute('data-value'))]))]),
    )) as [string, Record<string, number>][];
    assert.equal(shown, [...want].sort((a, b) => (a[0] < b[0] ? -1 : 1)), 'the table holds the API minutes added up, device by device');
    assert.equal(shown.map((x) => x[1].read_bytes), [4096 * 6 + 51, 2 * 123_456_789 + 2], 'and those are the bytes ingested');
    assert.match((await page.textContent('#vm-disks tr[data-device="vdb"]'))!, /235\.5 MiB/);

    await page.goto(`${srv.url}/#/vm/${encodeURIComponent(agentId)}/vm-nodisks`);
    await page.locator('#vm-disks', { hasText: 'No per-disk counters' }).waitFor();
    assert.is(await page.locator('#vm-disks table').count(), 0);
    assert.equal(pageErrors, [], 'no script errors');
  } finally {
    await browser?.close();
    await srv?.close();
  }
});

s.run();
