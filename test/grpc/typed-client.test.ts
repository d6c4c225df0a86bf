import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { progressView } from '../../src/cli/progress.js';
import { createClient, BUNDLED_PROTO_FILES, type ClientOperation, type LongrunClient } from '../../src/index.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { hasSample, parseExposition, valueOf } from '../helpers/prometheus.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventually } from '../helpers/wait.js';

interface SleepMetadata {
  progressPercent: number;
  attempt: number;
}
interface SleepResponse {
  steps: number;
  attempt: number;
}

const SLEEPER_PROTO = 'longrun/testing/v1/sleeper.proto';

describe('createClient against longrun', { timeout: 180_000 }, () => {
  let server: TestServer;
  let client: LongrunClient;
  const controlled = new Controlled();
  const start = async () => (await server.call<{ name: string }>(SLEEP_METHOD, { steps: 1 })).name;

  before(async () => {
    server = await startTestServer({ sleeper: false, waitCapMs: 5000, setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler) });
    client = createClient(server.address, { protoFiles: [SLEEPER_PROTO], progressIntervalMs: 50 });
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('get decodes metadata and response by their type URLs', async () => {
    const name = await start();
    const run = await controlled.next();
    await run.context.setMetadata({ progressPercent: 30, attempt: 1 });
    const running = await client.get<SleepMetadata, SleepResponse>(name);
    assert.equal(running.done, false);
    assert.equal(running.metadataType, 'longrun.testing.v1.SleepMetadata');
    assert.deepEqual({ progressPercent: running.metadata?.progressPercent, attempt: running.metadata?.attempt }, { progressPercent: 30, attempt: 1 });
    run.finish({ steps: 4, attempt: 1 });
    const done = await client.wait<SleepMetadata, SleepResponse>(name);
    assert.equal(done.done, true);
    assert.equal(done.responseType, 'longrun.testing.v1.SleepResponse');
    assert.equal(done.response?.steps, 4);
    assert.equal(done.error, undefined);
    assert.equal(client.unpack<SleepResponse>(done.wire.response!, 'longrun.testing.v1.SleepResponse').steps, 4);
    assert.throws(() => client.unpack(done.wire.response!, 'longrun.testing.v1.SleepMetadata'), TypeError);
  });

  it('wait reports progress from the headers and metadata, then resolves when done', async () => {
    const name = await start();
    const run = await controlled.next();
    await run.context.progress(40, new Date('2030-01-01T00:00:00Z'));
    const seen: ClientOperation<SleepMetadata, SleepResponse>[] = [];
    const done = await client.wait<SleepMetadata, SleepResponse>(name, {
      onProgress: (operation) => {
        seen.push(operation);
        if (seen.length === 1) void run.context.setMetadata({ progressPercent: 60, attempt: 1 }).then(() => run.context.progress(60));
        if (operation.progressPercent === 60) run.finish({ steps: 1, attempt: 1 });
      },
    });
    assert.equal(done.done, true);
    assert.equal(done.response?.steps, 1);
    assert.equal(seen[0]?.progressPercent, 40);
    assert.equal(seen[0]?.estimatedCompletion?.toISOString(), '2030-01-01T00:00:00.000Z');
    assert.equal(seen.at(-1)?.progressPercent, 60);
    assert.equal(seen.at(-1)?.metadata?.progressPercent, 60);
    assert.ok(seen.every((operation) => !operation.done));
    // What `longrun wait` prints from these very states: a change in their shape shows here, not only in a timed CLI test.
    const lines: string[] = [];
    const view = progressView(name, { write: (text: string) => lines.push(text) }, () => Date.parse('2029-12-31T23:59:00Z'));
    for (const operation of seen) view.update(operation as unknown as ClientOperation);
    view.finish(done as unknown as ClientOperation);
    assert.equal(lines[0], `${name}: RUNNING 40% ETA 2030-01-01T00:00:00.000Z (in 1m00s)\n`);
    assert.match(lines.at(-2)!, new RegExp(`^${name}: RUNNING 60%`));
    assert.match(lines.at(-1)!, new RegExp(`^${name}: DONE`));
  });

  it('wait stops when its signal fires, and the server drops the waiter', async () => {
    const name = await start();
    const run = await controlled.next();
    const CANCELLED_WAITS = { method: '/google.longrunning.Operations/WaitOperation', code: 'CANCELLED' };
    const scraped = async () => parseExposition((await server.longrun.metrics.scrape()).body);
    const cancelledWaits = async () => valueOf(await scraped(), 'longrun_rpcs_total', CANCELLED_WAITS);
    // Absent until the first cancelled wait (a labelled counter); after it, it must be there.
    const earlier = await scraped();
    const cancelledBefore = hasSample(earlier, 'longrun_rpcs_total', CANCELLED_WAITS) ? valueOf(earlier, 'longrun_rpcs_total', CANCELLED_WAITS) : 0;
    const controller = new AbortController();
    const waiting = client.wait(name, { signal: controller.signal });
    await eventually(() => server.longrun.events.waitingCount() === 1, 'the server registers the WaitOperation waiter');
    controller.abort(new Error('no longer needed'));
    await assert.rejects(waiting, /no longer needed/);
    await eventually(() => server.longrun.events.waitingCount() === 0, 'the server drops the cancelled waiter');
    assert.equal(await cancelledWaits(), cancelledBefore + 1, 'the server saw the WaitOperation call cancelled');
    run.finish({});
  });

  it('list iterates over every page', async () => {
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      names.push(await start());
      (await controlled.next()).finish({});
    }
    const listed: string[] = [];
    for await (const operation of client.list({ pageSize: 2 })) listed.push(operation.name);
    for (const name of names) assert.ok(listed.includes(name), `${name} listed`);
    assert.equal(new Set(listed).size, listed.length, 'no operation twice');
    const filtered: string[] = [];
    for await (const operation of client.list({ filter: `name = "${names[0]}"` })) filtered.push(operation.name);
    assert.deepEqual(filtered, [names[0]]);
  });

  it('cancel and delete', async () => {
    const name = await start();
    const run = await controlled.next();
    await client.cancel(name);
    run.fail(await run.aborted);
    const cancelled = await client.wait(name);
    assert.equal(cancelled.error?.code, grpc.status.CANCELLED);
    await client.delete(name);
    await assert.rejects(client.get(name), { code: grpc.status.NOT_FOUND });
  });
});

