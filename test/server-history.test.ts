// GET /v1/servers/{agentId}/metrics: the HetrixTools v3-style host history served from the tiers,
// through the real server, on both engines, against exact ingested values.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ENGINES, agg, engineReady, hostWindow, ingest, nowMinute, payload, request, startTestServer, type Engine, type TestServer } from './helpers/server.js';

async function withServer(engine: Engine, name: string, fn: (s: TestServer) => Promise<void>): Promise<void> {
  if (!(await engineReady(engine, name))) return;
  const s = await startTestServer(engine, { alerts: { loops: false, builtins: false } });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

for (const engine of ENGINES) {
  const t = suite(`server v3 history [${engine}]`);

  t('1m, 1h and 1d points carry cpu, ram, disk, load_1, iowait (sample averages) and net_in, net_out (bytes)', () =>
    withServer(engine, 'v3 history', async (s) => {
      // Three hours back, aligned to the hour, with a gap and a minute sent in two parts.
      const h0 = Math.floor(nowMinute(-180) / 3600) * 3600;
      const minutes = Array.from({ length: 120 }, (_, i) => h0 + i * 60).filter((m) => m !== h0 + 600);
      const win = (m: number, k: number) =>
        hostWindow(m, {
          CPU: agg([k % 7, (k % 7) + 10]),
          RAM: agg([40 + (k % 3)]),
          Disk: agg([55]),
          Load1: agg([k / 100, k / 50]),
          IOWait: agg([k % 2]),
          NetIn: 1000 + k,
          NetOut: 2 * k,
        });
      const r = await ingest(s.url, s.agent.secret, payload({ Stats: minutes.map((m, k) => win(m, k)) }));
      assert.is(r.status, 200, r.text);
      // The second part of the first minute: merged into it.
      await ingest(s.url, s.agent.secret, payload({ Stats: [hostWindow(h0, { CPU: agg([90]), RAM: null, Disk: null, Load1: null, IOWait: null, NetIn: 5, NetOut: 7 })] }));

      const get = (q: string) => request(`${s.url}/v1/servers/agent-1/metrics?${q}`, { secret: s.reader.secret });
      const hourly = await get(`from=${h0}&to=${h0 + 7200}&interval=1h`);
      assert.is(hourly.status, 200, hourly.text);
      assert.is(hourly.body.agent_id, 'agent-1');
      assert.is(hourly.body.interval, '1h');
      assert.is(hourly.body.from, h0);
      assert.is(hourly.body.to, h0 + 7200);
      assert.is(hourly.body.data.length, 2);
      // Expected from the windows sent: sample-weighted averages, byte sums.
      const expect = (lo: number, hi: number) => {
        const ks = minutes.map((m, k) => ({ m, k })).filter((x) => x.m >= lo && x.m < hi);
        const cpuVals = ks.flatMap(({ k }) => [k % 7, (k % 7) + 10]);
        if (lo === h0) cpuVals.push(90);
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        return {
          timestamp: lo,
          cpu: mean(cpuVals),
          ram: mean(ks.map(({ k }) => 40 + (k % 3))),
          disk: 55,
          load_1: mean(ks.flatMap(({ k }) => [k / 100, k / 50])),
          iowait: mean(ks.map(({ k }) => k % 2)),
          net_in: ks.reduce((a, { k }) => a + 1000 + k, 0) + (lo === h0 ? 5 : 0),
          net_out: ks.reduce((a, { k }) => a + 2 * k, 0) + (lo === h0 ? 7 : 0),
        };
      };
      for (const [i, p] of (hourly.body.data as Record<string, number>[]).entries()) {
        const e = expect(h0 + i * 3600, h0 + (i + 1) * 3600);
        assert.equal(Object.keys(p).sort(), Object.keys(e).sort());
        for (const [k, v] of Object.entries(e)) assert.ok(Math.abs(p[k]! - v) <= 1e-9 * Math.max(1, Math.abs(v)), `1h ${i} ${k}: ${p[k]} ≠ ${v}`);
      }
      // Per minute: the gap has no point, the merged minute holds both parts.
      const perMinute = await get(`from=${h0}&to=${h0 + 1200}&interval=1m`);
      assert.is(perMinute.status, 200, perMinute.text);
      const ts = (perMinute.body.data as { timestamp: number }[]).map((p) => p.timestamp);
      assert.equal(ts, minutes.filter((m) => m < h0 + 1200));
      assert.is(perMinute.body.data[0].net_in, 1005);
      assert.is(perMinute.body.data[0].net_out, 7);
      // Per day: the hours of each UTC day in one point (two days when the hours straddle midnight).
      const dayStart = Math.floor(h0 / 86400) * 86400;
      const daily = await get(`from=${dayStart}&to=${h0 + 7200}&interval=1d`);
      assert.is(daily.status, 200, daily.text);
      const days = [...new Set(minutes.map((m) => Math.floor(m / 86400) * 86400))];
      assert.equal((daily.body.data as { timestamp: number }[]).map((p) => p.timestamp), days);
      for (const [i, p] of (daily.body.data as Record<string, number>[]).entries()) {
        const e = expect(Math.max(days[i]!, h0), Math.min(days[i]! + 86400, h0 + 7200));
        for (const k of ['cpu', 'ram', 'load_1', 'iowait', 'net_in', 'net_out']) {
          const v = e[k as keyof typeof e];
          assert.ok(Math.abs(p[k]! - v) <= 1e-9 * Math.max(1, Math.abs(v)), `1d ${i} ${k}: ${p[k]} ≠ ${v}`);
        }
      }
      // Errors name the parameter.
      const bad = await get('interval=5m');
      assert.is(bad.status, 400);
      assert.is(bad.body.field, 'interval');
      const tooMany = await get(`from=${h0 - 30 * 86400}&to=${h0}&interval=1m`);
      assert.is(tooMany.status, 400);
      assert.is(tooMany.body.field, 'from');
      assert.is((await request(`${s.url}/v1/servers/nope/metrics`, { secret: s.reader.secret })).status, 404);
      assert.is((await request(`${s.url}/v1/servers/agent-1/metrics`, { secret: s.agent.secret })).status, 403);
    }),
  );

  t('1d over whole days (from the day tier) equals the same days computed from the minutes sent, a merged minute included', () =>
    withServer(engine, 'v3 history whole days', async (s) => {
      // Three whole UTC days before today: a few minutes each, spread over the day.
      const today = Math.floor(nowMinute() / 86400) * 86400;
      const sent: { m: number; cpu: number[]; ram: number; netIn: number }[] = [];
      for (let d = 3; d >= 1; d--) for (const at of [0, 61, 600, 777, 1439]) sent.push({ m: today - d * 86400 + at * 60, cpu: [d + at / 100, 2 * d], ram: 30 + d + (at % 5), netIn: 100 * d + at });
      const r = await ingest(s.url, s.agent.secret, payload({ Stats: sent.map((x) => hostWindow(x.m, { CPU: agg(x.cpu), RAM: agg([x.ram]), NetIn: x.netIn })) }));
      assert.is(r.status, 200, r.text);
      // The first minute of the middle day again, in a second part: merged after its day row exists.
      const second = today - 2 * 86400;
      await ingest(s.url, s.agent.secret, payload({ Stats: [hostWindow(second, { CPU: agg([95]), RAM: null, NetIn: 3 })] }));

      const res = await request(`${s.url}/v1/servers/agent-1/metrics?from=${today - 3 * 86400}&to=${today}&interval=1d`, { secret: s.reader.secret });
      assert.is(res.status, 200, res.text);
      const data = res.body.data as Record<string, number>[];
      assert.equal(
        data.map((p) => p.timestamp),
        [3, 2, 1].map((d) => today - d * 86400),
      );
      for (const p of data) {
        const day = sent.filter((x) => x.m >= p.timestamp! && x.m < p.timestamp! + 86400);
        const cpu = day.flatMap((x) => x.cpu).concat(p.timestamp === second ? [95] : []);
        const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const want = { cpu: mean(cpu), ram: mean(day.map((x) => x.ram)), net_in: day.reduce((a, x) => a + x.netIn, 0) + (p.timestamp === second ? 3 : 0) };
        for (const [k, v] of Object.entries(want)) assert.ok(Math.abs(p[k]! - v) <= 1e-9 * Math.max(1, Math.abs(v)), `day ${p.timestamp} ${k}: ${p[k]} ≠ ${v}`);
      }
    }),
  );

  t.run();
}
