/**
 * Re-runs and bulk cancels (issue 21 §4): in process, over gRPC with principals and an admin, and
 * over HTTP (routes from the proto's google.api.http rules), with the link to the original shown by
 * the status monitor and the watch stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Validator } from '@seriousme/openapi-schema-validator';
import { addBulkOperations, CANCEL_OPERATIONS_METHOD, Code, hashToken, RERUN_OPERATIONS_METHOD, TokenTable, type OperationRecord } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openSse } from '../helpers/sse.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';
import { within } from '../helpers/wait.js';

const TOKENS = { alice: 'alice-token-1f0c', bob: 'bob-token-77aa', ops: 'ops-token-9d3e' } as const;
type Who = keyof typeof TOKENS;
const tokenFile = Object.entries(TOKENS).map(([principal, token]) => `${hashToken(token)}\t${principal}`).join('\n');

/** A Sleeper request that fails at once, not retried (FAILED_PRECONDITION is not a retryable code). */
const failing = (extra: Record<string, unknown> = {}) => ({ duration: { seconds: 0 }, failWith: { code: Code.FAILED_PRECONDITION, message: 'boom' }, ...extra });
const FAILED = `done = true AND error.code = ${Code.FAILED_PRECONDITION}`;

interface Reply {
  name: string;
  done: boolean;
}

