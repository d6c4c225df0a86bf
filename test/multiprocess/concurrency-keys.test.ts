/**
 * Concurrency keys across processes: two `longrun runner` processes on one PostgreSQL database run
 * 1,000 operations over 10 keys, and the rows prove that no two operations of one key ever ran at
 * once (each run's start, from the Sleeper's metadata, against the end time of the previous run of
 * its key; both are written on this machine's clock). Then two runners started with
 * `--concurrency-per-key 2` run operations of a few keys, two of a key at a time and never three.
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

interface Run {
  start: number;
  end: number;
}

describe('concurrency keys across processes (PostgreSQL)', { timeout: 360_000 }, () => {
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

  /** `count` Sleeps of 3 ms, round-robin over `keys` keys named `prefix`-i. */
  async function createSleeps(count: number, keys: number, prefix: string): Promise<void> {
    const request = registry.pack('longrun.testing.v1.SleepRequest', { duration: { seconds: 0, nanos: 3_000_000 }, steps: 1 });
    const now = Date.now();
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        store.create({
          name: `operations/${randomBytes(8).toString('hex')}`,
          parent: '',
          method: SLEEP,
          owner: 'default',
          request,
          maxAttempts: 3,
          createTime: now + i,
          concurrencyKey: `${prefix}-${i % keys}`,
        }),
      ),
    );
  }

  /** Waits until every operation of keys `prefix`-* is done (each a success), then returns their runs by key. */
  async function runsByKey(count: number, prefix: string): Promise<Map<string, Run[]>> {
    const ofPrefix = `FROM longrun.operations WHERE concurrency_key LIKE '${prefix}-%'`;
    const deadline = Date.now() + 180_000;
    for (;;) {
      const { rows } = await sql.query<{ done: number }>(`SELECT count(*)::int AS done ${ofPrefix} AND done`);
      if (rows[0]!.done === count) break;
      assert.ok(Date.now() < deadline, `only ${rows[0]!.done} of ${count} done in time`);
      await sleep(200);
    }
    const { rows } = await sql.query<{ concurrency_key: string; metadata_value: Buffer; done_time: string; error_code: number | null }>(
      `SELECT concurrency_key, metadata_value, done_time, error_code ${ofPrefix}`,
    );
    assert.equal(rows.length, count);
    assert.deepEqual(rows.filter((row) => row.error_code !== null), [], 'every one succeeded');
    const byKey = new Map<string, Run[]>();
    for (const row of rows) {
      const metadata = registry.decode<{ startTime: { seconds: string; nanos: number } }>('longrun.testing.v1.SleepMetadata', row.metadata_value);
      const start = Number(metadata.startTime.seconds) * 1000 + Math.floor(metadata.startTime.nanos / 1e6);
      const runs = byKey.get(row.concurrency_key) ?? [];
      runs.push({ start, end: Number(row.done_time) });
      byKey.set(row.concurrency_key, runs);
    }
    return byKey;
  }

  /** The most runs of one key that overlapped at any moment (one ending as another starts do not). */
  function mostAtOnce(runs: readonly Run[]): number {
    const events = runs.flatMap((run) => [{ at: run.start, change: 1 }, { at: run.end, change: -1 }]);
    // Ends first at equal times: a run may start the moment another's end is written.
    events.sort((x, y) => x.at - y.at || x.change - y.change);
    let running = 0;
    let most = 0;
    for (const event of events) most = Math.max(most, (running += event.change));
    return most;
  }

  const common = ['--enable-sleeper', '--no-vision', '--poll', '100ms', '--lease', '10s'];

  it('runs 1,000 operations over 10 keys on two runners, never two of one key at once, every one done', async () => {
    await createSleeps(OPERATIONS, KEYS, 'key');
    const pair = await Promise.all([spawnRunner(database.url, common), spawnRunner(database.url, common)]);
    runners.push(...pair);
    const byKey = await runsByKey(OPERATIONS, 'key');
    assert.equal(byKey.size, KEYS);
    for (const [key, runs] of byKey) {
      runs.sort((x, y) => x.start - y.start);
      for (let i = 1; i < runs.length; i++) {
        assert.ok(runs[i]!.start >= runs[i - 1]!.end, `${key}: a run started at ${runs[i]!.start}, before the previous one ended at ${runs[i - 1]!.end}`);
      }
    }
    // Claims racing for keys settle it among themselves (key try-locks, claiming again), never as a failed claim.
    for (const runner of pair) assert.doesNotMatch(runner.stderr(), /claiming operations failed/, 'no claim failed');
    await Promise.all(pair.map((runner) => runner.stop()));
  });

  it('runs two of one key at once with --concurrency-per-key 2 on two runners, never three, every one done', async () => {
    const count = 600;
    await createSleeps(count, 6, 'pair');
    const pair = await Promise.all([0, 1].map(() => spawnRunner(database.url, [...common, '--concurrency-per-key', '2'])));
    runners.push(...pair);
    const byKey = await runsByKey(count, 'pair');
    assert.equal(byKey.size, 6);
    const most = [...byKey].map(([key, runs]) => [key, mostAtOnce(runs)] as const);
    assert.ok(most.every(([, n]) => n <= 2), `never more than two of one key at once: ${JSON.stringify(most)}`);
    assert.ok(most.some(([, n]) => n === 2), `two of one key did run at once: ${JSON.stringify(most)}`);
    for (const runner of pair) assert.doesNotMatch(runner.stderr(), /claiming operations failed/, 'no claim failed');
  });
});
