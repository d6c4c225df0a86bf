import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { BUNDLED_PROTO_FILES, OperationsClient } from '../../src/index.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { GenericCaller } from '../helpers/server.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const VISION_METHOD = 'google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles';
const registry = new TypeRegistry(BUNDLED_PROTO_FILES);

interface Connected {
  server: ServerProcess;
  client: OperationsClient;
  caller: GenericCaller;
  close(): void;
}

async function connect(databasePath: string, args: string[] = []): Promise<Connected> {
  const server = await spawnServer(databasePath, ['--enable-sleeper', ...args]);
  const client = new OperationsClient(server.address);
  const caller = new GenericCaller(server.address);
  return { server, client, caller, close: () => (client.close(), caller.close()) };
}

const sleepRequest = (ms: number, steps = 10) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps });

async function waitForProgress(client: OperationsClient, name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { operation, progressPercent } = await client.wait(name, 100);
    assert.equal(operation.done, false, 'still running');
    if ((progressPercent ?? 0) > 0) return;
  }
  assert.fail(`${name} never reported progress`);
}

function attemptOf(operation: { response?: { type_url: string; value: Buffer } | null }): number {
  assert.ok(operation.response, 'has a response');
  return registry.unpack<{ attempt: number }>({ typeUrl: operation.response.type_url, value: operation.response.value }).attempt;
}

describe('longrun serve (a real process)', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('keeps every operation across a graceful restart and exits 0 on SIGTERM', async () => {
    const db = dir.file('restart.db');
    const first = await connect(db);
    const names: string[] = [];
    for (let i = 0; i < 3; i++) names.push((await first.caller.call<{ name: string }>(SLEEP, sleepRequest(10, 1))).name);
    const states = [];
    for (const name of names) states.push((await first.client.wait(name, 5000)).operation);
    assert.ok(states.every((s) => s.done));
    first.close();
    assert.equal(await first.server.stop(), 0);

    const second = await connect(db);
    try {
      for (const [i, name] of names.entries()) assert.deepEqual((await second.client.get(name)).operation, states[i]);
      const listed = await second.client.list({});
      assert.deepEqual(listed.operations.map((o) => o.name).sort(), [...names].sort());
    } finally {
      second.close();
      await second.server.stop();
    }
  });

  it('reruns an operation after kill -9 of its server, once the lease expires, and finishes it', async () => {
    const db = dir.file('crash.db');
    const first = await connect(db, ['--lease', '1s']);
    const { name } = await first.caller.call<{ name: string }>(SLEEP, sleepRequest(1500, 15));
    await waitForProgress(first.client, name);
    first.close();
    assert.equal(await first.server.stop('SIGKILL'), 'SIGKILL');

    const second = await connect(db, ['--lease', '1s', '--poll', '100ms']);
    try {
      const { operation } = await second.client.wait(name, 20_000);
      assert.equal(operation.done, true);
      assert.equal(operation.error ?? null, null);
      assert.equal(attemptOf(operation), 2, 'it ran again as attempt 2');
    } finally {
      second.close();
      await second.server.stop();
    }
  });

  it('releases the lease of unfinished work on SIGTERM, so a restart picks it up at once', async () => {
    const db = dir.file('graceful.db');
    const first = await connect(db, ['--shutdown-grace', '200ms']);
    const { name } = await first.caller.call<{ name: string }>(SLEEP, sleepRequest(60_000, 600));
    await waitForProgress(first.client, name);
    first.close();
    assert.equal(await first.server.stop(), 0);

    // The default 30 s lease would delay a rerun; a released lease does not.
    const second = await connect(db);
    try {
      await waitForProgress(second.client, name);
      await second.client.cancel(name);
      const { operation } = await second.client.wait(name, 10_000);
      assert.deepEqual([operation.done, operation.error?.code], [true, 1]);
    } finally {
      second.close();
      await second.server.stop();
    }
  });
});

describe('longrun client commands', { timeout: 180_000 }, () => {
  const dir = tempDir();
  let connected: Connected;
  before(async () => {
    connected = await connect(dir.file('cli.db'));
  });
  after(async () => {
    connected.close();
    await connected.server.stop();
    dir.remove();
  });

  it('get, list, wait, cancel and delete an operation', async () => {
    const address = ['--address', connected.server.address];
    const { name } = await connected.caller.call<{ name: string }>(SLEEP, sleepRequest(2500, 5));

    const waited = await runCli(['wait', name, ...address]);
    assert.equal(waited.code, 0, waited.stderr);
    assert.match(waited.stderr, /%/, 'progress was shown');
    const done = JSON.parse(waited.stdout) as { done: boolean; response: { '@type': string; steps: number } };
    assert.equal(done.done, true);
    assert.deepEqual([done.response['@type'], done.response.steps], ['type.googleapis.com/longrun.testing.v1.SleepResponse', 5]);

    const got = await runCli(['get', name, ...address]);
    assert.equal(got.code, 0);
    assert.deepEqual(JSON.parse(got.stdout), done);

    const listed = await runCli(['list', '--filter', 'done = true', ...address]);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, new RegExp(name));

    const long = await connected.caller.call<{ name: string }>(SLEEP, sleepRequest(60_000, 600));
    assert.equal((await runCli(['cancel', long.name, ...address])).code, 0);
    const cancelled = await runCli(['wait', long.name, ...address]);
    assert.equal(cancelled.code, 1, 'a failed (cancelled) operation exits 1');
    assert.equal((JSON.parse(cancelled.stdout) as { error: { code: number } }).error.code, 1);

    assert.equal((await runCli(['delete', name, ...address])).code, 0);
    const missing = await runCli(['get', name, ...address]);
    assert.equal(missing.code, 3);
    assert.match(missing.stderr, /does not exist/);
    assert.equal((await runCli(['get', ...address])).code, 2, 'usage error');
  });
});

