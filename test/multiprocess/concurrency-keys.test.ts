/**
 * Concurrency keys across processes: two `longrun runner` processes on one PostgreSQL database run
 * 1,000 operations over 10 keys, and the rows prove that no two operations of one key ever ran at
 * once (each run's start, from the Sleeper's metadata, against the end time of the previous run of
 * its key; both are written on this machine's clock).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BUNDLED_PROTO_FILES } from '../../src/app.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { PostgresOperationStore } from '../../src/store/postgres/store.js';
import { spawnRunner, type ServerProcess } from '../helpers/process.js';
import { stopTestPostgres, testPostgres, type TestDatabase } from '../helpers/postgres.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const OPERATIONS = 1000;
const KEYS = 10;

describe('concurrency keys across processes (PostgreSQL)', { timeout: 240_000 }, () => {
  let database: TestDatabase;
  let sql: pg.Pool;
  let store: PostgresOperationStore;
  const runners: ServerProcess[] = [];
  const registry = new TypeRegistry(BUNDLED_PROTO_FILES, []);

  before(async () => {
    database = await (await testPostgres()).freshDatabase();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
    store = await PostgresOperationStore.open({ url: database.url, retentionMs: 3_600_000, keyedRetentionMs: 86_400_000, poolSize: 4 });
  });

  after(async () => {
    await Promise.all(runners.map((runner) => runner.stop('SIGKILL')));
    await store?.close();
    await sql?.end();
    await database?.drop();
    await stopTestPostgres();
  });

  it('runs 1,000 operations over 10 keys on two runners, never two of one key at once, every one done', async () => {
    const request = registry.pack('longrun.testing.v1.SleepRequest', { duration: { seconds: 0, nanos: 3_000_000 }, steps: 1 });
    const now = Date.now();
    await Promise.all(
      Array.from({ length: OPERATIONS }, (_, i) =>
        store.create({
          name: `operations/${randomBytes(8).toString('hex')}`,
          parent: '',
          method: SLEEP,
          owner: 'default',
          request,
          maxAttempts: 3,
          createTime: now + i,
          concurrencyKey: `key-${i % KEYS}`,
        }),
      ),
    );
    const common = ['--enable-sleeper', '--no-vision', '--poll', '100ms', '--lease', '10s'];
    runners.push(...(await Promise.all([spawnRunner(database.url, common), spawnRunner(database.url, common)])));

    const deadline = Date.now() + 180_000;
    for (;;) {
      const { rows } = await sql.query<{ done: number }>('SELECT count(*)::int AS done FROM longrun.operations WHERE done');
      if (rows[0]!.done === OPERATIONS) break;
      assert.ok(Date.now() < deadline, `only ${rows[0]!.done} of ${OPERATIONS} done in time`);
      await sleep(200);
    }

    const { rows } = await sql.query<{ concurrency_key: string; metadata_value: Buffer; done_time: string; error_code: number | null; attempt: number }>(
      'SELECT concurrency_key, metadata_value, done_time, error_code, attempt FROM longrun.operations',
    );
    assert.equal(rows.length, OPERATIONS);
    assert.deepEqual(rows.filter((row) => row.error_code !== null), [], 'every one succeeded');
    const byKey = new Map<string, { start: number; end: number }[]>();
    for (const row of rows) {
      const metadata = registry.decode<{ startTime: { seconds: string; nanos: number } }>('longrun.testing.v1.SleepMetadata', row.metadata_value);
      const start = Number(metadata.startTime.seconds) * 1000 + Math.floor(metadata.startTime.nanos / 1e6);
      const runs = byKey.get(row.concurrency_key) ?? [];
      runs.push({ start, end: Number(row.done_time) });
      byKey.set(row.concurrency_key, runs);
    }
    assert.equal(byKey.size, KEYS);
    for (const [key, runs] of byKey) {
      runs.sort((x, y) => x.start - y.start);
      for (let i = 1; i < runs.length; i++) {
        assert.ok(runs[i]!.start >= runs[i - 1]!.end, `${key}: a run started at ${runs[i]!.start}, before the previous one ended at ${runs[i - 1]!.end}`);
      }
    }
    // Claims racing for keys settle it among themselves (key try-locks, claiming again), never as a failed claim.
    for (const runner of runners) assert.doesNotMatch(runner.stderr(), /claiming operations failed/, 'no claim failed');
  });
});
