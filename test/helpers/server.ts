// Helpers for server tests: a throwaway database per engine (temp SQLite file, or a PostgreSQL
// database vmpulse_test_<pid>_<n> created and dropped), a real server on 127.0.0.1:0, credentials,
// and payload builders with exact values the tests compute expectations from.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ulid } from 'ulid';
import { startServer, type RunningServer } from '../../src/server/app.js';
import type { ServerConfig } from '../../src/server/config.js';
import type { CreatedCredential } from '../../src/server/credentials.js';
import type { Agg, HostWindow, InstanceRecord, InstanceWindow, Payload } from '../../src/ship/payload.js';
import { needs, pgUrl } from './needs.js';

export type Engine = 'sqlite' | 'postgres';
export const ENGINES: readonly Engine[] = ['sqlite', 'postgres'];

/** True when the engine can run here; PostgreSQL tests record a skip (or fail under REQUIRE_ALL). */
export async function engineReady(engine: Engine, testName: string): Promise<boolean> {
  return engine === 'sqlite' ? true : needs(`${testName} [postgres]`, 'postgres');
}

let dbCounter = 0;

export interface TestDb {
  engine: Engine;
  /** VMPULSE_DB value. */
  db: string;
  keyFile: string;
  dir: string;
  /** Runs SQL directly against the database (for fixtures and checks outside the API). */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  exec(sql: string): Promise<void>;
  count(table: string): Promise<number>;
  drop(): Promise<void>;
}