describe('re-running and cancelling in bulk', { timeout: 120_000 }, () => {
  let server: TestServer;
  const bearer = (who: Who) => ({ authorization: `Bearer ${TOKENS[who]}` });
  const callerOf = (who: Who) => ({ principal: who, ...(who === 'ops' && { admin: true }) });
  const settle = (name: string) => server.longrun.wait(name, { timeoutMs: 10_000 });
  const start = async (who: Who, request: Record<string, unknown>) => settle((await server.call<Reply>(SLEEP_METHOD, request, bearer(who))).name);
  const responseOf = (op: OperationRecord) => server.longrun.registry.unpack<Record<string, any>>(op.response!);
  const metadataOf = (op: OperationRecord) => server.longrun.registry.unpack<Record<string, any>>(op.metadata!);

  before(async () => {
    server = await startTestServer({
      waitCapMs: 10_000,
      http: { auth: { tokens: TokenTable.parse(tokenFile), admins: ['ops'] } },
      serve: { auth: { tokens: TokenTable.parse(tokenFile), admins: ['ops'] } },
      setup: addBulkOperations,
    });
  });
  after(() => server.close());

  it('re-runs one done operation in process: same request, linked, and once per key', async () => {
    const original = await start('alice', failing({ steps: 3 }));
    assert.equal(original.error?.code, Code.FAILED_PRECONDITION);
    const rerun = await server.longrun.rerun(original.name, { caller: callerOf('alice'), idempotencyKey: 'k1' });
    assert.notEqual(rerun.name, original.name);
    assert.deepEqual([rerun.rerunOf, rerun.owner, rerun.method], [original.name, 'alice', SLEEP_METHOD]);
    const again = await server.longrun.rerun(original.name, { caller: callerOf('alice'), idempotencyKey: 'k1' });
    assert.equal(again.name, rerun.name, 'one key, one re-run');
    const done = await settle(rerun.name);
    assert.equal(done.error?.message, 'boom', 'it ran the same request');
    assert.equal(server.longrun.registry.unpack<{ steps: number }>((await server.longrun.store.getRequest(rerun.name, Date.now()))!).steps, 3);
    await assert.rejects(server.longrun.rerun(original.name, { caller: callerOf('bob') }), { code: Code.PERMISSION_DENIED });
    const running = await server.call<Reply>(SLEEP_METHOD, { duration: { seconds: 30 } }, bearer('alice'));
    await assert.rejects(server.longrun.rerun(running.name, { caller: callerOf('alice') }), { code: Code.FAILED_PRECONDITION, reason: 'OPERATION_NOT_DONE' });
    await server.longrun.cancel(running.name);
  });

  it('re-runs what a filter matches over gRPC: only the caller\'s own, counted, listed, idempotent; dry runs count', async () => {
    const mine = [await start('alice', failing({ parent: 'projects/f1' })), await start('alice', failing({ parent: 'projects/f1' }))];
    await start('alice', { duration: { seconds: 0 }, parent: 'projects/f1' }); // succeeded: no match
    const bobs = await start('bob', failing({ parent: 'projects/f1' }));
    const request = { filter: FAILED, collection: 'projects/f1/operations' };

    const dry = await settle((await server.call<Reply>(RERUN_OPERATIONS_METHOD, { ...request, dryRun: true }, bearer('alice'))).name);
    assert.deepEqual([responseOf(dry).count, responseOf(dry).reruns, metadataOf(dry).dryRun], [2, [], true]);

    const bulk = await server.call<Reply>(RERUN_OPERATIONS_METHOD, { ...request, requestId: 'r-1' }, bearer('alice'));
    const done = await settle(bulk.name);
    const response = responseOf(done);
    assert.deepEqual(response.reruns.map((r: { original: string }) => r.original).sort(), mine.map((op) => op.name).sort());
    assert.deepEqual([response.matched, response.count, response.truncated], [2, 2, false]);
    assert.deepEqual([metadataOf(done).matched, metadataOf(done).changed], [2, 2]);
    for (const { original, operation } of response.reruns as { original: string; operation: string }[]) {
      const status = await http('GET', `${server.httpUrl}/v1/${operation}/status`, { headers: bearer('alice') });
      assert.equal(status.json.rerun_of, original, 'the status monitor links the re-run to its original');
    }
    const same = await server.call<Reply>(RERUN_OPERATIONS_METHOD, { ...request, requestId: 'r-1' }, bearer('alice'));
    assert.equal(same.name, bulk.name, 'one request id, one bulk operation');

    const refused = await rejectsWith(server.call(RERUN_OPERATIONS_METHOD, { ...request, allPrincipals: true }, bearer('bob')), status.PERMISSION_DENIED);
    assert.equal(errorInfoOf(refused).reason, 'ADMIN_ONLY');
    const everyone = await settle((await server.call<Reply>(RERUN_OPERATIONS_METHOD, { ...request, allPrincipals: true, requestId: 'r-1' }, bearer('ops'))).name);
    const originals = (responseOf(everyone).reruns as { original: string }[]).map((r) => r.original);
    assert.ok(originals.includes(bobs.name), "an admin's all_principals re-runs bob's too");
    await rejectsWith(server.call(RERUN_OPERATIONS_METHOD, { name: mine[0]!.name, filter: FAILED }, bearer('alice')), status.INVALID_ARGUMENT, /^name: /);
    await rejectsWith(server.call(RERUN_OPERATIONS_METHOD, { filter: 'colour = red' }, bearer('alice')), status.INVALID_ARGUMENT, /^filter: /);
  });

  it('re-runs one by name over HTTP, and the watch stream names the original', async () => {
    const original = await start('alice', failing());
    const reply = await http('POST', `${server.httpUrl}/v1/operations:rerun`, { body: { name: original.name }, headers: bearer('alice') });
    assert.equal(reply.status, 202, JSON.stringify(reply.json));
    const done = await settle(reply.json.name);
    const [rerun] = responseOf(done).reruns as { original: string; operation: string }[];
    assert.equal(rerun?.original, original.name);
    const stream = await openSse(`${server.httpUrl}/v1/${rerun!.operation}:watch`, bearer('alice'));
    const events = stream.events();
    const first = (await within(events.next(), 'the first watch event')).value!;
    stream.close();
    assert.equal(JSON.parse(first.data).rerunOf, original.name);
    const other = await http('POST', `${server.httpUrl}/v1/operations:rerun`, { body: { name: original.name }, headers: bearer('bob') });
    assert.equal(other.status, 202, 'the bulk operation is created; it fails on the tenancy rule');
    assert.equal((await settle(other.json.name)).error?.code, Code.PERMISSION_DENIED);
  });

  it('describes both routes in the OpenAPI document, accepted by an OpenAPI 3.1 validator', async () => {
    const reply = await http('GET', `${server.httpUrl}/openapi.json`);
    assert.equal(reply.status, 200);
    for (const path of ['/v1/operations:rerun', '/v1/operations:bulkCancel']) assert.ok(reply.json.paths[path]?.post, `${path} is described`);
    const validator = new Validator();
    const result = await validator.validate(reply.json);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
  });

  it('cancels what a filter matches over HTTP, the caller\'s own only, and not itself', async () => {
    const alices = await Promise.all([1, 2].map(() => server.call<Reply>(SLEEP_METHOD, { duration: { seconds: 60 }, parent: 'projects/c1' }, bearer('alice'))));
    const bobs = await server.call<Reply>(SLEEP_METHOD, { duration: { seconds: 60 }, parent: 'projects/c1' }, bearer('bob'));
    const dry = await http('POST', `${server.httpUrl}/v1/operations:bulkCancel`, { body: { filter: 'done = false', collection: 'projects/c1/operations', dryRun: true }, headers: bearer('alice') });
    assert.equal(responseOf(await settle(dry.json.name)).count, 2);
    const reply = await http('POST', `${server.httpUrl}/v1/operations:bulkCancel`, { body: { filter: 'done = false', collection: 'projects/c1/operations' }, headers: bearer('alice') });
    assert.equal(reply.status, 202);
    const done = await settle(reply.json.name);
    assert.deepEqual((responseOf(done).cancelled as string[]).sort(), alices.map((op) => op.name).sort());
    for (const op of alices) assert.equal((await settle(op.name)).error?.code, Code.CANCELLED);
    assert.equal((await server.longrun.get(bobs.name)).done, false, "bob's goes on");
    // Over the whole collection the bulk operation matches itself: it is skipped, not cancelled.
    const all = await settle((await server.call<Reply>(CANCEL_OPERATIONS_METHOD, { filter: 'done = false' }, bearer('bob'))).name);
    assert.equal(all.error, undefined);
    assert.ok((responseOf(all).cancelled as string[]).every((name) => name !== all.name));
    await server.longrun.cancel(bobs.name).catch(() => undefined);
  });
});
