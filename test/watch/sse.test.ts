/**
 * `GET /v1/{name}:watch` as Server-Sent Events: one event per change with the Operation as proto3
 * JSON and its progress, ids that Last-Event-ID resumes from, keep-alive comments, an end event
 * after done; errors and limits as HTTP statuses; and the route in the OpenAPI description.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { hashToken, TokenTable } from '../../src/index.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually, within } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const sleep = (ms: number, steps: number) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps });

interface WatchJson {
  operation: { name: string; done?: boolean; metadata?: { '@type': string }; response?: { '@type': string } };
  progressPercent?: number;
}

/** An operator removing an operation's row by hand, in a connection of its own, telling the change feed as another process would. */
async function removeUnderneath(databasePath: string, name: string): Promise<void> {
  if (/^postgres(ql)?:/.test(databasePath)) {
    const client = new pg.Client({ connectionString: databasePath });
    await client.connect();
    try {
      await client.query('DELETE FROM longrun.operations WHERE name = $1', [name]);
      await client.query("SELECT pg_notify('longrun.updated', 'test' || E'\\n' || $1::text)", [name]);
    } finally {
      await client.end();
    }
    return;
  }
  const db = new Database(databasePath);
  try {
    db.prepare('DELETE FROM operations WHERE name = ?').run(name);
    db.prepare("INSERT INTO changes (origin, kind, subject, at) VALUES ('test', 'updated', ?, 0)").run(name);
  } finally {
    db.close();
  }
}

async function all(events: AsyncIterable<SseEvent>): Promise<SseEvent[]> {
  const seen: SseEvent[] = [];
  for await (const event of events) seen.push(event);
  return seen;
}

