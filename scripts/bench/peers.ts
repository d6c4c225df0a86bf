/**
 * longrun against job queues at their best (`npm run bench -- peers`), all in one run, alternating:
 * - pg-boss 12 (PostgreSQL): `batchSize` 250, `localConcurrency` 4, `burstWhenBatchFull`, a
 *   `notify` queue with `useListenNotify`, inserts in batches of 1,000;
 * - graphile-worker (PostgreSQL): the settings of its performance page (`concurrentJobs` 24,
 *   `maxPoolSize` 25, `localQueue.size` 500, completions and failures batched with delay 0),
 *   `addJobs` in batches of 1,000;
 * - BullMQ (Redis): `addBulk` of 1,000, one Worker of concurrency 100, finished jobs removed.
 * longrun runs its embedding API twice over: on SQLite (a file) and on the same PostgreSQL server
 * as the PostgreSQL peers, each with `create` (1,000 in flight) and `createMany` (batches of 1,000).
 *
 * Each contestant gives two rates over the same number of no-op jobs:
 * - end to end: workers running, jobs inserted, timed from the first insert to the last job done;
 * - processing alone: jobs inserted with no worker running, then workers started, timed from the
 *   start to the last job done.
 * Rounds alternate every contestant (the order rotates each round); the figure is the median.
 *
 * The PostgreSQL server: BENCH_PG_URL (or LONGRUN_TEST_PG_URL), a superuser URL, else a throwaway
 * embedded cluster (fsync off); the bench prints which, and whether fsync is on. Redis:
 * LONGRUN_BENCH_REDIS_URL (default redis://127.0.0.1:6379); without one, BullMQ is reported absent.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createLongrun, type Longrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { stopTestPostgres, testPostgres, type TestPostgres } from '../../test/helpers/postgres.js';
import { fmt, inWindow, percentile, scaled } from './measure.js';

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
/** The installed version (not every peer exports its package.json); from dist/scripts/bench/. */
const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(new URL(`../../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
/** Inserts per call for every contestant that inserts in batches. */
const BATCH = 1000;

export interface PeersBenchDeps {
  report(line: string): void;
  work: string;
}

interface Rates {
  endToEnd: number;
  processing: number;
}

interface Contestant {
  name: string;
  /** Runs `total` no-op jobs end to end, then `total` more for processing alone. */
  run(total: number): Promise<Rates>;
}

export async function peersBench({ report, work }: PeersBenchDeps): Promise<void> {
  if (process.env.BENCH_PG_URL) process.env.LONGRUN_TEST_PG_URL = process.env.BENCH_PG_URL;
  const total = scaled(20_000, 200);
  // Five rounds unless the bench runs at a test's scale (BENCH_SCALE below 0.1).
  const rounds = total >= 2000 ? 5 : 1;
  const postgres = await testPostgres();
  try {
    const [server] = await postgres.admin<{ version: string; fsync: string }>(
      "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync",
    );
    const where = process.env.LONGRUN_TEST_PG_URL ? 'the server at BENCH_PG_URL/LONGRUN_TEST_PG_URL' : 'a throwaway embedded cluster';
    report(
      `peers: ${total} no-op jobs a measure, ${rounds} alternating rounds; PostgreSQL ${server!.version} (${where}, fsync ${server!.fsync}) shared by every PostgreSQL contestant`,
    );
    const redisUrl = process.env.LONGRUN_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const redis = await redisReachable(redisUrl);
    if (redis !== true) report(`peers: BullMQ absent: no Redis at ${redisUrl} (${redis}); set LONGRUN_BENCH_REDIS_URL to include it`);

    let seq = 0;
    const contestants: Contestant[] = [
      longrunContestant('longrun SQLite create', false, () => join(work, `peers-${seq++}.db`)),
      longrunContestant('longrun SQLite createMany', true, () => join(work, `peers-${seq++}.db`)),
      longrunContestant('longrun PostgreSQL create', false, async () => (await postgres.freshDatabase()).url),
      longrunContestant('longrun PostgreSQL createMany', true, async () => (await postgres.freshDatabase()).url),
      await pgBossContestant(postgres),
      await graphileContestant(postgres),
      ...(redis === true ? [bullmqContestant(redisUrl)] : []),
    ];
    const results = new Map<string, Rates[]>(contestants.map((c) => [c.name, []]));
    for (const contestant of contestants) await contestant.run(Math.max(200, Math.round(total / 10))); // warm-up
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < contestants.length; i++) {
        const contestant = contestants[(i + round) % contestants.length]!;
        results.get(contestant.name)!.push(await contestant.run(total));
      }
    }
    const medians = new Map(
      [...results].map(([name, rates]) => [name, { endToEnd: median(rates.map((r) => r.endToEnd)), processing: median(rates.map((r) => r.processing)) }]),
    );
    for (const [name, rates] of results) {
      const m = medians.get(name)!;
      report(
        `peers, ${name}: end to end ${fmt(m.endToEnd, 0)}/s (rounds ${rates.map((r) => fmt(r.endToEnd, 0)).join(', ')}); ` +
          `processing alone ${fmt(m.processing, 0)}/s (rounds ${rates.map((r) => fmt(r.processing, 0)).join(', ')})`,
      );
    }
    // The targets: longrun's create-to-done against the best peer of its backend, per round.
    const ratioLine = (ours: string, peers: string[]) => {
      const present = peers.filter((p) => results.has(p));
      const mine = results.get(ours)!;
      const against = (pick: (r: Rates) => number) =>
        median(mine.map((r, round) => r.endToEnd / Math.max(...present.map((p) => pick(results.get(p)![round]!)))));
      report(
        `peers ratio, ${ours} end to end against the best of ${present.join(' and ')}: ${fmt(against((r) => r.endToEnd))} of its end-to-end rate (target >= 1.5), ` +
          `${fmt(against((r) => r.processing))} of its processing-alone rate (target >= 1.0)`,
      );
    };
    const sqlitePeers = [PG_BOSS, ...(redis === true ? [BULLMQ] : [])];
    const pgPeers = [PG_BOSS, GRAPHILE];
    ratioLine('longrun SQLite create', sqlitePeers);
    ratioLine('longrun SQLite createMany', sqlitePeers);
    ratioLine('longrun PostgreSQL create', pgPeers);
    ratioLine('longrun PostgreSQL createMany', pgPeers);
  } finally {
    await stopTestPostgres();
  }
}

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** Runs `go` and returns jobs per second from its start until `finished` resolves. */
async function timed(total: number, go: () => Promise<unknown>, finished: Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await go();
  await finished;
  return total / ((performance.now() - t0) / 1000);
}

/** A promise resolved by the `total`-th call of `tick`. */
function counter(total: number): { tick(n?: number): void; done: Promise<void> } {
  let count = 0;
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  return {
    tick: (n = 1) => {
      count += n;
      if (count >= total) resolve();
    },
    done,
  };
}

function longrunContestant(name: string, many: boolean, database: () => string | Promise<string>): Contestant {
  const request = { duration: { seconds: 0, nanos: 0 }, steps: 0 };
  const open = async (): Promise<Longrun> => {
    const path = await database();
    const postgres = path.startsWith('postgres');
    const longrun = await createLongrun({ databasePath: path, logger: silent, ...(postgres && { pgPoolSize: 10 }) });
    // 1,000 on PostgreSQL: more rows per claim and per completion statement (1.2-1.45x the rate of 250 here).
    longrun.method(SLEEP_METHOD, async () => ({}), { concurrency: postgres ? 1000 : 512 });
    return longrun;
  };
  const insert = async (longrun: Longrun, total: number, each: (name: string) => void) => {
    if (many) {
      for (let i = 0; i < total; i += BATCH) {
        const operations = await longrun.createMany(SLEEP_METHOD, Array.from({ length: Math.min(BATCH, total - i) }, () => request));
        for (const operation of operations) each(operation.name);
      }
    } else {
      await inWindow(total, BATCH, async () => each((await longrun.create(SLEEP_METHOD, request)).name));
    }
  };
  return {
    name,
    async run(total) {
      const first = await open();
      first.start();
      const e2e = counter(total);
      const endToEnd = await timed(total, () => insert(first, total, (n) => first.events.onceDone(n, () => e2e.tick())), e2e.done);
      await first.close(0);
      const second = await open();
      const alone = counter(total);
      await insert(second, total, (n) => second.events.onceDone(n, () => alone.tick()));
      const processing = await timed(total, async () => second.start(), alone.done);
      await second.close(0);
      return { endToEnd, processing };
    },
  };
}

const PG_BOSS = `pg-boss ${versionOf('pg-boss')}`;
const GRAPHILE = `graphile-worker ${versionOf('graphile-worker')}`;
const BULLMQ = `BullMQ ${versionOf('bullmq')}`;

async function pgBossContestant(postgres: TestPostgres): Promise<Contestant> {
  const { PgBoss } = await import('pg-boss');
  let seq = 0;
  return {
    name: PG_BOSS,
    async run(total) {
      const url = (await postgres.freshDatabase()).url;
      const measure = async (workersFirst: boolean) => {
        const boss = new PgBoss({ connectionString: url, max: 10, useListenNotify: true, schedule: false, supervise: false });
        boss.on('error', () => undefined);
        await boss.start();
        const queue = `noop${seq++}`;
        await boss.createQueue(queue, { notify: true });
        const processed = counter(total);
        const work = () =>
          boss.work(queue, { batchSize: 250, localConcurrency: 4, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 }, async (jobs) => {
            processed.tick(jobs.length);
          });
        const insert = async () => {
          for (let i = 0; i < total; i += BATCH) {
            await boss.insert(queue, Array.from({ length: Math.min(BATCH, total - i) }, () => ({ data: {} })));
          }
        };
        let rate: number;
        if (workersFirst) {
          await work();
          rate = await timed(total, insert, processed.done);
        } else {
          await insert();
          rate = await timed(total, work, processed.done);
        }
        await boss.stop({ graceful: false });
        return rate;
      };
      return { endToEnd: await measure(true), processing: await measure(false) };
    },
  };
}

async function graphileContestant(postgres: TestPostgres): Promise<Contestant> {
  const { run, makeWorkerUtils } = await import('graphile-worker');
  let seq = 0;
  const preset = {
    worker: { concurrentJobs: 24, maxPoolSize: 25, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
  };
  const { Logger } = await import('@graphile/logger');
  const logger = new Logger(() => () => undefined);
  return {
    name: GRAPHILE,
    async run(total) {
      const url = (await postgres.freshDatabase()).url;
      const utils = await makeWorkerUtils({ connectionString: url, logger });
      await utils.migrate();
      const measure = async (workersFirst: boolean) => {
        const task = `noop${seq++}`;
        const processed = counter(total);
        const start = () =>
          run({ connectionString: url, logger, noHandleSignals: true, preset, taskList: { [task]: async () => processed.tick() } });
        const insert = async () => {
          for (let i = 0; i < total; i += BATCH) {
            await utils.addJobs(Array.from({ length: Math.min(BATCH, total - i) }, () => ({ identifier: task, payload: {} })));
          }
        };
        let runner: Awaited<ReturnType<typeof run>>;
        let rate: number;
        if (workersFirst) {
          runner = await start();
          rate = await timed(total, insert, processed.done);
        } else {
          await insert();
          rate = await timed(total, async () => (runner = await start()), processed.done);
        }
        await runner!.stop();
        return rate;
      };
      const rates = { endToEnd: await measure(true), processing: await measure(false) };
      await utils.release();
      return rates;
    },
  };
}

function bullmqContestant(redisUrl: string): Contestant {
  let seq = 0;
  return {
    name: BULLMQ,
    async run(total) {
      const { Queue, Worker } = await import('bullmq');
      const { Redis } = await import('ioredis');
      // BullMQ leaves connections it was handed open: they are closed here after each measure.
      const connections: InstanceType<typeof Redis>[] = [];
      const connection = () => {
        const made = new Redis(redisUrl, { maxRetriesPerRequest: null });
        connections.push(made);
        return made;
      };
      const measure = async (workersFirst: boolean) => {
        const name = `longrun-bench-${process.pid}-${seq++}`;
        const queue = new Queue(name, { connection: connection() });
        const processed = counter(total);
        let worker: { close(force: boolean): Promise<void> } | undefined;
        const start = async () => {
          const started = new Worker(name, async () => processed.tick(), {
            connection: connection(),
            concurrency: 100,
            removeOnComplete: { count: 0 },
            removeOnFail: { count: 0 },
          });
          worker = started;
          await started.waitUntilReady();
        };
        const insert = async () => {
          for (let i = 0; i < total; i += BATCH) {
            await queue.addBulk(Array.from({ length: Math.min(BATCH, total - i) }, () => ({ name: 'noop', data: {} })));
          }
        };
        let rate: number;
        if (workersFirst) {
          await start();
          rate = await timed(total, insert, processed.done);
        } else {
          await insert();
          rate = await timed(total, start, processed.done);
        }
        await worker!.close(true);
        await queue.obliterate({ force: true });
        await queue.close();
        await Promise.all(connections.splice(0).map((c) => c.quit()));
        return rate;
      };
      return { endToEnd: await measure(true), processing: await measure(false) };
    },
  };
}

/** true, or why not. */
async function redisReachable(url: string): Promise<true | string> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch (error) {
    return (error as Error).message;
  } finally {
    client.disconnect();
  }
}
