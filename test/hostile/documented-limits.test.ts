/**
 * The documented limits one by one, at the edge and one past it, over the wire: the name length
 * (MAX_NAME_LENGTH), the idempotency key length (MAX_IDEMPOTENCY_KEY_LENGTH), the Sleeper's steps
 * (MAX_STEPS), a negative WaitOperation timeout, and malformed names on Cancel, Delete and Wait.
 * Each refusal is INVALID_ARGUMENT naming the field (ErrorInfo metadata) and the rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MAX_NAME_LENGTH } from '../../src/domain/names.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../../src/operations/service.js';
import { MAX_STEPS, SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';

const OPS = '/google.longrunning.Operations';
const UNKNOWN_ID = 'A'.repeat(27);

describe('documented limits, at the edge and past it', { timeout: 120_000 }, () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  const sleep = (extra: Record<string, unknown> = {}, metadata?: Record<string, string>) =>
    server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 1, ...extra }, metadata);
  const refused = async (call: Promise<unknown>, field: string, rule: RegExp) => {
    const error = await rejectsWith(call, grpc.status.INVALID_ARGUMENT, rule);
    assert.equal(errorInfoOf(error).metadata.field, field, `the error names the field: ${error.details}`);
  };

  it(`a name of ${MAX_NAME_LENGTH} characters is looked up; one more is refused naming MAX_NAME_LENGTH, on every method`, async () => {
    // projects/<pad>/operations/<27>: well formed at any length.
    const nameOf = (length: number) => {
      const fixed = 'projects//operations/'.length + UNKNOWN_ID.length;
      return `projects/${'p'.repeat(length - fixed)}/operations/${UNKNOWN_ID}`;
    };
    const atLimit = nameOf(MAX_NAME_LENGTH);
    const over = nameOf(MAX_NAME_LENGTH + 1);
    assert.deepEqual([atLimit.length, over.length], [MAX_NAME_LENGTH, MAX_NAME_LENGTH + 1]);
    for (const method of ['GetOperation', 'WaitOperation', 'CancelOperation', 'DeleteOperation']) {
      const request = (name: string) => ({ name, ...(method === 'WaitOperation' && { timeout: { seconds: 0 } }) });
      await rejectsWith(server.call(`${OPS}/${method}`, request(atLimit)), grpc.status.NOT_FOUND);
      await refused(server.call(`${OPS}/${method}`, request(over)), 'name', new RegExp(`is ${MAX_NAME_LENGTH + 1} characters long; the limit is ${MAX_NAME_LENGTH} \\(MAX_NAME_LENGTH\\)`));
    }
  });

  it(`an idempotency key of ${MAX_IDEMPOTENCY_KEY_LENGTH} characters is kept; one more is refused naming MAX_IDEMPOTENCY_KEY_LENGTH`, async () => {
    const atLimit = 'k'.repeat(MAX_IDEMPOTENCY_KEY_LENGTH);
    const first = await sleep({}, { 'idempotency-key': atLimit });
    assert.equal((await sleep({}, { 'idempotency-key': atLimit })).name, first.name, 'the same key, the same operation');
    const rule = new RegExp(`is ${MAX_IDEMPOTENCY_KEY_LENGTH + 1} characters long; the limit is ${MAX_IDEMPOTENCY_KEY_LENGTH} \\(MAX_IDEMPOTENCY_KEY_LENGTH\\)`);
    await refused(sleep({}, { 'idempotency-key': `${atLimit}k` }), 'idempotency-key', rule);
    // request_id is the same key, by another road.
    const byField = await sleep({ requestId: `r${atLimit.slice(1)}` });
    assert.equal((await sleep({ requestId: `r${atLimit.slice(1)}` })).name, byField.name);
    const error = await rejectsWith(sleep({ requestId: `${atLimit}r` }), grpc.status.INVALID_ARGUMENT, rule);
    assert.match(errorInfoOf(error).metadata.field ?? '', /idempotency-key|request_id/);
  });

  it(`the Sleeper takes 0 to ${MAX_STEPS} steps and refuses ${MAX_STEPS + 1} or a negative count`, async () => {
    assert.match((await sleep({ steps: MAX_STEPS })).name, /^operations\//);
    assert.match((await sleep({ steps: 0 })).name, /^operations\//, '0 means the default');
    await refused(sleep({ steps: MAX_STEPS + 1 }), 'steps', new RegExp(`must be between 0 and ${MAX_STEPS}`));
    await refused(sleep({ steps: -1 }), 'steps', new RegExp(`must be between 0 and ${MAX_STEPS}`));
  });

  it('WaitOperation refuses a negative timeout, naming it; zero answers at once', async () => {
    const { name } = await sleep({ duration: { seconds: 60, nanos: 0 } });
    try {
      await refused(server.call(`${OPS}/WaitOperation`, { name, timeout: { seconds: -1, nanos: 0 } }), 'timeout', /must not be negative/);
      await refused(server.call(`${OPS}/WaitOperation`, { name, timeout: { seconds: 0, nanos: -1 } }), 'timeout', /must not be negative/);
      const now = await server.call<{ done: boolean }>(`${OPS}/WaitOperation`, { name, timeout: { seconds: 0, nanos: 0 } });
      assert.equal(now.done, false);
    } finally {
      await server.call(`${OPS}/CancelOperation`, { name });
    }
  });

  it('Cancel, Delete and Wait refuse a malformed name with INVALID_ARGUMENT naming the field, never NOT_FOUND', async () => {
    const malformed = ['', 'not a name', 'operations/', '/operations/x', 'operations/a/b', 'operations/bad id', 'operations/ünï', `operations/${'x'.repeat(129)}`];
    for (const method of ['CancelOperation', 'DeleteOperation', 'WaitOperation']) {
      for (const name of malformed) {
        const error = await rejectsWith(server.call(`${OPS}/${method}`, { name }), grpc.status.INVALID_ARGUMENT);
        assert.equal(errorInfoOf(error).metadata.field, 'name', `${method} ${JSON.stringify(name)}: ${error.details}`);
      }
    }
  });
});