describe('createClient against a server without WaitOperation', { timeout: 180_000 }, () => {
  const NAME = 'operations/fallback';
  const registry = new TypeRegistry(BUNDLED_PROTO_FILES);
  const POLLS_BEFORE_DONE = 12;
  let server: grpc.Server;
  let address: string;
  let gets = 0;

  before(async () => {
    const definition = loadSync('google/longrunning/operations.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
    server = new grpc.Server();
    // Only GetOperation: grpc-js answers UNIMPLEMENTED for the rest, WaitOperation included.
    server.addService(definition['google.longrunning.Operations'] as grpc.ServiceDefinition, {
      GetOperation: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        gets++;
        const pack = (type: string, value: Record<string, unknown>) => {
          const any = registry.pack(type, value);
          return { type_url: any.typeUrl, value: Buffer.from(any.value) };
        };
        const done = gets % POLLS_BEFORE_DONE === 0;
        if (!done) {
          const headers = new grpc.Metadata();
          headers.set('longrun-progress-percent', String(gets % POLLS_BEFORE_DONE));
          call.sendMetadata(headers);
        }
        callback(null, {
          name: call.request.name,
          done,
          metadata: pack('longrun.testing.v1.SleepMetadata', { progressPercent: gets % POLLS_BEFORE_DONE, attempt: 1 }),
          ...(done && { response: pack('longrun.testing.v1.SleepResponse', { steps: 3, attempt: 1 }) }),
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  it('polls GetOperation at 1 s, x1.5, up to 30 s, with jitter, reporting progress', async () => {
    const delays: number[] = [];
    const client = createClient(address, {
      protoFiles: [SLEEPER_PROTO],
      sleep: async (ms) => void delays.push(ms),
      random: () => 0.5,
    });
    try {
      const progress: number[] = [];
      gets = 0;
      const done = await client.wait<SleepMetadata, SleepResponse>(NAME, { onProgress: (op) => progress.push(op.progressPercent!) });
      assert.equal(done.done, true);
      assert.equal(done.response?.steps, 3);
      assert.equal(gets, POLLS_BEFORE_DONE, 'polled until done, the first time at once');
      // Each base delay is shortened by jitter x random (0.2 x 0.5 here): 0.9 of 1000, 1500, 2250 ... capped at 30000.
      const bases = [1000, 1500, 2250, 3375, 5062.5, 7593.75, 11390.625, 17085.9375, 25628.90625, 30000, 30000];
      assert.deepEqual(delays.map((ms) => Math.round(ms * 1000) / 1000), bases.map((ms) => Math.round(ms * 0.9 * 1000) / 1000));
      assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);

      // Learnt: the next wait polls at once, without trying WaitOperation again.
      delays.length = 0;
      const again = await client.wait(NAME);
      assert.equal(again.done, true);
      assert.equal(delays.length, POLLS_BEFORE_DONE - 1);
    } finally {
      client.close();
    }
  });

  it('jitter only shortens a delay, so the cap holds', async () => {
    const delays: number[] = [];
    const client = createClient(address, { sleep: async (ms) => void delays.push(ms), random: () => 0.999 });
    try {
      gets = 0;
      await client.wait(NAME);
      assert.ok(delays.every((ms) => ms <= 30_000 && ms >= 0.8 * 1000));
      assert.ok(delays[0]! < 1000 && delays[0]! > 800);
    } finally {
      client.close();
    }
  });

  it('stops polling when the signal fires (real timers, short intervals)', async () => {
    const client = createClient(address, { backoff: { initialMs: 5, maxMs: 10 } });
    try {
      gets = 1; // never reaches a multiple of POLLS_BEFORE_DONE before the abort
      const controller = new AbortController();
      const waiting = client.wait(NAME, { signal: controller.signal, onProgress: (op) => op.progressPercent === 4 && controller.abort(new Error('enough')) });
      await assert.rejects(waiting, /enough/);
      const polls = gets;
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(gets, polls, 'no poll after the abort');
    } finally {
      client.close();
    }
  });
});