export function pgUrlFor(database: string): string {
  const u = new URL(pgUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function createTestDb(engine: Engine): Promise<TestDb> {
  const dir = mkdtempSync(join(tmpdir(), 'vmpulse-srv-'));
  const keyFile = join(dir, 'server.key');
  if (engine === 'sqlite') {
    const db = join(dir, 'data', 'vmpulse.db');
    let handle: Database.Database | null = null;
    const h = () => (handle ??= new Database(db));
    return {
      engine,
      db,
      keyFile,
      dir,
      async query(sql, params = []) {
        const st = h().prepare(sql);
        return st.reader ? (st.all(...params) as Record<string, unknown>[]) : (st.run(...params), []);
      },
      async exec(sql) {
        h().exec(sql);
      },
      async count(table) {
        return Number((h().prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
      },
      async drop() {
        handle?.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `vmpulse_test_${process.pid}_${++dbCounter}`;
  await pgAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = pgUrlFor(name);
  let client: pg.Client | null = null;
  const cl = async () => {
    if (!client) {
      client = new pg.Client({ connectionString: url });
      await client.connect();
    }
    return client;
  };
  return {
    engine,
    db: url,
    keyFile,
    dir,
    async query(sql, params = []) {
      return (await (await cl()).query(sql, params)).rows;
    },
    async exec(sql) {
      await (await cl()).query(sql);
    },
    async count(table) {
      return Number((await (await cl()).query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    },
    async drop() {
      if (client) await (client as pg.Client).end();
      await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function testConfig(t: Pick<TestDb, 'db' | 'keyFile'>, overrides: Partial<ServerConfig> = {}): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    tls: null,
    db: t.db,
    keyFile: t.keyFile,
    maxBodyBytes: 8 * 1024 * 1024,
    retentionDays: 15,
    retentionIntervalS: 3600,
    logLevel: process.env.VMPULSE_TEST_SERVER_LOG ?? 'silent',
    pgPoolMax: 4,
    ...overrides,
  };
}

export interface TestServer {
  url: string;
  server: RunningServer;
  db: TestDb;
  admin: CreatedCredential;
  reader: CreatedCredential;
  /** Unbound agent credential (binds on first use). */
  agent: CreatedCredential;
  close(): Promise<void>;
}

export async function startTestServer(engine: Engine, overrides: Partial<ServerConfig> = {}): Promise<TestServer> {
  const db = await createTestDb(engine);
  let server: RunningServer;
  try {
    server = await startServer(testConfig(db, overrides));
  } catch (e) {
    await db.drop();
    throw e;
  }
  const admin = await server.credentials.create('admin', 'test-admin');
  const reader = await server.credentials.create('reader', 'test-reader');
  const agent = await server.credentials.create('agent', 'test-agent');
  return {
    url: server.url,
    server,
    db,
    admin,
    reader,
    agent,
    async close() {
      await server.close();
      await db.drop();
    },
  };
}

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
}

export async function request(url: string, init: RequestInit & { secret?: string } = {}): Promise<Reply> {
  const headers = new Headers(init.headers);
  if (init.secret) headers.set('authorization', `Bearer ${init.secret}`);
  const res = await fetch(url, { ...init, headers });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** POST /v1/ingest with the batch's BatchID as Idempotency-Key (as the agent does). */
export async function ingest(base: string, secret: string, payload: Payload | string | Buffer, opts: { gzip?: boolean; headers?: Record<string, string> } = {}): Promise<Reply> {
  const raw = typeof payload === 'string' || Buffer.isBuffer(payload) ? Buffer.from(payload) : Buffer.from(JSON.stringify(payload));
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
  if (typeof payload === 'object' && !Buffer.isBuffer(payload) && !('idempotency-key' in headers)) headers['idempotency-key'] = payload.BatchID;
  let body = raw;
  if (opts.gzip) {
    body = gzipSync(raw);
    headers['content-encoding'] = 'gzip';
  }
  return request(`${base}/v1/ingest`, { method: 'POST', body, headers, secret });
}

export function agg(values: number[]): Agg {
  const sum = values.reduce((a, b) => a + b, 0);
  return { Avg: sum / values.length, Min: Math.min(...values), Max: Math.max(...values), Sum: sum, Count: values.length };
}

export function nowMinute(offsetMinutes = 0): number {
  return Math.floor(Date.now() / 60000) * 60 + offsetMinutes * 60;
}

export function hostWindow(minute: number, o: Partial<HostWindow> = {}): HostWindow {
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    CPU: agg([10, 20]),
    IOWait: agg([1, 3]),
    Steal: null,
    RAM: agg([50, 50]),
    Swap: agg([0, 0]),
    Load1: agg([0.5]),
    Load5: agg([0.5]),
    Load15: agg([0.5]),
    Disk: agg([40, 40]),
    NetIn: 1000,
    NetOut: 500,
    ...o,
  };
}

export function instanceWindow(minute: number, o: Partial<InstanceWindow> = {}): InstanceWindow {
  return {
    Minute: minute,
    Seconds: 60,
    Samples: 12,
    Missed: 0,
    CPU: agg([25, 75]),
    CPUCore: agg([50, 150]),
    CPUUser: agg([40, 100]),
    CPUSystem: agg([10, 50]),
    VcpuBusy: agg([20, 70]),
    Steal: agg([1, 2]),
    MemoryRSS: agg([1024, 2048]),
    MemorySwap: null,
    MemoryUtilization: agg([10, 20]),
    NetIn: 6000,
    NetOut: 3000,
    NetInPackets: 60,
    NetOutPackets: 30,
    DiskRead: 4096,
    DiskWrite: 8192,
    ThrottledPeriods: 0,
    ThrottledTimeNs: 0,
    ...o,
  };
}

export function instanceRecord(id: string, o: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    InstanceID: id,
    InstanceName: `vm-${id}`,
    Hypervisor: 'qemu',
    PID: 4242,
    StartTime: 123456,
    AllocatedVcpus: 2,
    AllocatedMemoryBytes: 4294967296,
    TapDevices: [`hype-${id.slice(0, 8)}`],
    Running: true,
    Counters: {
      CPUSeconds: 29.94,
      MemoryRSSBytes: 443338752,
      MemoryVMSBytes: 4330745856,
      MemorySwapBytes: 0,
      MemoryPeakRSSBytes: 450000000,
      NetworkRxBytes: 12345678,
      NetworkTxBytes: 87654321,
      DiskReadBytes: 1000,
      DiskWriteBytes: 2000,
    },
    Stats: [],
    ...o,
  };
}

export function payload(o: Partial<Payload> = {}): Payload {
  return {
    Version: 1,
    BatchID: ulid(),
    AgentID: 'agent-1',
    AgentVersion: '0.1.0',
    Hostname: 'hv1.test',
    OperatingSystem: 'Debian 12',
    Kernel: '6.1.0-test',
    CPUModel: 'Test CPU @ 3.20GHz',
    CPUSpeed: 3200,
    CPUCores: 8,
    RAM: 67108864000,
    Swap: 0,
    SystemUptime: 1234567,
    CreatedAt: Math.floor(Date.now() / 1000),
    Disks: [
      { Mount: '/', Size: 1000000, Used: 400000, Available: 600000 },
      { Mount: '/var', Size: 2000000, Used: 1000000, Available: 1000000 },
    ],
    NetworkInterfaces: [{ Name: 'eth0', NetIn: 1000, NetOut: 500 }],
    Stats: [],
    Instances: [],
    ...o,
  };
}

export function newBatchId(): string {
  return ulid();
}

export function approx(actual: number | undefined | null, expected: number, what = ''): void {
  if (typeof actual !== 'number' || Math.abs(actual - expected) > 1e-9 * Math.max(1, Math.abs(expected))) {
    throw new Error(`${what}: expected ${expected}, got ${actual}`);
  }
}
