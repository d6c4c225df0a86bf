/** What is particular to the PostgreSQL store: migrating under a lock, connection names, errors in words. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { migrations } from '../../src/store/postgres/migrations/index.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { prepareStatements, valuesOf } from '../../src/store/postgres/statements.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { eventually } from '../helpers/wait.js';

after(() => stopTestPostgres());

const retention = { retentionMs: 3_600_000, keyedRetentionMs: 86_400_000 };

interface PlanNode {
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Heap Fetches'?: number;
  Plans?: PlanNode[];
}

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
      assert.deepEqual(rows.map((row) => row.version), migrations.map((migration) => migration.version));
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

  it('claims, places new operations in the fair queue (once per principal in a batch) and finds start deadlines through index seeks', async () => {
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
      // Three running operations of key k5 (all of /m/1) in slots 0 to 2, as a claim allowing three would leave them.
      await client.query(`UPDATE longrun.operations SET lease_holder = 'r', lease_expires_at = 9e15, attempt = 1,
          running_key = CASE name WHEN 'operations/105' THEN 'k5' WHEN 'operations/805' THEN 'k5' || chr(31) || '1' ELSE 'k5' || chr(31) || '2' END
        WHERE name IN ('operations/105', 'operations/805', 'operations/1505')`);
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
      const claimParams = { holder: 'h', method: '/m/1', limit: 16, scan: 64, leaseMs: 1000, now: Date.now() };
      // A method with due work walks the claim index in claim order (one with none may take a bitmap scan of its nothing).
      const claim = await planOf('claim', { ...claimParams, method: '/m/0' });
      assert.match(claim, /Index Scan using operations_claim on operations o/, claim);
      // Scheduled operations are sought up to now (a plain or a bitmap index scan, as the planner likes;
      // now a parameter or an init plan computed once).
      assert.match(claim, /Index Scan (using|on) operations_scheduled[^\n]*\n\s+Index Cond: \(\(method = '\/m\/0'::text\) AND \(run_after > 0\) AND \(run_after <= (\$\d+|\(InitPlan \d+\)\.col1)\)\)/, claim);
      // '/m/1' has 12,500 operations, none due (a start time to come): the claim must read none of
      // them, where one index over all would walk every one before giving up.
      const read = await rowsReadByClaimScans(client, statements.claim, valuesOf(statements.claim, claimParams));
      assert.ok(read <= 2, `the claim read ${read} rows of its indexes`);
      // '/m/0' has 1,250 due among 11,250 to come, in every priority: the claim reads about its `scan` of them.
      const due = await rowsReadByClaimScans(client, statements.claim, valuesOf(statements.claim, { ...claimParams, method: '/m/0' }));
      assert.ok(due <= 2 * 64 + 2, `the claim read ${due} rows of its indexes`);
      // A key is looked up in the unique index: slot 0 by one seek (a limit of one needs no more).
      assert.match(claim, /Index (Only )?Scan using operations_running_key on operations r[^\n]*\n\s+Index Cond: \(running_key = o\.concurrency_key\)/, claim);
      assert.doesNotMatch(claim, /Seq Scan on operations/, claim);
      // A method allowing three per key: the same walks, a key's held slots counted in its range, each slot tried by one seek.
      const slotParams = { ...claimParams, method: '/m/1', keyLimit: 3 };
      const slots = await planOf('claimSlots', { ...slotParams, method: '/m/0' });
      assert.match(slots, /Index Scan using operations_claim on operations o/, slots);
      assert.match(slots, /Index Scan (using|on) operations_scheduled/, slots);
      assert.match(slots, /Index (Only )?Scan using operations_running_key on operations r[^\n]*\n\s+Index Cond: \(running_key = o\.concurrency_key\)/, slots);
      assert.match(slots, /Index (Only )?Scan using operations_running_key on operations r_\d[^\n]*\n\s+Index Cond: \(\(running_key >= o\.concurrency_key\) AND /, slots);
      // (the planner may count the range through a bitmap of the same index: still one seek)
      assert.match(
        slots,
        /(Index (Only )?Scan using operations_running_key on operations h|Bitmap Heap Scan on operations h[^\n]*\n[^\n]*Recheck Cond[^\n]*\n\s+->\s+Bitmap Index Scan on operations_running_key)[^\n]*\n\s+Index Cond: \(\(running_key >= c\.concurrency_key\) AND /,
        slots,
      );
      assert.match(slots, /Index (Only )?Scan using operations_running_key on operations h_1[^\n]*\n\s+Index Cond: \(running_key = CASE /, slots);
      assert.doesNotMatch(slots, /Seq Scan on operations/, slots);
      assert.ok((await rowsReadByClaimScans(client, statements.claimSlots, valuesOf(statements.claimSlots, slotParams))) <= 2, 'none due of /m/1');
      const slotsDue = await rowsReadByClaimScans(client, statements.claimSlots, valuesOf(statements.claimSlots, { ...slotParams, method: '/m/0' }));
      assert.ok(slotsDue <= 2 * 64 + 2, `the claim read ${slotsDue} rows of its indexes`);
      const insert = await planOf('insert', {
        name: 'operations/new', parent: '', method: '/m/1', owner: 'owner-1', metadataType: null, metadataValue: null,
        requestType: 't', requestValue: Buffer.from([0]), key: null, fingerprint: null, maxAttempts: 3, now: Date.now(),
        callbacks: null, answerStyle: null, runAfter: 0, priority: 0, concurrencyKey: null, timeoutMs: null, startDeadline: null, traceContext: null, rerunOf: null,
      });
      assert.match(insert, /using operations_fair on operations f/, insert);
      assert.match(insert, /using operations_claim on operations h/, insert);
      assert.doesNotMatch(insert, /Seq Scan on operations/, insert);
      // A group-committed batch reads each principal's place once, before inserting: read per row
      // while inserting, each read stepped over the entries of the rows inserted before it (n²/2).
      const batch = Array.from({ length: 500 }, (_, i) => ({ owner: i < 400 ? 'owner-1' : 'owner-2', name: `operations/batch-${i}` }));
      const column = <T>(value: (i: number) => T) => batch.map((_, i) => value(i));
      const fairReads = await indexReads(client, 'operations_fair', statements.insertMany, valuesOf(statements.insertMany, {
        origin: 'x', names: column((i) => batch[i]!.name), parents: column(() => ''), methods: column(() => '/m/1'), owners: column((i) => batch[i]!.owner),
        metadataTypes: column(() => null), metadataValues: column(() => null), requestTypes: column(() => 't'), requestValues: column(() => Buffer.from([0])),
        keys: column(() => null), fingerprints: column(() => null), maxAttempts: column(() => 3), createTimes: column((i) => Date.now() + i),
        callbacks: column(() => null), answerStyles: column(() => null), runAfters: column(() => 0), priorities: column(() => 0),
        concurrencyKeys: column(() => null), timeouts: column(() => null), startDeadlines: column(() => null), traceContexts: column(() => null), rerunOfs: column(() => null),
      }));
      assert.equal(fairReads.loops, 2, 'one read of the fair-share index per principal');
      assert.ok(fairReads.heapFetches <= 10, `the batch's fair-share reads fetched ${fairReads.heapFetches} heap rows`);
      const deadlines = await planOf('expireStartDeadlines', { limit: 100, now: Date.now(), errorCode: 4, errorMessage: 'x', errorDetails: null, retention: 1, keyedRetention: 1 });
      assert.match(deadlines, /using operations_start_deadline on operations s/, deadlines);
    } finally {
      await client.end();
      await store.close();
      await database.drop();
    }
  });

  /** Scans of `index` by a statement, and heap rows they fetched, by EXPLAIN ANALYZE in a transaction rolled back. */
  async function indexReads(client: pg.Client, index: string, statement: { text: string }, values: unknown[]): Promise<{ loops: number; heapFetches: number }> {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, values);
      const reads = { loops: 0, heapFetches: 0 };
      const visit = (node: PlanNode) => {
        if (node['Index Name'] === index) {
          reads.loops += node['Actual Loops'];
          reads.heapFetches += node['Heap Fetches'] ?? 0;
        }
        for (const child of node.Plans ?? []) visit(child);
      };
      visit(rows[0]!['QUERY PLAN'][0].Plan);
      return reads;
    } finally {
      await client.query('ROLLBACK');
    }
  }

  /** Rows the claim's index scans read (returned or filtered out), by EXPLAIN ANALYZE in a transaction rolled back. */
  async function rowsReadByClaimScans(client: pg.Client, statement: { text: string }, values: unknown[]): Promise<number> {
    await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, values);
      let read = 0;
      const visit = (node: PlanNode) => {
        if (node['Index Name'] === 'operations_claim' || node['Index Name'] === 'operations_scheduled') {
          read += (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops'];
        }
        for (const child of node.Plans ?? []) visit(child);
      };
      visit(rows[0]!['QUERY PLAN'][0].Plan);
      return read;
    } finally {
      await client.query('ROLLBACK');
    }
  }

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

