/** Retries with backoff, durable between attempts; execution timeouts. */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Code, createLongrun, LongrunError, TYPE_URL_PREFIX, type Longrun, type MethodOptions, type OperationRecord } from '../../src/index.js';
import { addSleeper, SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

/** The domain of the test app's own reasons. */
const APP = { domain: 'test.example.com' };
const FAST = { initialBackoffMs: 30, maxBackoffMs: 1000, jitter: 0 };

function attemptsOf(longrun: Longrun, record: OperationRecord): string | undefined {
  const info = record.error?.details.find((d) => d.typeUrl === `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`);
  return info && longrun.registry.decode<{ metadata: Record<string, string> }>('google.rpc.ErrorInfo', info.value).metadata['attempts'];
}

describe('runner retries and timeouts', { timeout: 120_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let longrun: Longrun;
  let controlled: Controlled;

  async function open(options: MethodOptions<Record<string, unknown>, Record<string, unknown>> = {}): Promise<Longrun> {
    const instance = await createLongrun({ databasePath: dir.file('retries.db'), pollMs: 20, logger: silentLogger, retry: FAST });
    instance.method(SLEEP_METHOD, controlled.handler, options);
    return instance;
  }

  beforeEach(async () => {
    dir = tempDir();
    controlled = new Controlled();
    longrun = await open({ maxAttempts: 3 });
    longrun.start();
  });
  afterEach(async () => {
    await longrun.close(100);
    dir.remove();
  });

  it('retries a retryable failure after a backoff, showing the attempt and the last error meanwhile', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    const first = await controlled.next();
    assert.equal(first.context.attempt, 1);
    const before = Date.now();
    first.fail(new LongrunError(Code.UNAVAILABLE, 'the backend said 503', 'BACKEND_DOWN', APP));
    const second = await controlled.next();
    assert.equal(second.context.attempt, 2);
    assert.ok(Date.now() - before >= FAST.initialBackoffMs, 'not before the backoff');
    const waiting = await longrun.get(op.name);
    assert.deepEqual([waiting.done, waiting.attempt, waiting.lastError], [false, 2, { code: Code.UNAVAILABLE, message: 'the backend said 503' }]);
    second.fail(new Error('a bug, but maybe a transient one'));
    const third = await controlled.next();
    assert.equal(third.context.attempt, 3);
    third.finish({ steps: 3 });
    const done = await longrun.wait(op.name, 10_000);
    assert.deepEqual([done.done, done.error, done.attempt], [true, undefined, 3]);
    const metrics = await longrun.metrics.registry.getSingleMetricAsString('longrun_operation_retries_total');
    assert.match(metrics, /code="UNAVAILABLE"[^\n]* 1/);
    assert.match(metrics, /code="UNKNOWN"[^\n]* 1/);
  });

  it("ends with the handler's own error after the last attempt, saying how many ran", async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    for (let attempt = 1; attempt <= 3; attempt++) {
      (await controlled.next()).fail(new LongrunError(Code.RESOURCE_EXHAUSTED, `quota, attempt ${attempt}`, 'QUOTA', APP));
    }
    const done = await longrun.wait(op.name, 10_000);
    assert.deepEqual([done.error?.code, done.error?.message], [Code.RESOURCE_EXHAUSTED, 'quota, attempt 3']);
    assert.equal(attemptsOf(longrun, done), '3');
    assert.equal(controlled.started, 3);
  });

  it('ends at once on a code that does not retry', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    (await controlled.next()).fail(new LongrunError(Code.FAILED_PRECONDITION, 'the bucket does not exist', 'NO_BUCKET', APP));
    const done = await longrun.wait(op.name, 10_000);
    assert.deepEqual([done.error?.code, done.attempt, attemptsOf(longrun, done)], [Code.FAILED_PRECONDITION, 1, '1']);
    await assert.rejects(controlled.next(200), /not within/);
  });

  it('waits as long as a RetryInfo in the error says', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    const retryInfo = longrun.registry.pack('google.rpc.RetryInfo', { retryDelay: { seconds: 0, nanos: 400_000_000 } });
    const failedAt = Date.now();
    (await controlled.next()).fail(new LongrunError(Code.UNAVAILABLE, 'come back later', 'BUSY', { ...APP, details: [retryInfo] }));
    const second = await controlled.next();
    assert.ok(Date.now() - failedAt >= 380, `retried after ${Date.now() - failedAt} ms`);
    second.finish({});
    await longrun.wait(op.name, 10_000);
  });

  it('keeps the wait in the store: a restarted process runs the retry when it is due, not before', async () => {
    await longrun.close(100);
    controlled = new Controlled();
    longrun = await open({ maxAttempts: 3, retry: { initialBackoffMs: 600, jitter: 0 } });
    longrun.start();
    const op = await longrun.create(SLEEP_METHOD, {});
    const failedAt = Date.now();
    (await controlled.next()).fail(new LongrunError(Code.UNAVAILABLE, 'flaky', 'FLAKY', APP));
    await eventually(async () => (await longrun.get(op.name)).lastError !== undefined, 'the retry is scheduled');
    await longrun.close(100); // "kill" before the retry is due
    controlled = new Controlled();
    longrun = await open({ maxAttempts: 3 });
    longrun.start();
    const retried = await controlled.next();
    assert.ok(Date.now() - failedAt >= 590, `the restarted process waited: ${Date.now() - failedAt} ms`);
    assert.equal(retried.context.attempt, 2);
    retried.finish({});
    assert.equal((await longrun.wait(op.name, 10_000)).error, undefined);
  });

  it("aborts a run at the method's timeout and ends DEADLINE_EXCEEDED, even if the handler ignores its signal", async () => {
    await longrun.close(100);
    controlled = new Controlled();
    longrun = await open({ maxAttempts: 3, timeoutMs: 150 });
    longrun.start();
    const op = await longrun.create(SLEEP_METHOD, {});
    const run = await controlled.next();
    const reason = await run.aborted;
    assert.ok(reason instanceof LongrunError);
    assert.deepEqual([reason.code, reason.reason], [Code.DEADLINE_EXCEEDED, 'TIMEOUT']);
    const done = await longrun.wait(op.name, 10_000);
    assert.equal(done.error?.code, Code.DEADLINE_EXCEEDED);
    assert.match(done.error!.message, /timeout of 0.15s/);
    assert.equal(done.attempt, 1, 'a timeout is not retried');
    run.finish({}); // too late: nothing changes
  });
});

describe('the Sleeper fails its first fail_attempts attempts', { timeout: 60_000 }, () => {
  it('succeeds on the attempt after them', async () => {
    const dir = tempDir();
    const longrun = await createLongrun({ databasePath: dir.file('sleeper.db'), pollMs: 20, logger: silentLogger, retry: FAST });
    try {
      addSleeper(longrun);
      longrun.start();
      const op = await longrun.create(SLEEP_METHOD, { failAttempts: 2 });
      const done = await longrun.wait(op.name, 10_000);
      assert.equal(done.error, undefined);
      assert.equal(longrun.registry.unpack<{ attempt: number }>(done.response!).attempt, 3);
      const failing = await longrun.create(SLEEP_METHOD, { failAttempts: 5, failWith: { code: Code.ABORTED, message: 'conflict' } });
      const failed = await longrun.wait(failing.name, 10_000);
      assert.deepEqual([failed.error?.code, failed.error?.message, failed.attempt], [Code.ABORTED, 'conflict', 3]);
    } finally {
      await longrun.close(100);
      dir.remove();
    }
  });
});
