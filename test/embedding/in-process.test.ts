/**
 * The embedded Longrun object is the whole API: cancel, delete, list and watch in process, with
 * the RPCs' semantics, errors, tenancy and limits (each checked beside the RPC's own answer where
 * there is one), and `context.update` saving progress and metadata in one write, as a watcher sees.
 * Rerun on PostgreSQL by test/postgres/embedding.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Code, LongrunError, type Caller, type OperationRecord } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually, within } from '../helpers/wait.js';

/** The LongrunError a promise rejects with, checked for its code (and reason). */
async function rejectsWith(promise: Promise<unknown>, code: Code, reason?: string): Promise<LongrunError> {
  const error = await promise.then(
    () => assert.fail(`expected code ${code}, but it succeeded`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof LongrunError, `expected a LongrunError, got ${String(error)}`);
  assert.equal(error.code, code, error.message);
  if (reason !== undefined) assert.equal(error.reason, reason);
  return error;
}

/** The gRPC status code of a client call's rejection. */
async function grpcCode(promise: Promise<unknown>): Promise<number> {
  const error = (await promise.then(
    () => assert.fail('expected the RPC to fail'),
    (e: unknown) => e,
  )) as { code: number };
  return error.code;
}

const ALICE: Caller = { principal: 'alice' };
const BOB: Caller = { principal: 'bob' };

describe('the embedded API: cancel, delete, list, watch', { timeout: 120_000 }, () => {
  let server: TestServer;
  /** Runs no handlers: its operations stay pending. */
  let idle: TestServer;
  /** Each running handler's release: the handler ends (with `steps` as its response) when called. */
  const releases = new Map<string, () => void>();

  before(async () => {
    server = await startTestServer({
      sleeper: false,
      maxWatchesPerPrincipal: 2,
      watchIntervalMs: 0,
      setup(longrun) {
        // Runs until cancelled or released; reports `steps` updates first when asked.
        longrun.method<{ steps: number }, { progressPercent: number; attempt: number }, { steps: number; attempt: number }>(
          SLEEP_METHOD,
          async (request, context) => {
            for (let step = 1; step <= request.steps; step++) {
              const percent = step * 10;
              await context.update({ percent, metadata: { progressPercent: percent, attempt: context.attempt } });
            }
            await new Promise<void>((resolve, reject) => {
              releases.set(context.name, resolve);
              context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
            });
            return { steps: request.steps, attempt: context.attempt };
          },
        );
      },
    });
    idle = await startTestServer({
      runner: false,
      sleeper: false,
      // Streams end this soon over the wire; the in-process watch goes on.
      watchCapMs: 150,
      setup: (longrun) => longrun.method(SLEEP_METHOD, () => assert.fail('runs nothing')),
    });
  });
  after(() => Promise.all([server.close(), idle.close()]));

  /** Resolves once the handler of `name` runs and waits to be released. */
  function started(name: string): Promise<void> {
    return eventually(() => releases.has(name), `the handler of ${name} to run`);
  }

  async function finish(name: string): Promise<OperationRecord> {
    await started(name);
    releases.get(name)!();
    return within(server.longrun.wait(name, { timeoutMs: 10_000 }), `${name} to finish`);
  }

  it('cancels a running operation: its handler is aborted and it ends CANCELLED; a done one is FAILED_PRECONDITION, as over gRPC', async () => {
    const { longrun, client } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 0 });
    await started(operation.name);
    await longrun.cancel(operation.name);
    const done = await within(longrun.wait(operation.name, { timeoutMs: 10_000 }), 'the cancelled operation to end');
    assert.equal(done.done, true);
    assert.equal(done.error?.code, Code.CANCELLED);
    await rejectsWith(longrun.cancel(operation.name), Code.FAILED_PRECONDITION, 'OPERATION_ALREADY_DONE');
    assert.equal(await grpcCode(client.cancel(operation.name)), status.FAILED_PRECONDITION);
  });

  it('cancels a pending operation at once; refuses to delete it, as DeleteOperation does', async () => {
    const { longrun, client } = idle;
    const pending = await longrun.create(SLEEP_METHOD, { steps: 0 });
    await rejectsWith(longrun.delete(pending.name), Code.FAILED_PRECONDITION, 'OPERATION_NOT_DONE');
    assert.equal(await grpcCode(client.delete(pending.name)), status.FAILED_PRECONDITION);
    await longrun.cancel(pending.name);
    const done = await longrun.get(pending.name);
    assert.equal(done.done, true);
    assert.equal(done.error?.code, Code.CANCELLED);
  });

  it('deletes only done operations; NOT_FOUND afterwards, for get, delete and the RPC alike', async () => {
    const { longrun, client } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 0 });
    await started(operation.name);
    await rejectsWith(longrun.delete(operation.name), Code.FAILED_PRECONDITION, 'OPERATION_NOT_DONE');
    await finish(operation.name);
    await longrun.delete(operation.name);
    await rejectsWith(longrun.get(operation.name), Code.NOT_FOUND, 'OPERATION_NOT_FOUND');
    await rejectsWith(longrun.delete(operation.name), Code.NOT_FOUND, 'OPERATION_NOT_FOUND');
    await rejectsWith(longrun.cancel(operation.name), Code.NOT_FOUND, 'OPERATION_NOT_FOUND');
    assert.equal(await grpcCode(client.get(operation.name)), status.NOT_FOUND);
  });

  it('lists pages with a filter and page tokens, as ListOperations does, and refuses bad input the same way', async () => {
    const { longrun } = server;
    const parent = 'projects/listing';
    const names = [];
    for (let i = 0; i < 3; i++) names.push((await longrun.create(SLEEP_METHOD, { steps: 0, parent })).name);
    const first = await longrun.list({ name: `${parent}/operations`, pageSize: 2 });
    assert.equal(first.operations.length, 2);
    assert.notEqual(first.nextPageToken, '');
    const second = await longrun.list({ name: `${parent}/operations`, pageSize: 2, pageToken: first.nextPageToken });
    assert.equal(second.nextPageToken, '');
    // Newest first, each once.
    assert.deepEqual([...first.operations, ...second.operations].map((o) => o.name), [...names].reverse());
    // The same page as the RPC gives.
    const rpc = await server.client.list({ name: `${parent}/operations`, pageSize: 2 });
    assert.deepEqual(rpc.operations.map((o) => o.name), first.operations.map((o) => o.name));
    const done = await longrun.list({ name: `${parent}/operations`, filter: 'done = true' });
    assert.deepEqual(done.operations, []);
    let error = await rejectsWith(longrun.list({ pageSize: -1 }), Code.INVALID_ARGUMENT);
    assert.equal(error.metadata['field'], 'page_size');
    error = await rejectsWith(longrun.list({ filter: 'done = (true' }), Code.INVALID_ARGUMENT);
    assert.match(error.message, /^filter: /);
    // A token only pages through the listing it was made for.
    await rejectsWith(longrun.list({ name: `${parent}/operations`, filter: 'done = false', pageToken: first.nextPageToken }), Code.INVALID_ARGUMENT);
  });

  it('applies tenancy with a caller: a principal sees, lists, cancels and deletes only its own; the app sees all', async () => {
    const { longrun } = server;
    const parent = 'projects/tenancy';
    const mine = await longrun.create(SLEEP_METHOD, { steps: 0, parent }, { caller: ALICE });
    assert.equal(mine.owner, 'alice');
    assert.equal((await longrun.get(mine.name, { caller: ALICE })).name, mine.name);
    await rejectsWith(longrun.get(mine.name, { caller: BOB }), Code.PERMISSION_DENIED, 'OPERATION_NOT_OWNED');
    await rejectsWith(longrun.cancel(mine.name, { caller: BOB }), Code.PERMISSION_DENIED, 'OPERATION_NOT_OWNED');
    await rejectsWith(longrun.delete(mine.name, { caller: BOB }), Code.PERMISSION_DENIED, 'OPERATION_NOT_OWNED');
    await rejectsWith(longrun.wait(mine.name, { caller: BOB, timeoutMs: 0 }), Code.PERMISSION_DENIED);
    await rejectsWith(longrun.watch(mine.name, { caller: BOB }).next(), Code.PERMISSION_DENIED);
    assert.deepEqual((await longrun.list({ name: `${parent}/operations` }, { caller: BOB })).operations, []);
    assert.deepEqual((await longrun.list({ name: `${parent}/operations` }, { caller: ALICE })).operations.map((o) => o.name), [mine.name]);
    // The app itself (the default caller) is an admin: it sees everyone's.
    assert.deepEqual((await longrun.list({ name: `${parent}/operations` })).operations.map((o) => o.name), [mine.name]);
    await longrun.cancel(mine.name, { caller: ALICE });
    assert.equal((await longrun.wait(mine.name, { timeoutMs: 10_000 })).error?.code, Code.CANCELLED);
  });

  it('watches: the current state at once, then each update, ending after the done state', async () => {
    const { longrun } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 3 });
    const seen: OperationRecord[] = [];
    const watching = (async () => {
      for await (const state of longrun.watch(operation.name)) seen.push(state);
    })();
    await finish(operation.name);
    await within(watching, 'the watch to end after the done state');
    assert.ok(seen.length >= 2, `saw ${seen.length} states`);
    assert.equal(seen.at(-1)!.done, true);
    assert.equal(seen.filter((s) => s.done).length, 1);
    assert.deepEqual(server.longrun.registry.unpack(seen.at(-1)!.response!), { slept: null, steps: 3, attempt: 1 });
  });

  it('ends a watch with NOT_FOUND for a deleted operation, and stops on the signal', async () => {
    const gone = await idle.longrun.create(SLEEP_METHOD, { steps: 0 });
    await idle.longrun.cancel(gone.name);
    await idle.longrun.delete(gone.name);
    await rejectsWith(idle.longrun.watch(gone.name).next(), Code.NOT_FOUND, 'OPERATION_NOT_FOUND');
    const { longrun } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 0 });
    const controller = new AbortController();
    const states: OperationRecord[] = [];
    for await (const state of longrun.watch(operation.name, { signal: controller.signal })) {
      states.push(state);
      controller.abort();
    }
    assert.equal(states.length, 1);
    await longrun.cancel(operation.name);
  });

  it('watches on past the cap on a stream\'s length, without repeating a state, until done', async () => {
    const { longrun } = idle;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 0 });
    const states: OperationRecord[] = [];
    const watching = (async () => {
      for await (const state of longrun.watch(operation.name)) states.push(state);
    })();
    // Several caps pass while nothing changes.
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(states.length, 1, 'the pending state, once');
    await longrun.cancel(operation.name);
    await within(watching, 'the watch to end after the done state');
    assert.deepEqual(states.map((s) => s.done), [false, true]);
  });

  it('holds each principal to maxWatchesPerPrincipal (RESOURCE_EXHAUSTED), and gives the slot back when a loop breaks', async () => {
    const { longrun } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 0 }, { caller: ALICE });
    const one = longrun.watch(operation.name, { caller: ALICE });
    const two = longrun.watch(operation.name, { caller: ALICE });
    await one.next();
    await two.next();
    await rejectsWith(longrun.watch(operation.name, { caller: ALICE }).next(), Code.RESOURCE_EXHAUSTED, 'TOO_MANY_WATCHES');
    // Another principal has slots of its own.
    const admin = longrun.watch(operation.name);
    await admin.next();
    await admin.return();
    // What breaking out of a for-await loop does.
    await one.return();
    const three = longrun.watch(operation.name, { caller: ALICE });
    assert.equal((await three.next()).done, false);
    await Promise.all([two.return(), three.return()]);
    await longrun.cancel(operation.name);
  });

  it('saves update({ percent, metadata }) in one write: a watcher never sees one without the other', async () => {
    const { longrun } = server;
    const operation = await longrun.create(SLEEP_METHOD, { steps: 8 });
    const states: { percent: number | undefined; metadata: number | undefined }[] = [];
    const metadataPercent = (state: OperationRecord) =>
      state.metadata === undefined ? undefined : longrun.registry.unpack<{ progressPercent: number }>(state.metadata).progressPercent;
    // Every state of the row right after each change the store announces, read at once (as a watcher's read).
    const unsubscribe = longrun.store.changes.subscribe((change) => {
      if (change.kind !== 'updated' || change.name !== operation.name) return;
      void longrun.store.get(operation.name, Date.now()).then((row) => {
        if (row !== undefined) states.push({ percent: row.progressPercent, metadata: metadataPercent(row) });
      });
    });
    try {
      for await (const state of longrun.watch(operation.name)) {
        states.push({ percent: state.progressPercent, metadata: metadataPercent(state) });
        if (state.progressPercent === 80) break;
      }
    } finally {
      unsubscribe();
    }
    await finish(operation.name);
    const progressed = states.filter((s) => s.percent !== undefined && s.percent > 0);
    assert.ok(progressed.length >= 2, `saw ${progressed.length} states with progress`);
    for (const state of progressed) assert.equal(state.metadata, state.percent, `progress ${state.percent} with metadata ${state.metadata}`);
  });
});
