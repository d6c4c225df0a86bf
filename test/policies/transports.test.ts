/** The policy headers over HTTP and gRPC, and the same options in the embedding API, end to end. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import { Code, createLongrun, TYPE_URL_PREFIX, type Longrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { http } from '../helpers/http.js';
import { silentLogger, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const errorInfo = (json: any) => json.error.details.find((d: any) => d['@type'] === `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`);

describe('policy headers over HTTP and gRPC', { timeout: 120_000 }, () => {
  let server: TestServer;
  const url = (path: string) => `${server.httpUrl}${path}`;
  const count = async () => (await server.longrun.store.list({ parent: '', limit: 1000, now: Date.now() })).length;

  before(async () => {
    server = await startTestServer({ http: {} });
  });
  after(() => server.close());

  it('refuses a bad value with 400 / INVALID_ARGUMENT naming the header, creating nothing', async () => {
    const before = await count();
    for (const [header, value] of [
      ['Longrun-Priority', 'high'],
      ['Longrun-Start-Time', 'tomorrow'],
      ['Longrun-Timeout', '-5s'],
      ['Longrun-Start-Deadline', '2030-13-01T00:00:00Z'],
    ] as const) {
      const reply = await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: { [header]: value } });
      assert.equal(reply.status, 400, `${header}: ${value}`);
      assert.equal(errorInfo(reply.json).metadata.field, header.toLowerCase());
      assert.match(reply.json.error.message, new RegExp(`^${header.toLowerCase()}: `));
      await assert.rejects(server.call(SLEEP_METHOD, { duration: { seconds: 0 } }, { [header.toLowerCase()]: value }), (error: ServiceError) => {
        assert.equal(error.code, Code.INVALID_ARGUMENT);
        assert.match(error.details, new RegExp(`^${header.toLowerCase()}: `));
        return true;
      });
    }
    assert.equal(await count(), before, 'nothing created');
  });

  it('schedules a start time: the operation exists, the status monitor says pending, scheduled, and when', async () => {
    const start = new Date(Date.now() + 3_600_000);
    start.setMilliseconds(0);
    const reply = await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: { 'Longrun-Start-Time': start.toISOString(), 'Longrun-Priority': '5' } });
    assert.equal(reply.status, 202);
    const status = await http('GET', url(`/v1/${reply.json.name}/status`));
    assert.equal(status.json.status, 'pending');
    assert.equal(status.json.waiting, 'scheduled');
    assert.equal(status.json.estimated_start, start.toISOString());
    assert.deepEqual([status.json.attempt, status.json.priority], [0, 5]);
    const cancelled = await http('POST', url(`/v1/${reply.json.name}:cancel`));
    assert.equal(cancelled.status, 200);
    assert.equal((await server.longrun.get(reply.json.name)).error?.code, Code.CANCELLED);
  });

  it('ends a run at its longrun-timeout, DEADLINE_EXCEEDED', async () => {
    const op = await server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 30 }, steps: 30 }, { 'longrun-timeout': '0.3s' });
    const done = await server.longrun.wait(op.name, 10_000);
    assert.equal(done.error?.code, Code.DEADLINE_EXCEEDED);
    assert.equal((await server.longrun.get(op.name)).timeoutMs, 300);
  });

  it('ends an operation not started by its longrun-start-deadline without starting it', async () => {
    // The key's holder runs for a minute, so the second of the key cannot start in time.
    const blocker = await server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 60 }, steps: 60 }, { 'longrun-concurrency-key': 'deadline-test' });
    const op = await server.call<{ name: string }>(
      SLEEP_METHOD,
      { duration: { seconds: 0 } },
      { 'longrun-concurrency-key': 'deadline-test', 'longrun-start-deadline': new Date(Date.now() + 300).toISOString() },
    );
    const done = await server.longrun.wait(op.name, 10_000);
    await server.longrun.operations.cancel(blocker.name, server.longrun.caller);
    assert.deepEqual([done.error?.code, done.attempt], [Code.DEADLINE_EXCEEDED, 0]);
    const info = done.error!.details.find((d) => d.typeUrl === `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`)!;
    assert.equal(server.longrun.registry.decode<{ reason: string }>('google.rpc.ErrorInfo', info.value).reason, 'START_DEADLINE_EXCEEDED');
  });

  it('keeps the priority and concurrency key sent as metadata', async () => {
    const op = await server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 0 } }, { 'longrun-priority': '-3', 'longrun-concurrency-key': 'printer-1' });
    const record = await server.longrun.get(op.name);
    assert.deepEqual([record.priority, record.concurrencyKey], [-3, 'printer-1']);
  });
});

describe('policies in the embedding API', { timeout: 60_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let longrun: Longrun;
  let controlled: Controlled;

  before(async () => {
    dir = tempDir();
    controlled = new Controlled();
    longrun = await createLongrun({ databasePath: dir.file('embed.db'), pollMs: 20, logger: silentLogger });
    longrun.method(SLEEP_METHOD, controlled.handler, { concurrency: 4 });
    longrun.start();
  });
  after(async () => {
    await longrun.close(100);
    dir.remove();
  });

  it('runs one operation per concurrency key at a time, and others beside it', async () => {
    const first = await longrun.create(SLEEP_METHOD, {}, { concurrencyKey: 'k' });
    const second = await longrun.create(SLEEP_METHOD, {}, { concurrencyKey: 'k' });
    const other = await longrun.create(SLEEP_METHOD, {}, { concurrencyKey: 'other' });
    const runs = [await controlled.next(), await controlled.next()];
    assert.deepEqual(runs.map((run) => run.context.name).sort(), [first.name, other.name].sort());
    await assert.rejects(controlled.next(300), /not within/, 'the second of key k waits');
    runs.find((run) => run.context.name === first.name)!.finish({});
    const third = await controlled.next();
    assert.equal(third.context.name, second.name);
    third.finish({});
    runs.find((run) => run.context.name === other.name)!.finish({});
  });

  it('starts nothing before its startTime, and refuses a bad option naming it', async () => {
    const op = await longrun.create(SLEEP_METHOD, {}, { startTime: new Date(Date.now() + 400) });
    const createdAt = Date.now();
    const run = await controlled.next();
    assert.equal(run.context.name, op.name);
    assert.ok(Date.now() - createdAt >= 350, `started after ${Date.now() - createdAt} ms`);
    run.finish({});
    await assert.rejects(longrun.create(SLEEP_METHOD, {}, { priority: 1e6 }), /priority: must be an integer within -1000\.\.1000/);
  });
});
