/** The store contract on PostgreSQL: two stores (two pools, two listeners) on one fresh database per test. */
import { after } from 'node:test';
import pg from 'pg';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { storeContract } from './contract.js';

after(() => stopTestPostgres());

storeContract({
  name: 'PostgreSQL',
  databaseClock: true,
  async fresh() {
    const database = await (await testPostgres()).freshDatabase();
    return {
      open: () => PostgresOperationStore.open({ url: database.url, retentionMs: 3_600_000, keyedRetentionMs: 86_400_000, poolSize: 4 }),
      drop: () => database.drop(),
      exec: async (sql) => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          await client.query(sql);
        } finally {
          await client.end();
        }
      },
    };
  },
});
