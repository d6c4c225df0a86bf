/**
 * longrun.v1.Watcher/WatchOperation: the first state at once, every change after it, the done state
 * last; bursts coalesced; a stalled watcher slows nobody; limits, tenancy and reflection as for
 * WaitOperation; and a watcher on one server sees progress saved by a runner in another process.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { hashToken, OperationsClient, TokenTable, type Longrun } from '../../src/index.js';
import type { OperationWithProgress } from '../../src/grpc/client.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { httpAddressOf, spawnRunner, spawnServer } from '../helpers/process.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { openSse, type SseEvent } from '../helpers/sse.js';
import { GenericCaller, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { eventually, within } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';

async function collect(states: AsyncIterable<OperationWithProgress>): Promise<OperationWithProgress[]> {
  const seen: OperationWithProgress[] = [];
  for await (const state of states) seen.push(state);
  return seen;
}

const sleep = (ms: number, steps: number) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps });

describe('WatchOperation over gRPC', { timeout: 60_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ watchIntervalMs: 50 });
  });
  after(() => server?.close());

  it('sends the operation at once, then its progress, and ends after done', async () => {
    const created = await server.call<{ name: string }>(SLEEP, sleep(1000, 5));
    const states = await within(collect(server.client.watch(created.name)), 'the stream to end', 15_000);
    assert.ok(states.length >= 3, `at least first, some progress and done; got ${states.length}`);
    assert.equal(states[0]!.operation.name, created.name);
    assert.equal(states.at(-1)!.operation.done, true);
    assert.equal(states.at(-1)!.operation.result, 'response');
    assert.ok(states.slice(0, -1).every((state) => !state.operation.done), 'only the last state is done');
    const percents = states.map((state) => state.progressPercent!);
    assert.deepEqual([...percents].sort((a, b) => a - b), percents, 'progress never goes back');
    assert.ok(percents.some((p) => p > 0 && p < 100), `an intermediate progress was seen: ${percents.join(',')}`);
    assert.ok(states.slice(1, -1).some((state) => state.operation.metadata !== null), 'metadata rides along');
  });

  it('sends a done operation once and ends', async () => {
    const created = await server.call<{ name: string }>(SLEEP, sleep(0, 1));
    await server.client.wait(created.name, 10_000);
    const states = await within(collect(server.client.watch(created.name)), 'the stream to end');
    assert.equal(states.length, 1);
    assert.equal(states[0]!.operation.done, true);
  });

  it('answers errors as GetOperation does: NOT_FOUND for an unknown name, INVALID_ARGUMENT for an empty one', async () => {
    // This server has no authentication: every caller sees every operation, so unknown is NOT_FOUND.
    for (const name of ['operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA', 'operations/not-a-real-one']) {
      await assert.rejects(collect(server.client.watch(name)), (error: { code: number }) => error.code === status.NOT_FOUND);
    }
    await assert.rejects(collect(server.client.watch('')), (error: { code: number }) => error.code === status.INVALID_ARGUMENT);
  });

  it('serves the stream through reflection (buf curl)', async () => {
    const created = await server.call<{ name: string }>(SLEEP, sleep(3000, 3));
    const result = await bufCurl(server.address, ['-d', JSON.stringify({ name: created.name }), 'longrun.v1.Watcher/WatchOperation']);
    assert.equal(result.code, 0, result.stderr);
    const messages = result.stdout.trim().split(/\n(?=\{)/).map((text) => JSON.parse(text) as { operation: { done?: boolean; response?: { '@type': string } } });
    assert.ok(messages.length >= 2, result.stdout);
    assert.equal(messages.at(-1)!.operation.done, true);
    assert.equal(messages.at(-1)!.operation.response!['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
  });
});

describe('coalescing and slow watchers', { timeout: 60_000 }, () => {
  let server: TestServer;
  let reports = 0;
  const setup = (longrun: Longrun) => {
    // 1,000 progress reports a second for a second: a burst no watcher should see message by message.
    longrun.method('/longrun.testing.v1.Sleeper/Sleep', async (_request, context) => {
      const started = Date.now();
      for (let i = 1; Date.now() - started < 1000; i++) {
        await context.progress(Math.min(99, i / 10));
        reports++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return { steps: reports };
    });
  };
  before(async () => {
    server = await startTestServer({ sleeper: false, setup, watchIntervalMs: 100 });
  });
  after(() => server?.close());

  it('sends at most one state per interval however often progress is saved, and never drops the last', async () => {
    const created = await server.call<{ name: string }>(SLEEP, {});
    const stalled = new OperationsClient(server.address);
    // A watcher that reads nothing: its stream fills up; the handler and the other watcher must not notice.
    const stalledStream = stalled.watch(created.name)[Symbol.asyncIterator]();
    await stalledStream.next();
    const started = Date.now();
    const states = await within(collect(server.client.watch(created.name)), 'the stream to end', 20_000);
    const elapsed = Date.now() - started;
    // A burst (about 1,000 a second when the machine is idle, a few hundred under load), coalesced to a few messages.
    assert.ok(reports >= 100 && reports >= 5 * states.length, `the handler saved progress ${reports} times, the watcher got ${states.length} states`);
    assert.equal(states.at(-1)!.operation.done, true, 'the done state was sent');
    // One per 100 ms over about a second, plus the first and the last.
    assert.ok(states.length <= elapsed / 100 + 3, `${states.length} messages in ${elapsed} ms for ${reports} reports`);
    assert.ok(states.length >= 4, `progress was sent while it ran (${states.length} messages)`);
    assert.ok(elapsed < 5000, `the handler was not slowed by the stalled watcher (${elapsed} ms)`);
    await stalledStream.return(undefined);
    stalled.close();
    // The stalled stream's cancellation reached the server: its listener and slot are gone.
    await eventually(() => server.longrun.events.watchingCount() === 0, 'the stalled watcher to be released');
  });
});

describe('watch limits and tenancy', { timeout: 60_000 }, () => {
  const TOKENS = { alice: 'alice-watch-token', bob: 'bob-watch-token' } as const;
  let server: TestServer;
  let alice: OperationsClient;
  let bob: OperationsClient;
  before(async () => {
    const tokens = Object.entries(TOKENS).map(([principal, token]) => `${hashToken(token)}\t${principal}`).join('\n');
    server = await startTestServer({ maxWatchesPerPrincipal: 1, watchCapMs: 400, serve: { auth: { tokens: TokenTable.parse(tokens) } } });
    alice = new OperationsClient(server.address, { token: TOKENS.alice });
    bob = new OperationsClient(server.address, { token: TOKENS.bob });
  });
  after(async () => {
    alice?.close();
    bob?.close();
    await server?.close();
  });

  it('needs credentials, and shows a principal only its own operations', async () => {
    const created = await server.call<{ name: string }>(SLEEP, sleep(2000, 2), { authorization: `Bearer ${TOKENS.alice}` });
    await assert.rejects(collect(server.client.watch(created.name)), (error: { code: number }) => error.code === status.UNAUTHENTICATED);
    await assert.rejects(collect(bob.watch(created.name)), (error: { code: number }) => error.code === status.PERMISSION_DENIED);
  });

  it('refuses a watcher over the per-principal limit, and ends streams at the cap before done', async () => {
    const created = await server.call<{ name: string }>(SLEEP, sleep(5000, 2), { authorization: `Bearer ${TOKENS.alice}` });
    const first = alice.watch(created.name)[Symbol.asyncIterator]();
    assert.equal((await first.next()).done, false);
    await assert.rejects(collect(alice.watch(created.name)), (error: { code: number; details: string }) => {
      assert.equal(error.code, status.RESOURCE_EXHAUSTED);
      assert.match(error.details, /--max-watches-per-principal/);
      return true;
    });
    // The cap (400 ms) ends the first stream with OK while the operation still runs.
    const rest: OperationWithProgress[] = [];
    for (let next = await within(first.next(), 'the capped stream'); !next.done; next = await within(first.next(), 'the capped stream')) rest.push(next.value);
    assert.ok(rest.every((state) => !state.operation.done));
    // The slot is free again.
    const again = alice.watch(created.name)[Symbol.asyncIterator]();
    assert.equal((await again.next()).done, false);
    await again.return(undefined);
  });
});

const onPostgres = process.env.LONGRUN_TEST_STORE === 'postgres';
// The throwaway cluster (if this file started one) does not outlive the file.
after(() => stopTestPostgres());

describe(`a watcher on one server, the runner in another process (${onPostgres ? 'PostgreSQL' : 'one SQLite file'})`, { timeout: 90_000 }, () => {
  const dir = tempDir();
  it('sees the progress the other process saves, over gRPC and over Server-Sent Events, and the end', async () => {
    const database = onPostgres ? await (await testPostgres()).freshDatabase() : undefined;
    const path = database?.url ?? dir.file('shared.db');
    const api = await spawnServer(path, ['--enable-sleeper', '--no-runner', '--watch-interval', '50ms']);
    const worker = onPostgres ? await spawnRunner(path, ['--enable-sleeper']) : await spawnServer(path, ['--enable-sleeper']);
    const onApi = new OperationsClient(api.address);
    const caller = new GenericCaller(api.address);
    try {
      const created = await caller.call<{ name: string }>(SLEEP, sleep(1500, 5));
      const events = openSse(`${await httpAddressOf(api)}/v1/${created.name}:watch`).then(async (stream) => {
        const seen: SseEvent[] = [];
        for await (const event of stream.events()) seen.push(event);
        return seen;
      });
      const states = await within(collect(onApi.watch(created.name)), 'the stream to end', 30_000);
      assert.equal(states.at(-1)!.operation.done, true);
      const percents = states.map((state) => state.progressPercent!);
      assert.ok(percents.filter((p) => p > 0 && p < 100).length >= 2, `progress from the other process reached the watcher: ${percents.join(',')}`);
      const sse = await within(events, 'the event stream to end', 30_000);
      assert.equal(sse.at(-1)!.event, 'end');
      const ssePercents = sse.filter((e) => e.event === 'operation').map((e) => (JSON.parse(e.data) as { progressPercent?: number }).progressPercent ?? 0);
      assert.ok(ssePercents.filter((p) => p > 0 && p < 100).length >= 2, `progress over SSE: ${ssePercents.join(',')}`);
    } finally {
      onApi.close();
      caller.close();
      await Promise.all([api.stop(), worker.stop()]);
      dir.remove();
      await database?.drop();
    }
  });
});

describe('watch streams at shutdown', { timeout: 60_000 }, () => {
  it('end when the server stops taking work, without waiting for the operation', async () => {
    const server = await startTestServer();
    try {
      const created = await server.call<{ name: string }>(SLEEP, sleep(30_000, 2));
      const stream = server.client.watch(created.name)[Symbol.asyncIterator]();
      assert.equal((await stream.next()).done, false);
      const rest = collect({ [Symbol.asyncIterator]: () => stream });
      const stopping = server.longrun.stop(1000);
      const after = await within(rest, 'the stream to end at shutdown', 10_000);
      assert.ok(after.every((state) => !state.operation.done));
      await stopping;
    } finally {
      await server.close();
    }
  });
});
