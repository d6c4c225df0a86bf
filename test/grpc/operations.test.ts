import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { LongrunError, Code } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';
import { eventually } from '../helpers/wait.js';

interface OperationReply {
  name: string;
  done: boolean;
  metadata: { type_url: string; value: Buffer } | null;
  response?: { type_url: string; value: Buffer } | null;
  error?: { code: number; message: string } | null;
}

const sleep = (ms: number, extra: Record<string, unknown> = {}) => ({
  duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 },
  steps: 1,
  ...extra,
});

describe('google.longrunning.Operations over gRPC', { timeout: 180_000 }, () => {
  let server: TestServer;
  const controlled = new Controlled();

  before(async () => {
    server = await startTestServer({
      sleeper: false,
      waitCapMs: 5000,
      setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler, { retry: { initialBackoffMs: 10 } }),
    });
  });
  after(() => server.close());

  const start = (extra: Record<string, unknown> = {}, headers?: Record<string, string>) =>
    server.call<OperationReply>(SLEEP_METHOD, sleep(0, extra), headers);

  describe('creation', () => {
    it('replies with a pending operation named operations/{id} (27 characters: 128 random bits and an owner tag)', async () => {
      const op = await start();
      assert.match(op.name, /^operations\/[A-Za-z0-9_-]{27}$/);
      assert.equal(op.done, false);
      (await controlled.next()).finish({});
    });

    it('creates under the request parent', async () => {
      const op = await start({ parent: 'projects/p1/locations/l1' });
      assert.match(op.name, /^projects\/p1\/locations\/l1\/operations\/[A-Za-z0-9_-]{27}$/);
      (await controlled.next()).finish({});
    });

    it('rejects a malformed parent with INVALID_ARGUMENT naming the field', async () => {
      const error = await rejectsWith(start({ parent: 'projects/../x' }), status.INVALID_ARGUMENT, /^parent: /);
      assert.equal(errorInfoOf(error).metadata['field'], 'parent');
    });
  });

  describe('GetOperation', () => {
    it('returns the typed response once done', async () => {
      const op = await start();
      (await controlled.next()).finish({ steps: 7, attempt: 1 });
      const done = (await server.client.wait(op.name, 5000)).operation;
      assert.equal(done.done, true);
      assert.equal(done.response?.type_url, 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      const response = server.longrun.registry.unpack<{ steps: number }>({ typeUrl: done.response!.type_url, value: done.response!.value });
      assert.equal(response.steps, 7);
      assert.equal(done.error ?? null, null);
      const again = (await server.client.get(op.name)).operation;
      assert.deepEqual(again, done);
    });

    it('reports progress and typed metadata while running', async () => {
      const op = await start();
      const run = await controlled.next();
      await run.context.progress(40, new Date('2030-01-01T00:00:00Z'));
      await run.context.setMetadata({ progressPercent: 40, attempt: run.context.attempt });
      const seen = await server.client.get(op.name);
      assert.equal(seen.progressPercent, 40);
      assert.equal(seen.estimatedCompletion?.toISOString(), '2030-01-01T00:00:00.000Z');
      assert.equal(seen.operation.metadata?.type_url, 'type.googleapis.com/longrun.testing.v1.SleepMetadata');
      const metadata = server.longrun.registry.unpack<{ progressPercent: number; attempt: number }>({
        typeUrl: seen.operation.metadata!.type_url,
        value: seen.operation.metadata!.value,
      });
      assert.deepEqual([metadata.progressPercent, metadata.attempt], [40, 1]);
      run.finish({});
    });

    it('is NOT_FOUND for an unknown name, with an ErrorInfo', async () => {
      const error = await rejectsWith(server.client.get('operations/AAAAAAAAAAAAAAAAAAAAAA'), status.NOT_FOUND);
      assert.deepEqual(
        { reason: errorInfoOf(error).reason, domain: errorInfoOf(error).domain },
        { reason: 'OPERATION_NOT_FOUND', domain: 'longrun' },
      );
    });

    for (const name of ['', 'operations/', 'operations', 'ops/abc', 'operations/a/b', 'x/operations/abc', 'operations/a b']) {
      it(`is INVALID_ARGUMENT for the malformed name ${JSON.stringify(name)}`, async () => {
        const error = await rejectsWith(server.client.get(name), status.INVALID_ARGUMENT, /^name: /);
        assert.equal(errorInfoOf(error).metadata['field'], 'name');
      });
    }
  });

  describe('handler outcomes', () => {
    it('keeps the code and message of a typed error', async () => {
      const op = await start();
      (await controlled.next()).fail(new LongrunError(Code.FAILED_PRECONDITION, 'bucket is locked', 'BUCKET_LOCKED', { domain: 'storage.example.com' }));
      const done = (await server.client.wait(op.name, 5000)).operation;
      assert.deepEqual([done.done, done.error?.code, done.error?.message, done.response ?? null], [true, 9, 'bucket is locked', null]);
    });

    it('turns any other exception into UNKNOWN with a generic message', async () => {
      const op = await start();
      // An unexpected throw is retried (docs/policies.md): every attempt throws.
      for (let attempt = 1; attempt <= 3; attempt++) (await controlled.next()).fail(new Error('secret path /etc/shadow'));
      const done = (await server.client.wait(op.name, 10_000)).operation;
      assert.equal(done.error?.code, status.UNKNOWN);
      assert.doesNotMatch(done.error!.message, /shadow/);
    });
  });

  describe('CancelOperation', () => {
    it('fires the running handler signal and ends with CANCELLED', async () => {
      const op = await start();
      const run = await controlled.next();
      await server.client.cancel(op.name);
      const reason = await run.aborted;
      assert.ok(reason instanceof LongrunError && reason.code === Code.CANCELLED);
      await server.client.cancel(op.name); // repeated cancels are no-ops while it stops
      run.fail(reason);
      const done = (await server.client.wait(op.name, 5000)).operation;
      assert.deepEqual([done.done, done.error?.code], [true, status.CANCELLED]);
    });

    it('lets a handler that finishes first keep its result', async () => {
      const op = await start();
      const run = await controlled.next();
      await server.client.cancel(op.name);
      await run.aborted;
      run.finish({ steps: 3 });
      const done = (await server.client.wait(op.name, 5000)).operation;
      assert.equal(done.error ?? null, null);
      assert.ok(done.response);
    });

    it('is FAILED_PRECONDITION for a done operation, whose result stays', async () => {
      const op = await start();
      (await controlled.next()).finish({ steps: 2 });
      const before = (await server.client.wait(op.name, 5000)).operation;
      const error = await rejectsWith(server.client.cancel(op.name), status.FAILED_PRECONDITION, /already done/);
      assert.equal(errorInfoOf(error).reason, 'OPERATION_ALREADY_DONE');
      assert.deepEqual((await server.client.get(op.name)).operation, before);
    });

    it('is NOT_FOUND for an unknown operation', async () => {
      await rejectsWith(server.client.cancel('operations/unknown'), status.NOT_FOUND);
    });
  });

  describe('DeleteOperation', () => {
    it('forgets a done operation: Get, Wait and Cancel say NOT_FOUND and List omits it', async () => {
      const op = await start();
      (await controlled.next()).finish({});
      await server.client.wait(op.name, 5000);
      await server.client.delete(op.name);
      await rejectsWith(server.client.get(op.name), status.NOT_FOUND);
      await rejectsWith(server.client.wait(op.name, 100), status.NOT_FOUND);
      await rejectsWith(server.client.cancel(op.name), status.NOT_FOUND);
      await rejectsWith(server.client.delete(op.name), status.NOT_FOUND);
      const listed = await server.client.list({ pageSize: 1000 });
      assert.ok(!listed.operations.some((o) => o.name === op.name));
    });

    it('refuses a running operation with FAILED_PRECONDITION and does not cancel it', async () => {
      const op = await start();
      const run = await controlled.next();
      const error = await rejectsWith(server.client.delete(op.name), status.FAILED_PRECONDITION, /cancel it first/);
      assert.equal(errorInfoOf(error).reason, 'OPERATION_NOT_DONE');
      assert.equal(run.context.signal.aborted, false);
      run.finish({});
      assert.equal((await server.client.wait(op.name, 5000)).operation.done, true);
    });
  });

  describe('WaitOperation', () => {
    it('returns done as soon as the operation finishes within the timeout', async () => {
      const op = await start();
      const run = await controlled.next();
      const waiting = server.client.wait(op.name, 4000);
      const started = Date.now();
      run.finish({});
      const { operation } = await waiting;
      assert.equal(operation.done, true);
      assert.ok(Date.now() - started < 3000, 'woke on completion, well before the timeout');
    });

    it('returns done=false, not an error, when the timeout passes first', async () => {
      const op = await start();
      const run = await controlled.next();
      const { operation } = await server.client.wait(op.name, 100);
      assert.deepEqual([operation.name, operation.done], [op.name, false]);
      run.finish({});
    });

    it('is capped by the call deadline', async () => {
      const op = await start();
      const run = await controlled.next();
      // The server answers a tenth of the time left before the deadline: a state, not DEADLINE_EXCEEDED.
      const { operation } = await server.client.wait(op.name, 60_000, new Date(Date.now() + 1500));
      assert.equal(operation.done, false);
      run.finish({});
    });

    it('releases the waiter when the client goes away', async () => {
      const op = await start();
      const run = await controlled.next();
      const client = new AbortController();
      const waiting = server.client.wait(op.name, 60_000, undefined, client.signal);
      await eventually(() => server.longrun.events.waitingCount() === 1, 'the server registers the waiter');
      client.abort();
      await assert.rejects(waiting, { code: status.CANCELLED });
      // The server noticed the call end and dropped its listener.
      await eventually(() => server.longrun.events.waitingCount() === 0, 'the server drops the waiter of the call that went away');
      run.finish({});
    });
  });

  describe('idempotent creation', () => {
    it('gives concurrent duplicates with one idempotency-key a single operation and a single run', async () => {
      const startedBefore = controlled.started;
      const replies = await Promise.all(Array.from({ length: 20 }, () => start({}, { 'idempotency-key': 'dup-1' })));
      assert.equal(new Set(replies.map((r) => r.name)).size, 1);
      (await controlled.next()).finish({});
      await server.client.wait(replies[0]!.name, 5000);
      const again = await start({}, { 'idempotency-key': 'dup-1' });
      assert.equal(again.name, replies[0]!.name);
      assert.equal(again.done, true);
      assert.equal(controlled.started - startedBefore, 1);
    });

    it('uses the AIP-155 request_id field as the key', async () => {
      const [a, b] = await Promise.all([start({ requestId: 'req-7' }), start({ requestId: 'req-7' })]);
      assert.equal(a.name, b.name);
      (await controlled.next()).finish({});
    });

    it('refuses a key reused with another request: INVALID_ARGUMENT IDEMPOTENCY_KEY_REUSED', async () => {
      const first = await start({ steps: 1 }, { 'idempotency-key': 'dup-2' });
      (await controlled.next()).finish({});
      const error = await rejectsWith(start({ steps: 2 }, { 'idempotency-key': 'dup-2' }), status.INVALID_ARGUMENT);
      assert.equal(errorInfoOf(error).reason, 'IDEMPOTENCY_KEY_REUSED');
      assert.ok(first.name);
    });
  });
});
