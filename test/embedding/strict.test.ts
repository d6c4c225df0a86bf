/**
 * In process, input is checked against its message type as strictly as the wire checks JSON: a
 * request with a wrong type or an unknown field is INVALID_ARGUMENT naming the field (and no
 * operation is made); metadata or a response a handler gets wrong fails the operation with an error
 * naming the field, instead of losing the data. Rerun on PostgreSQL by test/postgres/embedding.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, LongrunError, type OperationContext, type OperationRecord } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';

async function refused(promise: Promise<unknown>, code: Code): Promise<LongrunError> {
  const error = await promise.then(
    () => assert.fail(`expected code ${code}, but it succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof LongrunError, `expected a LongrunError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

/** What each test's handler does, by the request's `parent` (set per test). */
type Behaviour = (context: OperationContext<Record<string, unknown>>) => Promise<Record<string, unknown>>;

describe('strict input in process', { timeout: 120_000 }, () => {
  let server: TestServer;
  const behaviours = new Map<string, Behaviour>();

  before(async () => {
    server = await startTestServer({
      sleeper: false,
      http: {},
      setup(longrun) {
        longrun.method(SLEEP_METHOD, async (request, context) => {
          const behaviour = behaviours.get(String(request['parent']));
          return behaviour === undefined ? { steps: 1 } : behaviour(context);
        });
      },
    });
  });
  after(() => server.close());

  async function run(parent: string, behaviour: Behaviour): Promise<OperationRecord> {
    behaviours.set(parent, behaviour);
    const operation = await server.longrun.create(SLEEP_METHOD, { parent });
    return within(server.longrun.wait(operation.name, { timeoutMs: 10_000 }), `${parent}'s operation to end`);
  }

  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    ['a string for an int32', { steps: 'abc' }, 'steps', /expected number \(int32\), got "abc"/],
    ['a fraction for an int32', { steps: 1.5 }, 'steps', /int32/],
    ['an int32 out of range', { steps: 2 ** 40 }, 'steps', /out of range/],
    ['a number for a string', { requestId: 5 }, 'requestId', /expected string/],
    ['an unknown field', { stepz: 3 }, 'stepz', /SleepRequest has no such field \(its fields: duration, steps/],
    ['an unknown nested field', { duration: { secnds: 1 } }, 'duration.secnds', /Duration has no such field/],
    ['a bad 64-bit integer', { duration: { seconds: 'soon' } }, 'duration.seconds', /64-bit integer/],
    ['a scalar for a message', { duration: 5 }, 'duration', /expected a google.protobuf.Duration message/],
    ['a wrong type inside a list', { failWith: { code: 3, details: [{ typeUrl: 7 }] } }, 'failWith.details[0].typeUrl', /expected string/],
    ['a non-list for a list', { failWith: { details: 'x' } }, 'failWith.details', /expected a list/],
    ['bytes that are not base64', { failWith: { details: [{ value: 'not base64!' }] } }, 'failWith.details[0].value', /base64/],
  ];
  for (const [what, request, field, rule] of cases) {
    it(`refuses ${what}: INVALID_ARGUMENT naming ${field}, and creates nothing`, async () => {
      const parent = `projects/strict-${field.replace(/[^a-z]/gi, '')}`;
      const error = await refused(server.longrun.create(SLEEP_METHOD, { ...request, parent }), Code.INVALID_ARGUMENT);
      assert.equal(error.reason, 'INVALID_ARGUMENT');
      assert.equal(error.metadata['field'], field);
      assert.ok(error.message.startsWith(`${field}: `), error.message);
      assert.match(error.message, rule);
      assert.deepEqual((await server.longrun.list({ name: `${parent}/operations` })).operations, []);
    });
  }

  it('refuses what the HTTP gateway refuses: the same misspelt field over JSON is a 400', async () => {
    const response = await fetch(`${server.httpUrl}/v1/sleep`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stepz: 3 }),
    });
    assert.equal(response.status, 400);
    assert.match(await response.text(), /stepz/);
  });

  it('takes proto field names as proto3 JSON does, and the shapes requests are decoded in', async () => {
    const { longrun } = server;
    // request_id is the idempotency key: the second creation returns the first operation.
    const first = await longrun.create(SLEEP_METHOD, { request_id: 'strict-proto-names', steps: 0 });
    const again = await longrun.create(SLEEP_METHOD, { requestId: 'strict-proto-names', steps: 0 });
    assert.equal(again.name, first.name);
    // A request as a handler receives it (every field, null for unset messages, 64-bit integers as
    // strings, bytes as a Buffer) goes back in unchanged.
    const decoded = longrun.registry.decode('longrun.testing.v1.SleepRequest', first.request!.value);
    assert.equal(decoded['duration'], null);
    const copy = await longrun.create(SLEEP_METHOD, {
      ...decoded,
      requestId: '',
      duration: { seconds: '3', nanos: 0 },
      failWith: { code: 3, message: 'x', details: [{ typeUrl: 'type.googleapis.com/x', value: Buffer.from([1, 2]) }] },
    });
    const back = longrun.registry.decode<{ duration: { seconds: string }; failWith: { details: { value: Buffer }[] } }>(
      'longrun.testing.v1.SleepRequest',
      copy.request!.value,
    );
    assert.equal(back.duration.seconds, '3');
    assert.deepEqual([...back.failWith.details[0]!.value], [1, 2]);
  });

  it('fails the operation when the handler sets metadata with a misspelt field, naming it; setMetadata rejects first', async () => {
    let thrown: unknown;
    const done = await run('projects/bad-metadata', async (context) => {
      try {
        await context.setMetadata({ progressPercnt: 50 });
      } catch (error) {
        thrown = error;
        throw error;
      }
      return {};
    });
    assert.ok(thrown instanceof LongrunError);
    assert.equal(thrown.reason, 'INVALID_METADATA');
    assert.equal(thrown.metadata['field'], 'metadata.progressPercnt');
    assert.equal(done.error?.code, Code.INTERNAL);
    assert.match(done.error!.message, /^metadata\.progressPercnt: .*SleepMetadata has no such field/);
  });

  it('saves nothing of an update() whose metadata does not fit, not even its percent', async () => {
    let reason: string | undefined;
    const done = await run('projects/bad-update', async (context) => {
      await context.update({ percent: 10, metadata: { progressPercent: 10 } });
      await context.update({ percent: 60, metadata: { progressPercent: 'sixty' } }).catch((error: LongrunError) => (reason = error.reason));
      return { steps: 1 };
    });
    assert.equal(reason, 'INVALID_METADATA');
    assert.equal(done.error, undefined);
    assert.deepEqual(server.longrun.registry.unpack(done.metadata!), { progressPercent: 10, startTime: null, estimatedEndTime: null, attempt: 0 });
  });

  it('fails the operation when the handler returns a response with a wrong field, naming it', async () => {
    const misspelt = await run('projects/bad-response', async () => ({ stepz: 1 }));
    assert.equal(misspelt.error?.code, Code.INTERNAL);
    assert.match(misspelt.error!.message, /^response\.stepz: .*SleepResponse has no such field/);
    const wrongType = await run('projects/bad-response-type', async () => ({ slept: { seconds: 'long' } }));
    assert.equal(wrongType.error?.code, Code.INTERNAL);
    assert.match(wrongType.error!.message, /^response\.slept\.seconds: /);
  });
});
