// The store contract: what every engine behind the Store interface must answer the same way.
// `storeContract` takes an engine factory, so a further engine is covered by one more call.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openStore, type Store } from '../src/server/store/store.js';
import { ENGINES, createTestDb, engineReady, type TestDb } from './helpers/server.js';

export interface EngineFactory {
  name: string;
  /** False (and a recorded skip) when the engine cannot run here. */
  ready(testName: string): Promise<boolean>;
  /** A fresh, empty, migrated store, and its disposal. */
  open(): Promise<{ store: Store; dispose(): Promise<void> }>;
}

export function storeContract(f: EngineFactory): void {
  const t = suite(`store contract [${f.name}]`);
  const withStore = async (name: string, fn: (s: Store) => Promise<void>) => {
    if (!(await f.ready(name))) return;
    const { store, dispose } = await f.open();
    try {
      await fn(store);
    } finally {
      await dispose();
    }
  };

  t('credentials are listed in creation order, whatever their timestamps and ids', () =>
    withStore('token order', async (s) => {
      // Same second, ids in descending order: a seconds timestamp with an id tie-break would reverse them.
      const names = ['hv1', 'grafana', 'ops', 'zeta', 'alpha'];
      for (const [i, name] of names.entries()) {
        await s.insertToken({ accessKeyId: `AKID${9 - i}`, name, role: 'reader', secretSha256: `${i}`.repeat(64), agentId: null, createdAt: 1700000000, revokedAt: null });
      }
      await s.insertToken({ accessKeyId: 'AKID0', name: 'early', role: 'admin', secretSha256: 'f'.repeat(64), agentId: null, createdAt: 1600000000, revokedAt: null });
      assert.equal((await s.listTokens()).map((x) => x.name), [...names, 'early']);
      assert.ok(await s.revokeToken('AKID7', 1700000100));
      assert.equal((await s.listTokens()).map((x) => x.name), [...names, 'early']);
    }),
  );

  t.run();
}

function sqlOrPg(engine: (typeof ENGINES)[number]): EngineFactory {
  return {
    name: engine,
    ready: (n) => engineReady(engine, n),
    async open() {
      const db: TestDb = await createTestDb(engine);
      const store = await openStore(db.db);
      await store.migrate();
      return {
        store,
        async dispose() {
          await store.close();
          await db.drop();
        },
      };
    },
  };
}

for (const engine of ENGINES) storeContract(sqlOrPg(engine));