describe('watching over HTTP (Server-Sent Events)', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ watchIntervalMs: 50, maxWatchesPerPrincipal: 3, http: { keepAliveMs: 100 } });
  });
  after(() => server?.close());
  const url = (name: string) => `${server.httpUrl}/v1/${name}:watch`;

  it('sends one event per change with ids, the Operation as JSON, and an end event after done', async () => {
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(1000, 5));
    const stream = await openSse(url(name));
    assert.equal(stream.status, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    const events = (await within(all(stream.events()), 'the event stream to end', 15_000)).filter((e) => e.event !== 'comment');
    assert.equal(events.at(-1)!.event, 'end');
    const states = events.filter((e) => e.event === 'operation');
    assert.deepEqual(events.slice(0, -1).map((e) => e.event), states.map(() => 'operation'));
    const bodies = states.map((e) => JSON.parse(e.data) as WatchJson);
    assert.ok(states.every((e) => e.id !== undefined && e.id !== ''), 'every state has an id');
    assert.equal(new Set(states.map((e) => e.id)).size, states.length, 'ids differ');
    assert.equal(bodies[0]!.operation.name, name);
    assert.equal(bodies.at(-1)!.operation.done, true);
    assert.equal(bodies.at(-1)!.operation.response!['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.ok(bodies.some((b) => (b.progressPercent ?? 0) > 0 && (b.progressPercent ?? 0) < 100), `progress: ${bodies.map((b) => b.progressPercent).join(',')}`);
    assert.equal(bodies.at(-2)!.operation.metadata!['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata');
  });

  it("carries the fields gRPC's WatchOperationResponse has: why a scheduled operation waits and until when", async () => {
    const startTime = new Date(Date.now() + 3_600_000).toISOString();
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(10, 1), { 'longrun-start-time': startTime });
    const stream = await openSse(url(name));
    try {
      const iterator = stream.events()[Symbol.asyncIterator]();
      let first: SseEvent | undefined;
      while (first === undefined) {
        const next = await within(iterator.next(), 'the first state', 10_000);
        assert.equal(next.done, false, 'the stream ended before its first state');
        if (next.value.event === 'operation') first = next.value;
      }
      const body = JSON.parse(first.data) as WatchJson & { waitingReason?: string; estimatedStartTime?: string; attempt?: number };
      assert.equal(body.waitingReason, 'scheduled');
      assert.equal(Date.parse(body.estimatedStartTime ?? ''), Date.parse(startTime));
      // proto3 JSON leaves out a zero: no attempt has started.
      assert.equal(body.attempt, undefined);
    } finally {
      stream.close();
    }
  });

  it('sends keep-alive comments while nothing changes, and resumes from Last-Event-ID without repeating', async () => {
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(2500, 1));
    const first = await openSse(url(name));
    const firstEvents = first.events();
    let opening = (await within(firstEvents.next(), 'the first event')).value as SseEvent;
    assert.equal(opening.event, 'operation');
    // Once it runs, nothing changes for 2.5 s: comments keep the connection alive (every 100 ms here).
    for (;;) {
      const next = (await within(firstEvents.next(), 'a keep-alive')).value as SseEvent;
      if (next.event === 'comment') break;
      opening = next; // the claim (PENDING to RUNNING) came first
    }
    first.close();
    const resumed = await openSse(url(name), { 'last-event-id': opening.id! });
    assert.equal(resumed.status, 200);
    const events = (await within(all(resumed.events()), 'the resumed stream to end', 15_000)).filter((e) => e.event !== 'comment');
    const states = events.filter((e) => e.event === 'operation');
    assert.ok(!states.some((e) => e.id === opening.id), 'the state the client had is not sent again');
    assert.equal((JSON.parse(states.at(-1)!.data) as WatchJson).operation.done, true);
    assert.equal(events.at(-1)!.event, 'end');
  });

  it('answers errors before the stream as HTTP errors, and refuses watchers over the limit with 429', async () => {
    // No authentication here (every caller sees every operation): an unknown name is 404, not 403.
    const missing = await openSse(url('operations/no-such-operation'));
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers['content-type']), /application\/json/);
    JSON.parse(await missing.body());
    // Every stream of the tests before has let go of its slot (and its listener): nothing leaks.
    await eventually(() => server.longrun.events.watchingCount() === 0, 'closed streams to be released');
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(3000, 1));
    const open = await Promise.all([openSse(url(name)), openSse(url(name)), openSse(url(name))]);
    assert.deepEqual(open.map((s) => s.status), [200, 200, 200]);
    // Headers are sent with the first event; make sure all three hold their slot.
    for (const stream of open) await within(stream.events().next(), 'the first event');
    const refused = await openSse(url(name));
    assert.equal(refused.status, 429);
    assert.match(await refused.body(), /TOO_MANY_WATCHES/);
    for (const stream of open) stream.close();
    await eventually(() => server.longrun.events.watchingCount() === 0, 'closed streams to be released');
  });

  it('answers HEAD with the stream headers and nothing to hold open; a missing operation is 404 as for GET', async () => {
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(60_000, 1));
    const head = await within(http('HEAD', url(name)), 'HEAD to answer at once', 5000);
    assert.equal(head.status, 200);
    assert.match(String(head.headers['content-type']), /^text\/event-stream/);
    assert.equal(head.text, '');
    const missing = await http('HEAD', url('operations/no-such-operation'));
    assert.equal(missing.status, 404);
    assert.equal(server.longrun.events.watchingCount(), 0);
    await http('POST', `${server.httpUrl}/v1/${name}:cancel`);
  });

  it('ends a started stream with an error event when the operation goes away underneath it', async () => {
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(60_000, 1));
    const stream = await openSse(url(name));
    const events = stream.events();
    assert.equal(((await within(events.next(), 'the first event')).value as SseEvent).event, 'operation');
    await removeUnderneath(server.databasePath, name);
    const rest = (await within(all({ [Symbol.asyncIterator]: () => events }), 'the stream to end', 10_000)).filter((e) => e.event !== 'comment' && e.event !== 'operation');
    assert.deepEqual(rest.map((e) => e.event), ['error']);
    const body = JSON.parse(rest[0]!.data) as { error: { code: number; status: string; message: string } };
    assert.deepEqual([body.error.code, body.error.status], [404, 'NOT_FOUND']);
    assert.match(body.error.message, new RegExp(name));
    await eventually(() => server.longrun.events.watchingCount() === 0, 'the stream released');
  });

  it('is described in the OpenAPI document', async () => {
    const reply = await http('GET', `${server.httpUrl}/openapi.json`);
    const document = reply.json as { paths: Record<string, { get?: { responses: Record<string, { content: Record<string, unknown> }> } }> };
    const watch = Object.entries(document.paths).find(([path]) => path.endsWith(':watch'));
    assert.ok(watch, Object.keys(document.paths).join(' '));
    assert.ok(watch[1].get!.responses['200']!.content['text/event-stream']);
  });
});

describe('watching over HTTP with authentication', { timeout: 60_000 }, () => {
  const TOKENS = { alice: 'alice-sse-token', bob: 'bob-sse-token' } as const;
  let server: TestServer;
  before(async () => {
    const tokens = TokenTable.parse(Object.entries(TOKENS).map(([principal, token]) => `${hashToken(token)}\t${principal}`).join('\n'));
    server = await startTestServer({ serve: { auth: { tokens } }, http: { auth: { tokens } } });
  });
  after(() => server?.close());

  it('needs a token (401) and shows a principal only its own operations (403)', async () => {
    const { name } = await server.call<{ name: string }>(SLEEP, sleep(1000, 2), { authorization: `Bearer ${TOKENS.alice}` });
    const url = `${server.httpUrl}/v1/${name}:watch`;
    const anonymous = await openSse(url);
    assert.equal(anonymous.status, 401);
    await anonymous.body();
    const bob = await openSse(url, { authorization: `Bearer ${TOKENS.bob}` });
    assert.equal(bob.status, 403);
    await bob.body();
    const alice = await openSse(url, { authorization: `Bearer ${TOKENS.alice}` });
    assert.equal(alice.status, 200);
    const events = await within(all(alice.events()), 'the stream to end', 15_000);
    assert.equal(events.at(-1)!.event, 'end');
  });
});
