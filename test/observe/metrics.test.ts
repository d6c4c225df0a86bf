import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { createLongrun, type Longrun, type MetricsServer } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { hasSample, parseExposition, scrape, valueOf, type Sample } from '../helpers/prometheus.js';
import { eventually } from '../helpers/wait.js';
import { silentLogger, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const OPS = '/google.longrunning.Operations';
const sleepRequest = { duration: { seconds: 0, nanos: 0 }, steps: 1 };

describe('metrics at /metrics', { timeout: 180_000 }, () => {
  let server: TestServer;
  let metrics: MetricsServer;
  const controlled = new Controlled();

  before(async () => {
    server = await startTestServer({ sleeper: false, setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler) });
    metrics = await server.longrun.serveMetrics({ port: 0 });
  });
  after(() => server.close());

  it('binds a free port when asked for port 0 and says where', () => {
    assert.match(metrics.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.notEqual(metrics.port, 0);
  });

  it('counts RPCs by method and code, operations by state, runs, waiters and store calls as they happen', async () => {
    const start = await scrape(metrics.url);
    assert.equal(hasSample(start, 'longrun_rpcs_total', { method: SLEEP_METHOD }), false, 'no Sleep call counted yet');
    assert.equal(valueOf(start, 'longrun_operations', { state: 'RUNNING' }), 0);

    const op = await server.call<{ name: string }>(SLEEP_METHOD, sleepRequest);
    const run = await controlled.next();
    const running = await scrape(metrics.url);
    assert.equal(valueOf(running, 'longrun_rpcs_total', { method: SLEEP_METHOD, code: 'OK' }), 1);
    assert.equal(valueOf(running, 'longrun_rpc_duration_seconds_count', { method: SLEEP_METHOD }), 1);
    assert.equal(valueOf(running, 'longrun_operations_created_total', { method: SLEEP_METHOD }), 1);
    assert.equal(valueOf(running, 'longrun_operations', { state: 'RUNNING' }), 1);
    assert.equal(valueOf(running, 'longrun_operations', { state: 'PENDING' }), 0);
    assert.equal(valueOf(running, 'longrun_runner_running', { method: SLEEP_METHOD }), 1);
    assert.equal(valueOf(running, 'longrun_runner_queue_depth'), 0);
    assert.equal(valueOf(running, 'longrun_wait_operation_in_flight'), 0);

    const waiting = server.client.wait(op.name, 5000);
    await eventually(async () => valueOf(await scrape(metrics.url), 'longrun_wait_operation_in_flight') === 1, 'a waiter is counted');
    assert.equal(valueOf(running, 'longrun_watch_streams_open'), 0);
    const watching = server.client.watch(op.name)[Symbol.asyncIterator]();
    await watching.next();
    assert.equal(valueOf(await scrape(metrics.url), 'longrun_watch_streams_open'), 1);
    await watching.return(undefined);
    await eventually(async () => valueOf(await scrape(metrics.url), 'longrun_watch_streams_open') === 0, 'a closed watch stream is not counted');
    run.finish({ steps: 1 });
    assert.equal((await waiting).operation.done, true);
    await assert.rejects(server.client.get('operations/AAAAAAAAAAAAAAAAAAAAAA'), { code: status.NOT_FOUND });

    const end = await scrape(metrics.url);
    assert.equal(valueOf(end, 'longrun_wait_operation_in_flight'), 0);
    assert.equal(valueOf(end, 'longrun_rpcs_total', { method: `${OPS}/WaitOperation`, code: 'OK' }), 1);
    assert.equal(valueOf(end, 'longrun_rpcs_total', { method: `${OPS}/GetOperation`, code: 'NOT_FOUND' }), 1);
    assert.equal(valueOf(end, 'longrun_operations_finished_total', { method: SLEEP_METHOD, code: 'OK' }), 1);
    assert.equal(valueOf(end, 'longrun_operations', { state: 'DONE' }), 1);
    assert.equal(valueOf(end, 'longrun_operations', { state: 'RUNNING' }), 0);
    assert.equal(valueOf(end, 'longrun_runner_running', { method: SLEEP_METHOD }), 0);
    for (const call of ['create', 'claim', 'complete', 'get']) {
      assert.ok(valueOf(end, 'longrun_store_duration_seconds_count', { call }) >= 1, `store ${call} latency observed`);
    }
    const waitSum = valueOf(end, 'longrun_rpc_duration_seconds_sum', { method: `${OPS}/WaitOperation` });
    assert.ok(waitSum > 0, 'WaitOperation latency observed');
  });

  it('answers only GET /metrics', async () => {
    assert.equal((await fetch(metrics.url.replace('/metrics', '/'))).status, 404);
    assert.equal((await fetch(metrics.url, { method: 'POST' })).status, 405);
  });
});

/** A clock the test moves by hand; the runner's timers still tick in real time, fast. */
class ManualClock {
  time = Date.parse('2030-01-01T00:00:00Z');
  now = () => this.time;
}

describe('metrics of one Longrun instance', { timeout: 180_000 }, () => {
  const LEASE_MS = 10_000;
  let dir: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let longrun: Longrun;
  let other: Longrun;
  const controlled = new Controlled();
  const logged: { msg: string; operation?: string; attempt?: number }[] = [];
  const capture = { ...silentLogger, info: (fields: object, msg: string) => void logged.push({ ...fields, msg }) } as typeof silentLogger;
  const samples = async (of: Longrun): Promise<Sample[]> => parseExposition((await of.metrics.scrape()).body);

  before(async () => {
    dir = tempDir();
    clock = new ManualClock();
    const common = { clock, leaseMs: LEASE_MS, pollMs: 10, logger: silentLogger };
    longrun = await createLongrun({ ...common, databasePath: dir.file('a.db'), logger: capture });
    other = await createLongrun({ ...common, databasePath: dir.file('b.db') });
    longrun.method(SLEEP_METHOD, controlled.handler, { maxAttempts: 2 });
    other.method(SLEEP_METHOD, controlled.handler, { maxAttempts: 1 });
  });
  after(async () => {
    await longrun.close(100);
    await other.close(100);
    dir.remove();
  });

  /** Claims like a runner that then crashes: it never heartbeats or finishes. */
  async function claimAndCrash(of: Longrun = longrun): Promise<void> {
    const claimed = await of.store.claim({
      holder: 'crashed-runner',
      method: SLEEP_METHOD,
      limit: 1,
      leaseMs: LEASE_MS,
      now: clock.now(),
    });
    assert.equal(claimed.length, 1);
  }

  it('counts queued work, lease expirations, reruns, lost leases and aborts, apart from other instances', async () => {
    const first = await longrun.create(SLEEP_METHOD, sleepRequest);
    const queued = await samples(longrun);
    assert.equal(valueOf(queued, 'longrun_runner_queue_depth'), 1, 'not started: the operation waits');
    assert.equal(valueOf(queued, 'longrun_operations', { state: 'PENDING' }), 1);
    assert.equal(hasSample(await samples(other), 'longrun_operations_created_total', { method: SLEEP_METHOD }), false, 'another instance counts its own');

    // Rerun: the first runner dies holding the lease; once it expires, ours runs attempt 2.
    await claimAndCrash();
    longrun.start();
    clock.time += LEASE_MS + 1;
    const run = await controlled.next();
    assert.equal(run.context.attempt, 2);
    run.finish({ steps: 1 });
    assert.equal((await longrun.wait(first.name, 5000)).done, true);
    const rerun = await samples(longrun);
    assert.equal(valueOf(rerun, 'longrun_operation_reruns_total', { method: SLEEP_METHOD }), 1);
    assert.equal(valueOf(rerun, 'longrun_lease_expirations_total', { outcome: 'rerun' }), 1);
    assert.equal(valueOf(rerun, 'longrun_operations_finished_total', { method: SLEEP_METHOD, code: 'OK' }), 1);
    assert.deepEqual(
      logged.filter((line) => line.msg === 'operation retried').map((line) => [line.operation, line.attempt]),
      [[first.name, 2]],
      'the rerun is logged',
    );

    // Lost lease: while our handler runs, its lease expires and another runner claims the operation.
    const stolen = await longrun.create(SLEEP_METHOD, sleepRequest);
    const victim = await controlled.next();
    clock.time += LEASE_MS + 1;
    const [taken] = await longrun.store.claim({ holder: 'thief', method: SLEEP_METHOD, limit: 1, leaseMs: LEASE_MS, now: clock.now() });
    assert.equal(taken?.name, stolen.name);
    victim.finish({ steps: 1 });
    await eventually(
      async () => {
        const now = await samples(longrun);
        return hasSample(now, 'longrun_leases_lost_total', { method: SLEEP_METHOD }) && valueOf(now, 'longrun_leases_lost_total', { method: SLEEP_METHOD }) === 1;
      },
      'the lost lease is counted',
    );
    assert.equal(valueOf(await samples(longrun), 'longrun_operations_finished_total', { method: SLEEP_METHOD, code: 'OK' }), 1, 'its outcome was not written');

    // Abort: on the other instance (one attempt allowed), the only run dies; when its lease expires it ends ABORTED.
    const doomed = await other.create(SLEEP_METHOD, sleepRequest);
    await claimAndCrash(other);
    const expiring = await samples(other);
    assert.equal(valueOf(expiring, 'longrun_operations', { state: 'RUNNING' }), 1);
    other.start();
    clock.time += LEASE_MS + 1;
    const aborted = await other.wait(doomed.name, 5000);
    assert.equal(aborted.error?.code, 10);
    const end = await samples(other);
    assert.equal(valueOf(end, 'longrun_lease_expirations_total', { outcome: 'aborted' }), 1);
    assert.equal(valueOf(end, 'longrun_operations_finished_total', { method: SLEEP_METHOD, code: 'ABORTED' }), 1);
    assert.equal(hasSample(end, 'longrun_operation_reruns_total', { method: SLEEP_METHOD }), false, 'the rerun was the first instance\'s');
    assert.equal(valueOf(end, 'longrun_operations_created_total', { method: SLEEP_METHOD }), 1, 'only its own operation');
  });
});