describe('what longrun serve serves', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  /** The methods buf curl finds through reflection. */
  async function methods(address: string): Promise<string[]> {
    const listed = await bufCurl(address, ['--list-methods', '']);
    assert.equal(listed.code, 0, listed.stderr);
    return listed.stdout.trim().split('\n');
  }

  it('serves the Vision sample by default; --no-vision and LONGRUN_ENABLE_VISION=false turn it off', async () => {
    const db = dir.file('vision.db');
    const byDefault = await spawnServer(db, ['--no-vision', '--enable-vision']).catch((error: Error) => error);
    assert.ok(byDefault instanceof Error && /--enable-vision and --no-vision contradict each other/.test(byDefault.message), String(byDefault));
    for (const [args, env, served] of [
      [[], {}, true],
      [['--enable-vision'], {}, true],
      [['--no-vision'], {}, false],
      [[], { LONGRUN_ENABLE_VISION: 'false' }, false],
    ] as const) {
      const server = await spawnServer(db, [...args], env);
      try {
        const listed = await methods(server.address);
        assert.equal(listed.includes(VISION_METHOD), served, `${args.join(' ')} ${JSON.stringify(env)}: ${listed.join(', ')}`);
        assert.ok(listed.includes('google.longrunning.Operations/GetOperation'));
        const call = await bufCurl(server.address, ['-d', '{"requests": []}', VISION_METHOD]);
        // Served: the request is checked (no files: INVALID_ARGUMENT); not served: UNIMPLEMENTED.
        assert.match(call.stderr, served ? /invalid_argument/i : /unimplemented/i, call.stderr);
      } finally {
        await server.stop();
      }
    }
  });

  it('every creating method served replies with typed metadata from the first reply (AIP-151)', async () => {
    const storage = dir.file('storage');
    mkdirSync(join(storage, 'my-bucket'), { recursive: true });
    copyFileSync(fileURLToPath(new URL('../../../examples/hello.pdf', import.meta.url)), join(storage, 'my-bucket', 'hello.pdf'));
    const server = await spawnServer(dir.file('metadata.db'), ['--enable-sleeper', '--storage-root', storage]);
    try {
      const created: [string, object, string][] = [
        [SLEEP.slice(1), { duration: '0.2s', steps: 2 }, 'type.googleapis.com/longrun.testing.v1.SleepMetadata'],
        [VISION_METHOD, {
          requests: [{
            inputConfig: { gcsSource: { uri: 'gs://my-bucket/hello.pdf' }, mimeType: 'application/pdf' },
            features: [{ type: 'TEXT_DETECTION' }],
            outputConfig: { gcsDestination: { uri: 'gs://my-bucket/out/' } },
          }],
        }, 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata'],
      ];
      const served = (await methods(server.address)).filter((method) => !method.startsWith('google.longrunning.') && !method.startsWith('grpc.'));
      assert.deepEqual(served.filter((method) => /Sleep$|AsyncBatchAnnotateFiles$/.test(method)).sort(), created.map(([method]) => method).sort());
      for (const [method, request, metadataType] of created) {
        const reply = await bufCurl(server.address, ['-d', JSON.stringify(request), method]);
        assert.equal(reply.code, 0, reply.stderr);
        const operation = JSON.parse(reply.stdout) as { name: string; done?: boolean; metadata?: { '@type': string } };
        assert.equal(operation.done, undefined, `${method}: not done yet`);
        assert.equal(operation.metadata?.['@type'], metadataType, `${method}: ${reply.stdout}`);
      }
    } finally {
      await server.stop();
    }
  });

  it('the CLI prints an operation as the same proto3 JSON as buf curl', async () => {
    const server = await spawnServer(dir.file('json.db'), ['--enable-sleeper']);
    const caller = new GenericCaller(server.address);
    try {
      const address = ['--address', server.address];
      const ok = await caller.call<{ name: string }>(SLEEP, sleepRequest(1500, 3));
      const failed = await caller.call<{ name: string }>(SLEEP, { ...sleepRequest(10, 1), failWith: { code: 9, message: 'no' } });
      for (const name of [ok.name, failed.name]) {
        const waited = await runCli(['wait', name, ...address]);
        const got = await runCli(['get', name, ...address]);
        const curled = await bufCurl(server.address, ['-d', JSON.stringify({ name }), 'google.longrunning.Operations/GetOperation']);
        assert.equal(curled.code, 0, curled.stderr);
        assert.deepEqual(JSON.parse(got.stdout), JSON.parse(curled.stdout));
        assert.deepEqual(JSON.parse(waited.stdout), JSON.parse(curled.stdout));
      }
      const done = JSON.parse((await runCli(['get', ok.name, ...address])).stdout) as { response: Record<string, unknown> };
      assert.deepEqual(done.response, { '@type': 'type.googleapis.com/longrun.testing.v1.SleepResponse', slept: '1.500s', steps: 3, attempt: 1 });
    } finally {
      caller.close();
      await server.stop();
    }
  });
});
