/**
 * Queue transparency end to end: a due operation says whether it waits for its concurrency key or
 * for a runner, and then its place in line, in the status monitor, both watch streams and the typed
 * client (what `longrun get` prints from).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type LongrunClient } from '../../src/grpc/typed-client.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled, type ControlledRun } from '../helpers/controlled.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { within } from '../helpers/wait.js';

describe('where a waiting operation stands, over every transport', { timeout: 60_000 }, () => {
  let server: TestServer;
  let client: LongrunClient;
  const controlled = new Controlled();
  let holder: ControlledRun;

  before(async () => {
    // One run at a time, so operations created after the first wait in line.
    server = await startTestServer({ sleeper: false, http: {}, setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler, { concurrency: 1 }) });
    client = createClient(server.address);
  });
  after(async () => {
    holder?.finish({});
    client?.close();
    await server?.close();
  });

  const create = async (headers: Record<string, string> = {}) => {
    const reply = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers });
    assert.equal(reply.status, 202, JSON.stringify(reply.json));
    return reply.json.name as string;
  };
  const monitor = async (name: string) => (await http('GET', `${server.httpUrl}/v1/${name}/status`)).json;

  it('says waiting_for_key while its key is held, and queued with its position otherwise', async () => {
    const running = await create({ 'Longrun-Concurrency-Key': 'printer' });
    holder = await controlled.next();
    assert.equal(holder.context.name, running);
    const keyed = await create({ 'Longrun-Concurrency-Key': 'printer' });
    const first = await create();
    const second = await create();
    const urgent = await create({ 'Longrun-Priority': '7' });

    const keyedStatus = await monitor(keyed);
    assert.deepEqual([keyedStatus.status, keyedStatus.waiting, keyedStatus.queue_position], ['pending', 'waiting_for_key', undefined]);
    const places = await Promise.all([urgent, first, second].map(monitor));
    assert.deepEqual(places.map((status) => [status.waiting, status.queue_position]), [['queued', 1], ['queued', 2], ['queued', 3]], 'priority first, then in order; the key-waiting one is not in line');
    assert.equal((await monitor(running)).queue_position, undefined, 'running');

    // gRPC's watch stream, through the typed client.
    assert.deepEqual(await client.scheduling(second), { attempt: 0, waitingReason: 'queued', queuePosition: 3 });
    assert.deepEqual(await client.scheduling(keyed), { attempt: 0, waitingReason: 'waiting_for_key' });

    // The HTTP watch stream.
    const stream = await openSse(`${server.httpUrl}/v1/${first}:watch`);
    try {
      const events = stream.events()[Symbol.asyncIterator]();
      let state: SseEvent | undefined;
      while (state === undefined) {
        const next = await within(events.next(), 'the first state', 10_000);
        assert.equal(next.done, false);
        if (next.value.event === 'operation') state = next.value;
      }
      const body = JSON.parse(state.data) as { waitingReason?: string; queuePosition?: number };
      assert.deepEqual([body.waitingReason, body.queuePosition], ['queued', 2]);
    } finally {
      stream.close();
    }
  });
});
