import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Code, createLongrun, LongrunError, type Longrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const LEASE_MS = 10_000;

/** A clock the test moves by hand; the runner's timers still tick in real time, fast. */
class ManualClock {
  constructor(public time = Date.parse('2030-01-01T00:00:00Z')) {}
  now = () => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

describe('runner leases', { timeout: 180_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let clock: ManualClock;
  let longrun: Longrun;
  let controlled: Controlled;

  beforeEach(async () => {
    dir = tempDir();
    clock = new ManualClock();
    controlled = new Controlled();
    longrun = await createLongrun({
      databasePath: dir.file('leases.db'),
      clock,
      leaseMs: LEASE_MS,
      pollMs: 10,
      logger: silentLogger,
    });
    longrun.method(SLEEP_METHOD, controlled.handler, { maxAttempts: 2 });
  });
  afterEach(async () => {
    await longrun.close(100);
    dir.remove();
  });

  /** Claims like a runner that then crashes: it never heartbeats or finishes. */
  async function claimAndCrash(holder: string) {
    const [claimed] = await longrun.store.claim({
      holder,
      method: SLEEP_METHOD,
      limit: 1,
      leaseMs: LEASE_MS,
      now: clock.now(),
    });
    assert.ok(claimed, `${holder} claimed an operation`);
    return claimed;
  }

  it('reruns an operation whose runner died once its lease expires, and fences the dead runner', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    const crashed = await claimAndCrash('crashed-runner');
    longrun.start();
    assert.equal((await longrun.get(op.name)).leaseHolder, 'crashed-runner');

    clock.advance(LEASE_MS + 1);
    const run = await controlled.next();
    assert.equal(run.context.attempt, 2);
    run.finish({ steps: 2 });
    const done = await longrun.wait(op.name, 5000);
    assert.equal(done.done, true);

    const late = await longrun.store.complete(
      [{ lease: { name: op.name, holder: 'crashed-runner', attempt: crashed.attempt }, outcome: { error: { code: Code.INTERNAL, message: 'late', details: [] } } }],
      clock.now(),
    );
    assert.deepEqual(late, [false], 'the fenced-out runner cannot write');
    const after = await longrun.get(op.name);
    assert.equal(after.error, undefined);
    assert.deepEqual(after.response, done.response);
  });

  it('ends ABORTED, naming the attempts, when every attempt lost its lease', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    await claimAndCrash('first');
    clock.advance(LEASE_MS + 1);
    await claimAndCrash('second');
    clock.advance(LEASE_MS + 1);
    const waiting = longrun.wait(op.name, 5000);
    longrun.start();
    const done = await waiting;
    assert.equal(done.done, true);
    assert.equal(done.error?.code, Code.ABORTED);
    assert.match(done.error!.message, /after 2 attempts/);
    assert.equal(controlled.started, 0);
  });

  it('aborts a handler whose lease was taken over and discards its result', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    longrun.start();
    const run = await controlled.next();
    clock.advance(LEASE_MS + 1);
    const [takeover] = await longrun.store.claim({
      holder: 'other-runner',
      method: SLEEP_METHOD,
      limit: 1,
      leaseMs: LEASE_MS,
      now: clock.now(),
    });
    assert.equal(takeover?.attempt, 2);
    const reason = await run.aborted;
    assert.ok(reason instanceof LongrunError && reason.code === Code.ABORTED, 'the handler is told it lost the lease');
    run.finish({ steps: 1 });
    const [written] = await longrun.store.complete(
      [{ lease: { name: op.name, holder: 'other-runner', attempt: 2 }, outcome: { error: { code: Code.DATA_LOSS, message: 'from the new holder', details: [] } } }],
      clock.now(),
    );
    assert.equal(written, true);
    const final = await longrun.get(op.name);
    assert.equal(final.error?.message, 'from the new holder');
  });

  it('gives leases back on graceful stop so another runner can start at once', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    longrun.start();
    const run = await controlled.next();
    await longrun.stop(20);
    assert.ok(run.context.signal.aborted);
    const released = await longrun.get(op.name);
    assert.deepEqual([released.done, released.leaseHolder, released.attempt], [false, undefined, 0]);
  });

  it('runs at most `concurrency` handlers of a method at once', async () => {
    await longrun.close(10);
    longrun = await createLongrun({ databasePath: dir.file('leases.db'), clock, leaseMs: LEASE_MS, pollMs: 10, logger: silentLogger });
    controlled = new Controlled();
    longrun.method(SLEEP_METHOD, controlled.handler, { concurrency: 2 });
    for (let i = 0; i < 5; i++) await longrun.create(SLEEP_METHOD, {});
    longrun.start();
    const first = [await controlled.next(), await controlled.next()];
    await new Promise((resolve) => setTimeout(resolve, 50)); // several poll cycles
    assert.equal(longrun.runner.runningCount, 2);
    first[0]!.finish({});
    const third = await controlled.next();
    assert.equal(longrun.runner.runningCount, 2);
    for (const run of [first[1]!, third]) run.finish({});
    for (let i = 0; i < 2; i++) (await controlled.next()).finish({});
  });
});
