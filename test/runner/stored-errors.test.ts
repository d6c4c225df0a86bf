/**
 * What a failed run leaves in the operation: the handler's code, message and details, plus
 * longrun's ErrorInfo (domain `longrun`, a reason, `attempts`).
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Code, createLongrun, LongrunError, TYPE_URL_PREFIX, type Longrun, type OperationRecord } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { addSleeper } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const ERROR_INFO = `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`;
const BAD_REQUEST = `${TYPE_URL_PREFIX}google.rpc.BadRequest`;

interface ErrorInfo {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

function errorInfoOf(longrun: Longrun, record: OperationRecord): ErrorInfo {
  const infos = record.error!.details.filter((detail) => detail.typeUrl === ERROR_INFO);
  assert.equal(infos.length, 1, 'exactly one ErrorInfo');
  return longrun.registry.decode<ErrorInfo>('google.rpc.ErrorInfo', infos[0]!.value);
}

describe('stored errors', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let longrun: Longrun;
  let controlled: Controlled;

  beforeEach(async () => {
    dir = tempDir();
    controlled = new Controlled();
    longrun = await createLongrun({ databasePath: dir.file('errors.db'), pollMs: 10, logger: silentLogger });
    longrun.method(SLEEP_METHOD, controlled.handler, { maxAttempts: 1 });
    longrun.start();
  });
  afterEach(async () => {
    await longrun.close(100);
    dir.remove();
  });

  it("keeps the handler's code, message and details, and adds an ErrorInfo with the attempts", async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    const badRequest = longrun.registry.pack('google.rpc.BadRequest', {
      fieldViolations: [{ field: 'duration', description: 'too long for this tenant' }],
    });
    (await controlled.next()).fail(
      new LongrunError(Code.FAILED_PRECONDITION, 'the tenant is over its quota', 'QUOTA_EXCEEDED', {
        domain: 'billing.example.com',
        metadata: { tenant: 't1' },
        details: [badRequest],
      }),
    );
    const done = await longrun.wait(op.name, 10_000);
    assert.equal(done.error?.code, Code.FAILED_PRECONDITION);
    assert.equal(done.error?.message, 'the tenant is over its quota');
    assert.equal(done.error?.details[0]?.typeUrl, BAD_REQUEST, "the handler's details come first, unchanged");
    assert.deepEqual(Buffer.from(done.error!.details[0]!.value), Buffer.from(badRequest.value));
    assert.deepEqual(errorInfoOf(longrun, done), { reason: 'QUOTA_EXCEEDED', domain: 'billing.example.com', metadata: { tenant: 't1', attempts: '1' } });
  });

  it('stores an unexpected throw as UNKNOWN (HANDLER_FAILED) without its text', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    (await controlled.next()).fail(new TypeError('secret internals at /srv/app.js:12'));
    const done = await longrun.wait(op.name, 10_000);
    assert.equal(done.error?.code, Code.UNKNOWN);
    assert.doesNotMatch(done.error!.message, /secret/);
    assert.deepEqual(errorInfoOf(longrun, done), { reason: 'HANDLER_FAILED', domain: 'longrun', metadata: { attempts: '1' } });
  });

  it('an operation cancelled while running says so in its ErrorInfo', async () => {
    const op = await longrun.create(SLEEP_METHOD, {});
    const run = await controlled.next();
    await longrun.operations.cancel(op.name, longrun.caller);
    await run.aborted;
    run.fail(run.context.signal.reason);
    const done = await longrun.wait(op.name, 10_000);
    assert.equal(done.error?.code, Code.CANCELLED);
    assert.equal(errorInfoOf(longrun, done).reason, 'OPERATION_CANCELLED');
  });
});

describe('stored errors: the Sleeper passes fail_with details through', { timeout: 60_000 }, () => {
  it('keeps fail_with.details in the stored error', async () => {
    const dir = tempDir();
    const longrun = await createLongrun({ databasePath: dir.file('sleeper.db'), pollMs: 10, logger: silentLogger });
    try {
      addSleeper(longrun);
      longrun.start();
      const detail = { type_url: BAD_REQUEST, value: longrun.registry.encode('google.rpc.BadRequest', { fieldViolations: [{ field: 'x', description: 'y' }] }) };
      const op = await longrun.create(SLEEP_METHOD, { failWith: { code: Code.INVALID_ARGUMENT, message: 'no', details: [detail] } });
      const done = await longrun.wait(op.name, 10_000);
      assert.equal(done.error?.code, Code.INVALID_ARGUMENT);
      assert.deepEqual(
        done.error?.details.map((d) => d.typeUrl),
        [BAD_REQUEST, ERROR_INFO],
      );
      assert.deepEqual(errorInfoOf(longrun, done).reason, 'SLEEP_FAILED');
    } finally {
      await longrun.close(100);
      dir.remove();
    }
  });
});
