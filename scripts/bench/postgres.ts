/**
 * PostgreSQL figures (`npm run bench -- postgres`), each against a baseline from the same run:
 * - create-to-done through the embedding API with a no-op handler, against pg-boss creating and
 *   processing the same number of no-op jobs on the same database (batched insert, batchSize 250,
 *   4 local workers);
 * - cross-process wake (handler end in runner C to WaitOperation reply on server B) and cancel
 *   (CancelOperation on B to the end in C), p50/p99, absolute;
 * - GetOperation server CPU on PostgreSQL against a no-op grpc-js handler (via `getOperationCpu`).
 * The database: BENCH_PG_URL / LONGRUN_TEST_PG_URL (a superuser URL) or a throwaway embedded cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { createLongrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { stopTestPostgres, testPostgres } from '../../test/helpers/postgres.js';
import { cpuSecondsOf, fmt, inWindow, percentile, scaled } from './measure.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

export interface PostgresBenchDeps {
  report(line: string): void;
  /** Runs the GetOperation CPU figure against a bench server on `databaseUrl`. */
  getOperationCpu(databaseUrl: string): Promise<void>;
  /** A bench server process (`server.js longrun`: runner and no-op Sleep) on `databaseUrl`. */
  startServer(databaseUrl: string): Promise<{ port: number; pid: number; stop(): Promise<void> }>;
}

export async function postgresBench(deps: PostgresBenchDeps): Promise<void> {
  if (process.env.BENCH_PG_URL) process.env.LONGRUN_TEST_PG_URL = process.env.BENCH_PG_URL;
  const server = await testPostgres();
  try {
    await createToDone(deps, (await server.freshDatabase()).url);
    await crossProcess(deps, (await server.freshDatabase()).url);
    await deps.getOperationCpu((await server.freshDatabase()).url);
    await oneVersusTwoServers(deps, (await server.freshDatabase()).url);
  } finally {
    await stopTestPostgres();
  }
}

async function createToDone({ report }: PostgresBenchDeps, url: string): Promise<void> {
  const total = scaled(5000, 100);
  // longrun: created through the embedding API, run by its own runner, no-op handler.
  const longrun = await createLongrun({ databasePath: url, logger: silent, pollMs: 1000, pgPoolSize: 10 });
  longrun.method(SLEEP_METHOD, async () => ({}), { concurrency: 250 });
  longrun.start();
  let done = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));
  const t0 = performance.now();
  await inWindow(total, 256, async () => {
    const operation = await longrun.create(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 0 });
    longrun.events.onceDone(operation.name, () => ++done === total && allDone());
  });
  await finished;
  const longrunRate = total / ((performance.now() - t0) / 1000);
  await longrun.close(1000);

  // pg-boss: the same number of no-op jobs, batched inserts, batchSize 250, 4 local workers.
  const boss = new PgBoss({ connectionString: url, max: 10 });
  boss.on('error', () => undefined);
  await boss.start();
  await boss.createQueue('noop');
  let processed = 0;
  let bossDone!: () => void;
  const bossFinished = new Promise<void>((resolve) => (bossDone = resolve));
  const b0 = performance.now();
  for (let worker = 0; worker < 4; worker++) {
    await boss.work('noop', { batchSize: 250, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      processed += jobs.length;
      if (processed >= total) bossDone();
    });
  }
  for (let i = 0; i < total; i += 1000) {
    await boss.insert(Array.from({ length: Math.min(1000, total - i) }, () => ({ name: 'noop', data: {} })));
  }
  await bossFinished;
  const bossRate = total / ((performance.now() - b0) / 1000);
  await boss.stop({ graceful: false, wait: true });
  report(
    `PostgreSQL create-to-done, ${total} no-op operations: longrun ${fmt(longrunRate, 0)}/s (embedding API, 256 in flight) vs ` +
      `pg-boss ${fmt(bossRate, 0)}/s (batched insert, batchSize 250, 4 workers): ratio ${fmt(longrunRate / bossRate)} (target >= 1.0)`,
  );
}

