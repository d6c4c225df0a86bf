/**
 * The limits of the "Limits" table (docs/grpc-cli.md) that are not a pure parser's: enforced by a real
 * server, over the wire, with the limit named in the message.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Code, hashToken, LongrunError, OperationsClient, TokenTable } from '../../src/index.js';
import { MAX_OPERATION_PAYLOAD_BYTES } from '../../src/domain/operation.js';
import { MAX_RECEIVE_MESSAGE_BYTES } from '../../src/grpc/server.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';
import { eventually } from '../helpers/wait.js';

interface OperationReply {
  name: string;
  done: boolean;
}

/** google.rpc.Status { message } serializes to 1 tag byte, a 3-byte length and the message. */
const STATUS_OVERHEAD = 4;
const statusOfSize = (bytes: number) => ({ message: 'x'.repeat(bytes - STATUS_OVERHEAD) });

describe('metadata and response size per operation (MAX_OPERATION_PAYLOAD_BYTES)', { timeout: 180_000 }, () => {
  let server: TestServer;
  const keptMetadata: string[] = [];

  before(async () => {
    // A method whose metadata and response are google.rpc.Status, so a handler can make them any size.
    server = await startTestServer({
      sleeper: false,
      setup(longrun) {
        longrun.method<{ steps: number }, { message: string }, { message: string }>(
          SLEEP_METHOD,
          async (request, context) => {
            switch (request.steps) {
              case 1: // metadata over the limit, not caught: the operation fails with it
                await context.setMetadata(statusOfSize(MAX_OPERATION_PAYLOAD_BYTES + 1));
                return { message: 'unreachable' };
              case 2: // response over the limit
                return statusOfSize(MAX_OPERATION_PAYLOAD_BYTES + 1);
              case 5: // an error whose message is over the limit
                throw new LongrunError(Code.FAILED_PRECONDITION, 'x'.repeat(MAX_OPERATION_PAYLOAD_BYTES + 1), 'TOO_LONG', { domain: 'test.example.com' });
              case 3: // metadata over the limit, caught: the previous metadata stays, the run goes on
                await context.setMetadata({ message: 'small' });
                await context.setMetadata(statusOfSize(MAX_OPERATION_PAYLOAD_BYTES + 1)).catch((error: Error) => keptMetadata.push(error.message));
                return { message: 'done anyway' };
              default: // exactly at the limit, both
                await context.setMetadata(statusOfSize(MAX_OPERATION_PAYLOAD_BYTES));
                return statusOfSize(MAX_OPERATION_PAYLOAD_BYTES);
            }
          },
          { metadataType: 'google.rpc.Status', responseType: 'google.rpc.Status' },
        );
      },
    });
  });
  after(() => server.close());

  const run = async (steps: number) => {
    const op = await server.call<OperationReply>(SLEEP_METHOD, { steps });
    const { operation: done } = await server.client.wait(op.name, 10_000);
    assert.equal(done.done, true);
    return done;
  };

  it('fails the operation with RESOURCE_EXHAUSTED naming the limit when setMetadata is over it', async () => {
    const done = await run(1);
    assert.equal(done.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(done.error!.message, new RegExp(`metadata is ${MAX_OPERATION_PAYLOAD_BYTES + 1} bytes serialized; the limit is ${MAX_OPERATION_PAYLOAD_BYTES} \\(MAX_OPERATION_PAYLOAD_BYTES\\)`));
  });

  it('fails the operation the same way when the response is over it', async () => {
    const done = await run(2);
    assert.equal(done.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(done.error!.message, /response is \d+ bytes serialized; the limit is \d+ \(MAX_OPERATION_PAYLOAD_BYTES\)/);
    // The server is unharmed.
    assert.ok(!(await run(4)).error);
  });

  it('replaces an error message over the limit with RESOURCE_EXHAUSTED naming it', async () => {
    const done = await run(5);
    assert.equal(done.error?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(done.error!.message, /error message is \d+ bytes serialized; the limit is \d+ \(MAX_OPERATION_PAYLOAD_BYTES\)/);
  });

  it('lets a handler that catches the rejection go on, keeping the previous metadata', async () => {
    const done = await run(3);
    assert.ok(!done.error, done.error?.message);
    assert.equal(keptMetadata.length, 1);
    assert.match(keptMetadata[0]!, /MAX_OPERATION_PAYLOAD_BYTES/);
    assert.equal(server.longrun.registry.decode<{ message: string }>('google.rpc.Status', done.metadata!.value).message, 'small');
  });

  it('accepts metadata and a response of exactly the limit', async () => {
    const done = await run(4);
    assert.ok(!done.error, done.error?.message);
    assert.equal(done.response?.value.length, MAX_OPERATION_PAYLOAD_BYTES);
  });
});

describe('concurrent WaitOperation calls per principal (--max-waits-per-principal)', { timeout: 180_000 }, () => {
  const TOKENS = { alice: 'limits-alice', bob: 'limits-bob' } as const;
  let server: TestServer;
  let alice: OperationsClient;
  let bob: OperationsClient;
  const start = (who: keyof typeof TOKENS) =>
    server.call<OperationReply>(SLEEP_METHOD, { duration: { seconds: 60 } }, { authorization: `Bearer ${TOKENS[who]}` });

  before(async () => {
    const table = Object.entries(TOKENS).map(([who, token]) => `${hashToken(token)} ${who}`).join('\n');
    server = await startTestServer({ maxWaitsPerPrincipal: 2, waitCapMs: 10_000, serve: { auth: { tokens: TokenTable.parse(table) } } });
    alice = new OperationsClient(server.address, { token: TOKENS.alice });
    bob = new OperationsClient(server.address, { token: TOKENS.bob });
  });
  after(async () => {
    alice.close();
    bob.close();
    await server.close();
  });

  it('refuses one more with RESOURCE_EXHAUSTED naming the limit, counts each principal apart, and frees a slot when a wait ends', async () => {
    const op = await start('alice');
    const waiting = [alice.wait(op.name, 10_000), alice.wait(op.name, 10_000)];
    await eventually(() => server.longrun.events.waitingCount() === 2, "both of alice's waits are registered");
    const refused = await rejectsWith(alice.wait(op.name, 10_000), grpc.status.RESOURCE_EXHAUSTED, /the limit is 2 \(--max-waits-per-principal\)/);
    assert.equal(errorInfoOf(refused).reason, 'TOO_MANY_WAITS');
    // Bob has his own allowance.
    const bobs = await start('bob');
    assert.equal((await bob.wait(bobs.name, 0)).operation.done, false);
    // Cancelling ends alice's waits; her slots are free again.
    await alice.cancel(op.name);
    for (const { operation } of await Promise.all(waiting)) assert.equal(operation.error?.code, grpc.status.CANCELLED);
    assert.equal((await alice.wait(op.name, 10_000)).operation.done, true);
    await bob.cancel(bobs.name);
  });
});

describe('malformed requests over the wire', { timeout: 180_000 }, () => {
  let server: TestServer;
  let raw: grpc.Client;
  before(async () => {
    server = await startTestServer();
    raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    raw.close();
    await server.close();
  });

  const sendBytes = (path: string, bytes: Buffer) =>
    new Promise<unknown>((resolve, reject) =>
      raw.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), {}, (error, reply) =>
        error ? reject(error) : resolve(reply),
      ),
    );

  it('answers bytes that are not a valid request message with INVALID_ARGUMENT, not INTERNAL', async () => {
    // An unknown field 2, length-delimited, whose length runs past the end.
    for (const path of ['/google.longrunning.Operations/GetOperation', SLEEP_METHOD]) {
      const error = await rejectsWith(sendBytes(path, Buffer.from([0x7a, 0x05])), grpc.status.INVALID_ARGUMENT, /^request: the request bytes are not a valid/);
      assert.equal(errorInfoOf(error).metadata.field, 'request');
    }
  });

  it('authenticates the caller before looking at the bytes', async () => {
    const table = `${hashToken('limits-token')} carol`;
    const guarded = await startTestServer({ serve: { auth: { tokens: TokenTable.parse(table) } } });
    const client = new grpc.Client(guarded.address, grpc.credentials.createInsecure());
    try {
      const error = await new Promise<grpc.ServiceError>((resolve) =>
        client.makeUnaryRequest(SLEEP_METHOD, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x7a, 0x05]), new grpc.Metadata(), {}, (e) => resolve(e!)),
      );
      assert.equal(error.code, grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
      await guarded.close();
    }
  });

  it('refuses a message over MAX_RECEIVE_MESSAGE_BYTES with RESOURCE_EXHAUSTED', async () => {
    await assert.rejects(
      sendBytes('/google.longrunning.Operations/GetOperation', Buffer.alloc(MAX_RECEIVE_MESSAGE_BYTES + 1)),
      (error: grpc.ServiceError) => error.code === grpc.status.RESOURCE_EXHAUSTED && /larger than max/.test(error.details),
    );
  });

  it('survives an error message that would quote half of a surrogate pair', async () => {
    // The quoted name is cut at 200 UTF-16 units, in the middle of an emoji; grpc-js encodeURI()s
    // the message, which throws on a lone surrogate outside any handler and used to end the process.
    const name = `operations/${'😀'.repeat(150)}`;
    await rejectsWith(server.client.get(name), grpc.status.INVALID_ARGUMENT, /^name: must look like/);
    await rejectsWith(server.client.get('operations/x'), grpc.status.NOT_FOUND);
  });
});
