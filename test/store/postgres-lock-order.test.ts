/**
 * The batched heartbeat and the batched completion lock rows in name order (src/store/sql/lock-order.ts),
 * so two batches over the same rows never wait on each other in a cycle. The test stages the cycle
 * that order prevents: a third transaction holds one row, the heartbeat takes what it can and waits
 * on it, and a completion of the same rows given in the opposite order starts meanwhile. Locking in
 * the order given, the completion would hold a row the heartbeat waits for and wait for one the
 * heartbeat holds: PostgreSQL would abort one of them with a deadlock (40P01).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { Code } from '../../src/domain/errors.js';
import type { Lease } from '../../src/domain/operation.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { eventually } from '../helpers/wait.js';

after(() => stopTestPostgres());

const METHOD = '/longrun.testing.v1.Sleeper/Sleep';
const retention = { retentionMs: 3_600_000, keyedRetentionMs: 86_400_000 };

describe('PostgreSQL: batched heartbeat and completion lock rows in name order', { timeout: 60_000 }, () => {
  it('never deadlock, whatever order each batch lists the rows in', async () => {
    const database = await (await testPostgres()).freshDatabase();
    const store = await PostgresOperationStore.open({ url: database.url, ...retention, poolSize: 4 });
    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      for (const id of ['a', 'b', 'c']) {
        await store.create({
          name: `operations/${id}`, parent: '', method: METHOD, owner: 'default', maxAttempts: 3, createTime: Date.now(),
          request: { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepRequest', value: new Uint8Array() },
        });
      }
      const waiting = async () =>
        (await blocker.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0]!.n;
      const claimed = await store.claim({ holder: 'h', method: METHOD, limit: 3, leaseMs: 60_000, now: Date.now() });
      const lease = (id: string): Lease => ({ name: `operations/${id}`, holder: 'h', attempt: claimed.find((op) => op.name === `operations/${id}`)!.attempt });
      // Enough other rows that the planner looks each name up by index, in the order the batch gives.
      await blocker.query(`INSERT INTO longrun.operations (name, parent, method, owner, request_type, request_value, max_attempts,
          create_time, update_time, done, expire_time, error_code)
        SELECT 'operations/z' || i, '', '${METHOD}', 'default', 't', '\\x00', 3, i, i, true, 9e15, 2 FROM generate_series(1, 5000) i`);
      await blocker.query('ANALYZE longrun.operations');
      // Connections opened now: a connection opening while rows are locked waits to start.
      await Promise.all([1, 2, 3].map(() => store.countByState(Date.now())));
      await blocker.query('BEGIN');
      await blocker.query("SELECT 1 FROM longrun.operations WHERE name = 'operations/c' FOR UPDATE");
      // Given a, c, b: in the order given it would hold a and wait on c; in name order, a and b.
      const heartbeat = store.heartbeat([lease('a'), lease('c'), lease('b')], 60_000, Date.now());
      await eventually(async () => (await waiting()) === 1, 'the heartbeat waits on the held row');
      const error = { code: Code.UNAVAILABLE, message: 'x', details: [] };
      // Given b, a: in the order given it would take b and wait on a, which the heartbeat holds.
      const completion = store.complete([{ lease: lease('b'), outcome: { error } }, { lease: lease('a'), outcome: { error } }], Date.now());
      await eventually(async () => (await waiting()) === 2, 'the completion waits too');
      await blocker.query('COMMIT');
      const [beat, completed] = await Promise.all([heartbeat, completion]);
      assert.deepEqual(beat.lost, []);
      assert.deepEqual(completed, [true, true], 'a heartbeat changes nothing a completion is fenced on');
    } finally {
      await blocker.end();
      await store.close();
      await database.drop();
    }
  });
});