describe('PostgresOperationStore: a database in trouble is UNAVAILABLE, never INTERNAL', { timeout: 180_000 }, () => {
  const newOperation = (name: string) => ({
    name,
    parent: '',
    method: '/m',
    owner: 'o',
    request: { typeUrl: 'type.googleapis.com/x', value: new Uint8Array() },
    maxAttempts: 1,
    createTime: Date.now(),
  });
  /**
   * The store's call rejects UNAVAILABLE with `pattern` in its message. A pooled connection the test
   * just had the server end may still be handed out once (its error arrives asynchronously) and fail
   * with "restarting or shutting down": such a call is made again.
   */
  const rejectsUnavailable = async (call: () => Promise<unknown>, pattern: RegExp) => {
    for (let attempt = 1; ; attempt++) {
      const error = await call().then(
        () => assert.fail(`resolved; expected UNAVAILABLE matching ${pattern}`),
        (error: unknown) => error,
      );
      assert.ok(error instanceof LongrunError, `a LongrunError, not ${String(error)}`);
      assert.deepEqual([error.code, error.reason], [Code.UNAVAILABLE, 'STORE_UNAVAILABLE']);
      if (pattern.test(error.message)) return;
      assert.ok(attempt < 5 && /restarting or shutting down|connection to PostgreSQL was lost/.test(error.message), error.message);
    }
  };

  it('read-only after a failover (25006), a statement timeout (57014), an admin shutdown (57P01), too many connections (53300)', async () => {
    const server = await testPostgres();
    const database = await server.freshDatabase();
    // Connection limits bind roles that are not superusers: the store connects as one.
    const role = `longrun_limited_${database.name}`.slice(0, 63);
    await server.admin(`CREATE ROLE "${role}" LOGIN PASSWORD 'limited'`);
    const onDatabase = new pg.Client({ connectionString: database.url });
    await onDatabase.connect();
    await onDatabase.query(`GRANT ALL ON DATABASE "${database.name}" TO "${role}"; GRANT ALL ON SCHEMA longrun TO "${role}";
      GRANT ALL ON ALL TABLES IN SCHEMA longrun TO "${role}"; GRANT ALL ON ALL SEQUENCES IN SCHEMA longrun TO "${role}"`);
    await onDatabase.end();
    const url = new URL(database.url);
    url.username = role;
    url.password = 'limited';
    const store = await PostgresOperationStore.open({ url: url.toString(), ...retention, poolSize: 1, connectTimeoutMs: 2000 });
    const dropConnections = () => server.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database.name]);
    try {
      await server.admin(`ALTER DATABASE "${database.name}" SET default_transaction_read_only = on`);
      await dropConnections();
      await rejectsUnavailable(() => store.create(newOperation('operations/read-only')), /PostgreSQL is read-only/);
      await server.admin(`ALTER DATABASE "${database.name}" RESET default_transaction_read_only`);
      await dropConnections();
      await eventually(async () => (await store.create(newOperation('operations/writable')).catch(() => undefined))?.created === true, 'writes again');

      await server.admin(`ALTER DATABASE "${database.name}" SET statement_timeout = '300ms'`);
      await dropConnections();
      const blocker = new pg.Client({ connectionString: database.url, statement_timeout: 0 });
      blocker.on('error', () => undefined);
      await blocker.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE longrun.operations IN ACCESS EXCLUSIVE MODE');
        await rejectsUnavailable(() => store.get('operations/writable', Date.now()), /statement_timeout/);
        await server.admin(`ALTER DATABASE "${database.name}" RESET statement_timeout`);
        await server.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
        // The admin ends the backend of a statement in progress (the pool's connection, waiting for the lock).
        let waiting: Promise<unknown> | undefined;
        await eventually(async () => {
          waiting ??= store.get('operations/writable', Date.now()).then(
            () => assert.fail('the get was not ended'),
            (error: unknown) => error,
          );
          return (await server.admin(`SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'`, [role])).length > 0;
        }, 'the get to wait for the lock');
        await server.admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND wait_event_type = 'Lock'`, [role]);
        const ended = await waiting;
        assert.ok(ended instanceof LongrunError);
        assert.deepEqual([ended.code, ended.reason], [Code.UNAVAILABLE, 'STORE_UNAVAILABLE']);
        assert.match(ended.message, /restarting or shutting down|connection to PostgreSQL was lost/);
      } finally {
        await blocker.end().catch(() => undefined);
      }

      await server.admin(`ALTER ROLE "${role}" CONNECTION LIMIT 0`);
      await dropConnections();
      await rejectsUnavailable(() => store.get('operations/writable', Date.now()), /no connection slots left/);
      await server.admin(`ALTER ROLE "${role}" CONNECTION LIMIT -1`);
      await eventually(async () => (await store.get('operations/writable', Date.now()).catch(() => undefined))?.name === 'operations/writable', 'reads again');
    } finally {
      await store.close();
      await database.drop();
      await server.admin(`DROP ROLE IF EXISTS "${role}"`);
    }
  });
});
