/** What is particular to the PostgreSQL store: migrating under a lock, connection names, errors in words. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { prepareStatements, valuesOf } from '../../src/store/postgres/statements.js';
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
      assert.deepEqual(rows.map((row) => row.version), [1, 2, 3, 4]);
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

  it('claims, places new operations in the fair queue and finds start deadlines through index seeks', async () => {
    const database = await (await testPostgres()).freshDatabase();
    const store = await PostgresOperationStore.open({ url: database.url, ...retention, poolSize: 2 });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      // Enough rows, most not due, that a scan would cost more than the seeks.
      await client.query(`INSERT INTO longrun.operations (name, parent, method, owner, request_type, request_value, max_attempts,
          create_time, update_time, run_after, priority, fair_seq, concurrency_key, start_deadline)
        SELECT 'operations/' || i, '', '/m/' || (i % 4), 'owner-' || (i % 50), 't', '\\x00', 3, i, i,
          CASE WHEN i % 10 = 0 THEN 0 ELSE 9e15 END, i % 3, i / 50, CASE WHEN i % 7 = 0 THEN 'k' || (i % 100) END,
          CASE WHEN i % 13 = 0 THEN 9e15 END
        FROM generate_series(1, 50000) i`);
      await client.query('ANALYZE longrun.operations');
      const statements = prepareStatements('longrun', 'longrun');
      const planOf = async (name: keyof typeof statements, params: Record<string, unknown>) => {
        const statement = statements[name];
        const values = valuesOf(statement, { origin: 'x', ...params });
        await client.query('BEGIN');
        try {
          const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${statement.text}`, values);
          return rows.map((row) => row['QUERY PLAN']).join('\n');
        } finally {
          await client.query('ROLLBACK');
        }
      };
      const claim = await planOf('claim', { holder: 'h', method: '/m/1', limit: 16, scan: 64, leaseMs: 1000, now: Date.now() });
      assert.match(claim, /Index Scan using operations_claim on operations o/, claim);
      assert.match(claim, /Index Only Scan using operations_running_key on operations r|Index Scan using operations_running_key on operations r/, claim);
      assert.doesNotMatch(claim, /Seq Scan on operations/, claim);
      const insert = await planOf('insert', {
        name: 'operations/new', parent: '', method: '/m/1', owner: 'owner-1', metadataType: null, metadataValue: null,
        requestType: 't', requestValue: Buffer.from([0]), key: null, fingerprint: null, maxAttempts: 3, now: Date.now(),
        callbacks: null, answerStyle: null, runAfter: 0, priority: 0, concurrencyKey: null, timeoutMs: null, startDeadline: null,
      });
      assert.match(insert, /using operations_fair on operations f/, insert);
      assert.match(insert, /using operations_claim on operations h/, insert);
      assert.doesNotMatch(insert, /Seq Scan on operations/, insert);
      const deadlines = await planOf('expireStartDeadlines', { limit: 100, now: Date.now(), errorCode: 4, errorMessage: 'x', errorDetails: null, retention: 1, keyedRetention: 1 });
      assert.match(deadlines, /using operations_start_deadline on operations s/, deadlines);
    } finally {
      await client.end();
      await store.close();
      await database.drop();
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