async function crossProcess({ report }: PostgresBenchDeps, url: string): Promise<void> {
  const rounds = scaled(100, 10);
  const common = ['--db', url, '--enable-sleeper', '--log-level', 'warn', '--poll', '1s'];
  // No HTTP: its default port (8080) may be anyone's on this machine.
  const b = await start(['serve', '--no-runner', '--port', '0', '--http-port', 'off', ...common], /longrun listening on (\S+)/);
  const c = await start(['runner', ...common], /longrun runner ready/);
  const { OperationsClient } = await import('../../src/index.js');
  const { GenericCaller } = await import('../../test/helpers/server.js');
  const caller = new GenericCaller(b.match);
  const client = new OperationsClient(b.match);
  const sql = new pg.Pool({ connectionString: url, max: 2 });
  const doneTime = async (name: string) =>
    Number((await sql.query<{ done_time: string }>('SELECT done_time FROM longrun.operations WHERE name = $1', [name])).rows[0]!.done_time);
  try {
    const wakes: number[] = [];
    const cancels: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const { name } = await caller.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 0, nanos: 30e6 }, steps: 1 });
      await client.wait(name, 10_000);
      wakes.push(Date.now() - (await doneTime(name)));
      const running = await caller.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 60, nanos: 0 }, steps: 1 });
      // Running: its lease is taken (the row says so).
      for (;;) {
        const { rows } = await sql.query<{ lease_holder: string | null }>('SELECT lease_holder FROM longrun.operations WHERE name = $1', [running.name]);
        if (rows[0]?.lease_holder) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const cancelled = Date.now();
      await client.cancel(running.name);
      await client.wait(running.name, 10_000);
      cancels.push((await doneTime(running.name)) - cancelled);
    }
    const line = (values: number[]) => {
      const sorted = [...values].sort((x, y) => x - y);
      return `p50 ${fmt(percentile(sorted, 50), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms`;
    };
    report(`PostgreSQL cross-process wake (handler end in runner C to WaitOperation reply on server B), ${rounds} rounds: ${line(wakes)} (target p99 < 50 ms)`);
    report(`PostgreSQL cross-process cancel (CancelOperation on B to the operation ended by C), ${rounds} rounds: ${line(cancels)} (target p99 < 100 ms)`);
  } finally {
    caller.close();
    client.close();
    await sql.end();
    for (const child of [b.child, c.child]) child.kill('SIGTERM');
    await Promise.all([once(b.child, 'exit'), once(c.child, 'exit')]);
  }
}

/** Create-to-done through gRPC with one, then two server processes (each with its runner) on one database. */
async function oneVersusTwoServers({ report, startServer }: PostgresBenchDeps, url: string): Promise<void> {
  const total = scaled(4000, 40);
  const { OperationsClient } = await import('../../src/index.js');
  const { GenericCaller } = await import('../../test/helpers/server.js');
  const run = async (count: number) => {
    const servers = await Promise.all(Array.from({ length: count }, () => startServer(url)));
    const callers = servers.map((server) => new GenericCaller(`127.0.0.1:${server.port}`));
    const lister = new OperationsClient(`127.0.0.1:${servers[0]!.port}`);
    const cpu0 = servers.map((server) => cpuSecondsOf(server.pid));
    const t0 = performance.now();
    await inWindow(total, 128, (i) => callers[i % callers.length]!.call(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 0 }));
    while ((await lister.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (performance.now() - t0) / 1000;
    const cores = servers.map((server, i) => (cpuSecondsOf(server.pid) - cpu0[i]!) / seconds);
    for (const caller of callers) caller.close();
    lister.close();
    await Promise.all(servers.map((server) => server.stop()));
    return { rate: total / seconds, cores };
  };
  const one = await run(1);
  const two = await run(2);
  report(
    `PostgreSQL create-to-done through gRPC, ${total} operations, 128 in flight: one server ${fmt(one.rate, 0)}/s ` +
      `(cores used ${one.cores.map((c) => fmt(c)).join(', ')}), two servers ${fmt(two.rate, 0)}/s (cores used ${two.cores.map((c) => fmt(c)).join(', ')}): ` +
      `ratio ${fmt(two.rate / one.rate)} (no target: 2 cores, shared with PostgreSQL and this client)`,
  );
}

async function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  const match = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const found = ready.exec(stdout);
      if (found) resolve(found[1] ?? found[0]);
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited (${code}) before it was ready`)));
  });
  return { child, match };
}
