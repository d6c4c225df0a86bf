/**
 * A PostgreSQL outage in the middle of work, beyond creations (test/multiprocess/postgres.test.ts
 * covers those): an operation runs while the server is stopped, with a WaitOperation, a gRPC watch
 * and an SSE watch open on it and a completion callback due. While the database is down reads
 * answer UNAVAILABLE; once it is back, without a restart, the operation's outcome is written as
 * attempt 1, every waiter and watcher hears the end, and the callback is delivered once.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { stopTestPostgres, testPostgres, type TestDatabase, type TestPostgres } from '../helpers/postgres.js';
import { startReceiver, verified, type Receiver } from '../helpers/receiver.js';
import { progressed, startTestServer, type TestServer } from '../helpers/server.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { rejectsWith } from '../helpers/status.js';
import { eventually, within } from '../helpers/wait.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const RUN_MS = 3000;

describe('a PostgreSQL outage while an operation runs and is watched', { timeout: 180_000 }, () => {
  let postgres: TestPostgres;
  let database: TestDatabase;
  let server: TestServer;
  let receiver: Receiver;

  before(async () => {
    // A cluster of its own: the test stops and starts it.
    postgres = await testPostgres({ restartable: true });
    database = await postgres.freshDatabase();
    receiver = await startReceiver();
    server = await startTestServer({
      databasePath: database.url,
      http: {},
      pollMs: 50,
      callbacks: { secrets: [SECRET], allow: ['127.0.0.1'], retrySchedule: [100, 200, 400, 800, 1600] },
    });
  });
  after(async () => {
    await server?.close();
    await receiver?.close();
    await stopTestPostgres();
  });

  it('keeps the run, the waits, the watches and the callback through a stop and start of the server', async (t) => {
    assert.ok(postgres.stopServer && postgres.startServer, 'the throwaway cluster can be stopped');
    const created = await http('POST', `${server.httpUrl}/v1/sleep`, {
      body: { duration: `${RUN_MS / 1000}s`, steps: 6 },
      headers: { 'Longrun-Callback-Url': receiver.url },
    });
    assert.equal(created.status, 202);
    const name: string = created.json.name;
    const startedAt = Date.now();
    await progressed(server.longrun, name);

    // A wait, a gRPC watch and an SSE watch, all open before the outage. Each either rides it out
    // or ends with UNAVAILABLE (whether its backstop read fell in the outage is timing), which a
    // client retries: either way, the client learns the end.
    const failedWith = (error: unknown) => ({ code: (error as { code?: number }).code });
    const waiting = server.client.wait(name, 60_000).then((reply) => ({ done: reply.operation.done, error: reply.operation.error }), failedWith);
    const watchOnce = async () => {
      const states: { done: boolean }[] = [];
      try {
        for await (const state of server.client.watch(name)) states.push(state.operation);
        return { states };
      } catch (error) {
        return { states, ...failedWith(error) };
      }
    };
    const watched = watchOnce();
    const sseOnce = async () => {
      const sse = await openSse(`${server.httpUrl}/v1/${name}:watch`);
      assert.equal(sse.status, 200);
      const events: SseEvent[] = [];
      return {
        open: (async () => {
          for await (const event of sse.events()) events.push(event);
          return events;
        })(),
      };
    };
    const sse = await sseOnce();
    await eventually(() => server.longrun.events.waitingCount() === 1 && server.longrun.events.watchingCount() === 2, 'the wait and both watches to be registered');

    await postgres.stopServer();
    try {
      // Down: a read answers UNAVAILABLE, naming the store.
      await rejectsWith(server.client.get(name), status.UNAVAILABLE, /operation store cannot be reached/);
      // Stay down past the handler's end, so its outcome must wait for the database.
      await sleep(Math.max(0, startedAt + RUN_MS + 500 - Date.now()));
    } finally {
      await postgres.startServer();
    }
    t.diagnostic(`PostgreSQL was down from before the handler ended until ${Date.now() - startedAt} ms after the creation`);

    const waited = await within(waiting, 'the WaitOperation opened before the outage to answer', 30_000);
    const outcomes: string[] = [];
    if ('code' in waited) {
      assert.equal(waited.code, status.UNAVAILABLE, 'a wait cut by the outage ends UNAVAILABLE, the code a client retries');
      outcomes.push('wait: UNAVAILABLE, retried');
      const again = await server.client.wait(name, 30_000);
      assert.equal(again.operation.done, true);
    } else {
      outcomes.push('wait: rode it out');
      assert.equal(waited.done, true);
      assert.equal(waited.error, undefined, `succeeded: ${JSON.stringify(waited.error)}`);
    }
    let watch = await within(watched, 'the gRPC watch to end', 30_000);
    if ('code' in watch) {
      assert.equal(watch.code, status.UNAVAILABLE, 'a watch cut by the outage ends UNAVAILABLE');
      outcomes.push('gRPC watch: UNAVAILABLE, watched again');
      watch = await within(watchOnce(), 'the second gRPC watch to end', 30_000);
      assert.equal('code' in watch, false, `the second watch ended cleanly: ${JSON.stringify(watch)}`);
    } else {
      outcomes.push('gRPC watch: rode it out');
    }
    assert.equal(watch.states.at(-1)?.done, true, 'the gRPC watch saw the end');
    let events = await within(sse.open, 'the SSE watch to end', 30_000);
    if (events.at(-1)?.event !== 'end') {
      const cut = events.at(-1)!;
      assert.equal(cut.event, 'error', `an SSE watch cut by the outage ends with an error event: ${JSON.stringify(cut)}`);
      const body = JSON.parse(cut.data) as { error: { code: number; status: string } };
      assert.deepEqual([body.error.code, body.error.status], [503, 'UNAVAILABLE']);
      outcomes.push(`SSE: ended with ${JSON.stringify(events.at(-1))}, watched again`);
      events = await within((await sseOnce()).open, 'the second SSE watch to end', 30_000);
    } else {
      outcomes.push('SSE: rode it out');
    }
    const last = events.filter((event) => event.event === 'operation').at(-1);
    assert.equal((JSON.parse(last!.data) as { operation: { done: boolean } }).operation.done, true, 'the SSE watch saw the end');
    assert.equal(events.at(-1)?.event, 'end');
    t.diagnostic(outcomes.join('; '));

    // Written once, by the run that held the lease through the outage.
    const record = await server.longrun.get(name);
    assert.equal(record.attempt, 1, 'no rerun: the outcome waited for the database');

    // The outbox row was written with the outcome; the callback goes out once.
    const [delivery] = await receiver.count(1, 30_000);
    const payload = verified(SECRET, delivery!);
    assert.deepEqual([payload.id, payload.type], [name, 'operation.succeeded']);
    assert.equal(receiver.ids().size, 1, 'one webhook-id');
  });
});
