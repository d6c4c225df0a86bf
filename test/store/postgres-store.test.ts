/** What is particular to the PostgreSQL store: migrating under a lock, connection names, errors in words. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';

after(() => stopTestPostgres());

const retention = { retentionMs: 3_600_000, keyedRetentionMs: 86_400_000 };

describe('PostgresOperationStore', { timeout: 180_000 }, () => {
  it('migrates a fresh database once when several processes start at the same instant', async () => {
    const server = await testPostgres();
    const name = `longrun_empty_${Date.now()}`;
    await server.admin(`CREATE DATABASE ${name}`);
    const url = server.urlOf(name);
    try {
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresOperationStore.open({ url, ...retention, poolSize: 2, schema: 'custom' })));
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query<{ version: number }>('SELECT version FROM custom.migrations ORDER BY version');
      assert.deepEqual(rows.map((row) => row.version), [1, 2]);
      // Every connection says who it is.
      await Promise.all(stores.map((store) => store.countByState(Date.now())));
      const names = await client.query<{ application_name: string; count: number }>(
        'SELECT application_name, count(*)::int AS count FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() GROUP BY 1 ORDER BY 1',
        [name],
      );
      assert.deepEqual(
        names.rows.map((row) => row.application_name),
        ['longrun', 'longrun-listen'],
      );
      assert.equal(names.rows.find((row) => row.application_name === 'longrun-listen')?.count, 4, 'one LISTEN connection per store');
      await client.end();
      await Promise.all(stores.map((store) => store.close()));
    } finally {
      await server.admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });

  it('opens its LISTEN connection on --pg-listen-url when one is given (a session past a transaction pooler)', async () => {
    const server = await testPostgres();
    const database = await server.freshDatabase();
    const role = `listener_${Date.now()}`;
    await server.admin(`CREATE ROLE ${role} LOGIN PASSWORD 'listen'`);
    const listenUrl = new URL(database.url);
    listenUrl.username = role;
    listenUrl.password = 'listen';
    const store = await PostgresOperationStore.open({ url: database.url, listenUrl: listenUrl.toString(), ...retention, poolSize: 1 });
    try {
      const rows = await server.admin<{ usename: string; application_name: string }>(
        "SELECT usename, application_name FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'longrun%' ORDER BY application_name",
        [database.name],
      );
      assert.deepEqual(rows.find((row) => row.application_name === 'longrun-listen')?.usename, role);
    } finally {
      await store.close();
      await database.drop();
      await server.admin(`DROP ROLE ${role}`);
    }
  });

  it('answers UNAVAILABLE, saying so, when the pool is exhausted or the server refuses connections', async () => {
    const database = await (await testPostgres()).freshDatabase();
    const store = await PostgresOperationStore.open({ url: database.url, ...retention, poolSize: 1, connectTimeoutMs: 300 });
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE longrun.operations IN ACCESS EXCLUSIVE MODE');
      const stuck = store.get('operations/x', Date.now()); // holds the pool's only connection, waiting for the lock
      await assert.rejects(store.get('operations/y', Date.now()), (error: unknown) => {
        assert.ok(error instanceof LongrunError);
        assert.deepEqual([error.code, error.reason], [Code.UNAVAILABLE, 'STORE_UNAVAILABLE']);
        assert.match(error.message, /pool exhausted; see --pg-pool/);
        return true;
      });
      await blocker.query('ROLLBACK');
      assert.equal(await stuck, undefined);
    } finally {
      await blocker.end();
      await store.close();
      await database.drop();
    }
    await assert.rejects(PostgresOperationStore.open({ url: 'postgres://longrun@127.0.0.1:1/none', ...retention }), (error: unknown) => {
      assert.ok(error instanceof LongrunError);
      assert.equal(error.code, Code.UNAVAILABLE);
      assert.match(error.message, /PostgreSQL refused the connection/);
      return true;
    });
  });
});
