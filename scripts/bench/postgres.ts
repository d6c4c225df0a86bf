/**
 * PostgreSQL figures (`npm run bench -- postgres`), each against a baseline from the same run
 * (create-to-done against pg-boss and graphile-worker is in `peers.ts`):
 * - cross-process wake (handler end in runner C to WaitOperation reply on server B) and cancel
 *   (CancelOperation on B to the end in C), p50/p99, absolute;
 * - GetOperation server CPU on PostgreSQL against a no-op grpc-js handler (via `getOperationCpu`).
 * The database: BENCH_PG_URL / LONGRUN_TEST_PG_URL (a superuser URL) or a throwaway embedded cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { stopTestPostgres, testPostgres } from '../../test/helpers/postgres.js';
import { cpuSecondsOf, fmt, inWindow, percentile, scaled } from './measure.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

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
    await crossProcess(deps, (await server.freshDatabase()).url);
    await deps.getOperationCpu((await server.freshDatabase()).url);
    await oneVersusTwoServers(deps, (await server.freshDatabase()).url);
  } finally {
    await stopTestPostgres();
  }
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
