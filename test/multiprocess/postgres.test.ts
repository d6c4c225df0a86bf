/**
 * N servers and M runners on one PostgreSQL database, each a real `longrun` process: servers A and
 * B (`serve --no-runner`) and runner C (`longrun runner`), as the scaling-out layout.
 * The row in the database is the witness of what happened and when (its times are written by
 * the processes on this machine's clock).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BUNDLED_PROTO_FILES } from '../../src/app.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { logLineOf, spawnRunner, spawnServer, type ServerProcess } from '../helpers/process.js';
import { scrape, valueOf } from '../helpers/prometheus.js';
import { stopTestPostgres, testPostgres, type TestDatabase, type TestPostgres } from '../helpers/postgres.js';
import { GenericCaller } from '../helpers/server.js';

// This file stops and restarts PostgreSQL (the outage test): it always uses a throwaway cluster of
// its own, never a server named by LONGRUN_TEST_PG_URL.
delete process.env.LONGRUN_TEST_PG_URL;

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const GET = '/google.longrunning.Operations/GetOperation';
const WAIT = '/google.longrunning.Operations/WaitOperation';
const LIST = '/google.longrunning.Operations/ListOperations';
const CANCEL = '/google.longrunning.Operations/CancelOperation';
const POLL = '200ms';
const LEASE = '2s';

interface Operation {
  name: string;
  done: boolean;
  metadata?: { type_url: string; value: Buffer } | null;
  response?: { type_url: string; value: Buffer } | null;
  error?: { code: number; message: string } | null;
}

interface Row {
  attempt: number;
  done: boolean;
  error_code: number | null;
  done_time: string | null;
  update_time: string;
  lease_holder: string | null;
  progress_percent: number;
}

const sleepFor = (ms: number, steps = 1, extra: Record<string, unknown> = {}) => ({
  duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
  steps,
  ...extra,
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('many processes on one PostgreSQL database', { timeout: 180_000 }, () => {
  let postgres: TestPostgres;
  let database: TestDatabase;
  let sql: pg.Pool;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;
  let onA: GenericCaller;
  let onB: GenericCaller;
  const extra: ServerProcess[] = [];
  const registry = new TypeRegistry(BUNDLED_PROTO_FILES, []);

  const row = async (name: string): Promise<Row | undefined> =>
    (await sql.query<Row>('SELECT attempt, done, error_code, done_time, update_time, lease_holder, progress_percent FROM longrun.operations WHERE name = $1', [name])).rows[0];
  const running = (name: string) => until(`${name} to run`, async () => ((await row(name))?.lease_holder ? true : undefined));

  before(async () => {
    // Its own cluster: a test below stops and restarts the server.
    postgres = await testPostgres({ restartable: true });
    database = await postgres.freshDatabase();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
    sql.on('error', () => undefined); // idle connections die with the server in the outage test
    const common = ['--enable-sleeper', '--poll', POLL, '--lease', LEASE];
    // A migrates the fresh database; B and C start at the same instant on it.
    [a, b, c] = await Promise.all([
      spawnServer(database.url, ['--no-runner', ...common]),
      spawnServer(database.url, ['--no-runner', '--metrics-port', '0', ...common]),
      spawnRunner(database.url, common),
    ]);
    onA = new GenericCaller(a.address);
    onB = new GenericCaller(b.address);
  });

  after(async () => {
    onA?.close();
    onB?.close();
    await Promise.all([a, b, c, ...extra].map((process) => process?.stop('SIGKILL')));
    await sql?.end();
    await database?.drop();
    await stopTestPostgres();
  });

  it('wakes a WaitOperation on B within 100 ms of the handler ending in C', async () => {
    for (let round = 0; round < 3; round++) {
      const { name } = await onA.call<Operation>(SLEEP, sleepFor(300));
      const done = await onB.call<Operation>(WAIT, { name, timeout: { seconds: 20 } });
      const replied = Date.now();
      assert.equal(done.done, true);
      const final = await row(name);
      const lag = replied - Number(final!.done_time);
      assert.ok(lag >= 0 && lag < 100, `WaitOperation on B replied ${lag} ms after C recorded the end`);
    }
  });

  it("shows C's progress through B, and B takes A's page tokens", async () => {
    const { name } = await onA.call<Operation>(SLEEP, sleepFor(3000, 3));
    const progressed = await until('progress through B', async () => {
      const operation = await onB.call<Operation>(GET, { name });
      if (!operation.metadata) return undefined;
      const metadata = registry.decode('longrun.testing.v1.SleepMetadata', operation.metadata.value) as { progressPercent: number };
      return metadata.progressPercent > 0 ? metadata.progressPercent : undefined;
    });
    assert.ok(progressed >= 33);
    await onB.call(CANCEL, { name });

    const created = [];
    for (let i = 0; i < 3; i++) created.push((await onA.call<Operation>(SLEEP, sleepFor(0, 1, { parent: 'projects/paging' }))).name);
    const first = await onA.call<{ operations: Operation[]; nextPageToken: string }>(LIST, { name: 'projects/paging/operations', pageSize: 2 });
    assert.equal(first.operations.length, 2);
    assert.ok(first.nextPageToken.length > 0, 'a page token from A');
    const second = await onB.call<{ operations: Operation[]; nextPageToken: string }>(LIST, {
      name: 'projects/paging/operations',
      pageSize: 2,
      pageToken: first.nextPageToken,
    });
    assert.deepEqual([...first.operations, ...second.operations].map((op) => op.name).sort(), [...created].sort());
  });

  it("brings a cancel on B to C's handler within 1 s, ending it CANCELLED", async () => {
    const { name } = await onA.call<Operation>(SLEEP, sleepFor(60_000));
    await running(name);
    const cancelled = Date.now();
    await onB.call(CANCEL, { name });
    const done = await onB.call<Operation>(WAIT, { name, timeout: { seconds: 5 } });
    assert.equal(done.error?.code, 1, 'CANCELLED');
    const final = await row(name);
    const latency = Number(final!.done_time) - cancelled;
    assert.ok(latency < 1000, `the handler in C stopped ${latency} ms after the cancel on B`);
  });

  it('makes one operation of one idempotency key sent to A and B at the same instant', async () => {
    for (let round = 0; round < 5; round++) {
      const request = sleepFor(0, 1, { requestId: `same-key-${round}` });
      const [fromA, fromB] = await Promise.all([onA.call<Operation>(SLEEP, request), onB.call<Operation>(SLEEP, request)]);
      assert.equal(fromA.name, fromB.name);
    }
    const { rows } = await sql.query<{ count: number }>("SELECT count(*)::int AS count FROM longrun.operations WHERE idempotency_key LIKE 'same-key-%'");
    assert.equal(rows[0]!.count, 5);
  });

  it('fences off a paused runner whose lease was taken over; a runner killed with -9 is replaced, each operation completed once as attempt 2', async () => {
    const { name } = await onA.call<Operation>(SLEEP, sleepFor(1500, 3));
    await running(name);
    c.child.kill('SIGSTOP');
    const d = await spawnRunner(database.url, ['--enable-sleeper', '--poll', POLL, '--lease', LEASE]);
    extra.push(d);
    const done = await onB.call<Operation>(WAIT, { name, timeout: { seconds: 20 } });
    const response = registry.decode('longrun.testing.v1.SleepResponse', done.response!.value) as { attempt: number };
    assert.equal(response.attempt, 2, 'D finished it as attempt 2');
    const finished = await row(name);
    c.child.kill('SIGCONT');
    // C wakes up mid-handler with a lost lease and tries to write (a heartbeat, progress, its
    // outcome): the store refuses, and C says so. Its line is the evidence that it tried.
    // C may have discarded another operation's outcome earlier (a cancel in a test above): this operation's line.
    const ofThis = new RegExp(`"operation":"${name}".*lease lost; outcome discarded|lease lost; outcome discarded.*"operation":"${name}"`);
    const refused = JSON.parse(await logLineOf(c, ofThis, 'the paused runner to find its lease lost', 20_000)) as Record<string, unknown>;
    assert.deepEqual([refused['operation'], refused['attempt']], [name, 1], 'C tried to write attempt 1 of this operation');
    assert.deepEqual(await row(name), finished, "the paused runner's late writes were fenced off");
    await c.stop('SIGKILL');

    const second = await onA.call<Operation>(SLEEP, sleepFor(1500, 3));
    const holder = await until('D to run it', async () => (await row(second.name))?.lease_holder ?? undefined);
    assert.equal(holder, d.address);
    await d.stop('SIGKILL');
    const e = await spawnRunner(database.url, ['--enable-sleeper', '--poll', POLL, '--lease', LEASE]);
    extra.push(e);
    const recovered = await onB.call<Operation>(WAIT, { name: second.name, timeout: { seconds: 20 } });
    const again = registry.decode('longrun.testing.v1.SleepResponse', recovered.response!.value) as { attempt: number };
    assert.equal(again.attempt, 2);
    assert.equal((await row(second.name))?.attempt, 2);
    c = e; // the runner for the tests below
  });

  it('stops a runner on SIGTERM with exit 0, giving back the lease of work that outlives the grace', async () => {
    const f = await spawnRunner(database.url, ['--enable-sleeper', '--poll', POLL, '--lease', '30s', '--shutdown-grace', '300ms', '--metrics-port', '0']);
    extra.push(f);
    c.child.kill('SIGSTOP'); // so that F, not C, takes the operation
    try {
      const { name } = await onA.call<Operation>(SLEEP, sleepFor(60_000));
      const holder = await until('F to run it', async () => (await row(name))?.lease_holder ?? undefined);
      assert.equal(holder, f.address);
      const metricsUrl = /longrun metrics on (\S+)/.exec(f.stdout())![1]!;
      assert.equal(valueOf(await scrape(metricsUrl), 'longrun_runner_running', { method: '/longrun.testing.v1.Sleeper/Sleep' }), 1, 'the runner serves its metrics');
      assert.equal(await f.stop(), 0);
      const released = await row(name);
      assert.deepEqual([released?.lease_holder, released?.attempt, released?.done], [null, 0, false], 'given back, the attempt not counted');
      await onB.call(CANCEL, { name });
    } finally {
      c.child.kill('SIGCONT');
    }
  });

  it('keeps waking waits when every LISTEN connection is terminated, and the listeners reconnect (logged and counted)', async () => {
    const metricsUrl = /longrun metrics on (\S+)/.exec(b.stdout())![1]!;
    const before = valueOf(await scrape(metricsUrl), 'longrun_store_listener_reconnects_total');
    const listeners = async () =>
      (await sql.query<{ count: number }>("SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'longrun-listen' AND datname = $1", [database.name])).rows[0]!.count;
    assert.equal(await listeners(), 3, 'one LISTEN connection per process');
    const { rows } = await sql.query<{ terminated: boolean }>(
      "SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = 'longrun-listen' AND datname = $1",
      [database.name],
    );
    assert.equal(rows.length, 3);
    const { name } = await onA.call<Operation>(SLEEP, sleepFor(200));
    const done = await onB.call<Operation>(WAIT, { name, timeout: { seconds: 20 } });
    const lag = Date.now() - Number((await row(name))!.done_time);
    assert.equal(done.done, true);
    assert.ok(lag < 200 + 300, `woken ${lag} ms after the end, within the poll interval`);
    await until('three LISTEN connections again', async () => ((await listeners()) === 3 ? true : undefined));
    await until('the reconnect counted', async () => (valueOf(await scrape(metricsUrl), 'longrun_store_listener_reconnects_total') > before ? true : undefined));
    assert.match(b.stderr(), /LISTEN connection was lost/);
  });

  it('answers UNAVAILABLE while PostgreSQL is stopped for 5 s under creation load, loses nothing acknowledged, and recovers without a restart', async (t) => {
    assert.ok(postgres.stopServer && postgres.startServer, 'the throwaway cluster can be stopped');
    const acknowledged: string[] = [];
    const failures = new Map<number, number>();
    let unavailableMessage = '';
    let loading = true;
    let sequence = 0;
    const load = (async () => {
      while (loading) {
        try {
          const { name } = await onA.call<Operation>(SLEEP, sleepFor(0, 1, { requestId: `load-${sequence++}` }));
          acknowledged.push(name);
        } catch (error) {
          const code = (error as { code?: number }).code ?? -1;
          if (code === 14) unavailableMessage = (error as { details?: string }).details ?? '';
          failures.set(code, (failures.get(code) ?? 0) + 1);
          await sleep(50);
        }
      }
    })();
    await until('some creations', async () => (acknowledged.length >= 20 ? true : undefined));
    await postgres.stopServer();
    const stoppedAt = acknowledged.length;
    await sleep(5000);
    await postgres.startServer();
    await until('creations again', async () => (acknowledged.length >= stoppedAt + 20 ? true : undefined), 30_000);
    loading = false;
    await load;
    t.diagnostic(`acknowledged ${acknowledged.length}, failures by code ${JSON.stringify([...failures])}`);
    assert.ok((failures.get(14) ?? 0) > 0, 'clients saw UNAVAILABLE while the database was down');
    assert.match(unavailableMessage, /operation store cannot be reached.*(PostgreSQL|connection)/, 'the message says the database is the trouble');
    assert.deepEqual([...failures.keys()].filter((code) => code !== 14 && code !== 4), [], 'no other error than UNAVAILABLE (or a deadline)');
    const { rows } = await sql.query<{ name: string }>('SELECT name FROM longrun.operations WHERE name = ANY($1)', [acknowledged]);
    assert.equal(rows.length, acknowledged.length, 'every acknowledged creation is in the database');
    await until('every operation done', async () => {
      const { rows: left } = await sql.query<{ count: number }>('SELECT count(*)::int AS count FROM longrun.operations WHERE name = ANY($1) AND NOT done', [acknowledged]);
      return left[0]!.count === 0 ? true : undefined;
    }, 30_000);
    assert.equal((await onB.call<Operation>(GET, { name: acknowledged[acknowledged.length - 1]! })).done, true, 'B answers too');
  });
});
