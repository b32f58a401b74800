// Runs the store contract (test/helpers/store-contract.ts) on every engine: SQLite and PostgreSQL.
import { openStore } from '../src/server/store/store.js';
import { storeContract, type EngineFactory } from './helpers/store-contract.js';
import { ENGINES, createTestDb, engineReady, type Engine } from './helpers/server.js';

function sqlEngine(engine: Engine): EngineFactory {
  return {
    name: engine,
    ready: (n) => engineReady(engine, n),
    async open() {
      const db = await createTestDb(engine);
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

for (const engine of ENGINES) storeContract(sqlEngine(engine));
