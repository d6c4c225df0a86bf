/**
 * The `buf curl` blocks of docs/grpc-cli.md, run as written in a checkout against a real
 * `longrun serve --enable-sleeper` (only the port changed: the one the server got instead of 50051).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkout } from './helpers/checkout.js';
import { runChild } from './helpers/children.js';
import { blockOf, jsonDocuments } from './helpers/doc-blocks.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';

interface Operation {
  name: string;
  done?: boolean;
  metadata?: { '@type': string };
  response?: { '@type': string; steps?: number };
}

describe('docs/grpc-cli.md: buf curl through reflection', { timeout: 180_000, concurrency: true }, () => {
  const dir = checkout();
  let server: ServerProcess;
  const run = (marker: string) =>
    runChild('sh', ['-e', '-c', blockOf('docs/grpc-cli.md', marker).replaceAll('localhost:50051', server.address)], { cwd: dir.path, timeoutMs: 120_000 });

  before(async () => {
    server = await spawnServer(dir.file('longrun.db'), ['--enable-sleeper']);
  });
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  it('grpc-terminal: lists the methods, starts a Sleep, gets it, waits for it and lists it among the done', { timeout: 150_000 }, async () => {
    const { code, stdout, stderr } = await run('grpc-terminal');
    assert.equal(code, 0, `${stdout}\n${stderr}\nserver:\n${server.stderr()}`);
    for (const method of ['google.longrunning.Operations/GetOperation', 'google.longrunning.Operations/WaitOperation', 'longrun.testing.v1.Sleeper/Sleep', 'longrun.v1.Watcher/WatchOperation']) {
      assert.match(stdout, new RegExp(`^${method.replaceAll('.', '\\.')}$`, 'm'), `--list-methods lists ${method}`);
    }
    const [got, waited, listed] = jsonDocuments(stdout) as [Operation, Operation, { operations: Operation[] }];
    assert.match(got.name, /^operations\/[\w-]{27}$/);
    assert.equal(got.metadata?.['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata', 'reflection resolves the metadata\'s type');
    assert.equal(waited.name, got.name);
    assert.equal(waited.done, true, 'WaitOperation (30 s) outlasts the 5 s Sleep');
    assert.equal(waited.response?.['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(waited.response?.steps, 5);
    // The watch block's operation may be done by now too (the two blocks run at once).
    assert.ok(listed.operations.some((operation) => operation.name === got.name && operation.done === true), 'listed among the done operations');
    assert.ok(listed.operations.every((operation) => operation.done === true), 'the filter keeps only done operations');
  });

  it('grpc-watch: WatchOperation prints each state as it comes, the last one done', { timeout: 150_000 }, async () => {
    const { code, stdout, stderr } = await run('grpc-watch');
    assert.equal(code, 0, `${stdout}\n${stderr}\nserver:\n${server.stderr()}`);
    const states = jsonDocuments(stdout) as { operation: Operation; progressPercent?: number }[];
    assert.ok(states.length >= 2, `a state before the done one: ${stdout}`);
    assert.ok(states.every((state) => state.operation.name === states[0]!.operation.name));
    assert.equal(states.at(-1)!.operation.done, true);
    assert.equal(states.at(-1)!.operation.response?.['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.ok(states.slice(0, -1).every((state) => state.operation.done !== true), 'only the last state is done');
    const percents = states.map((state) => state.progressPercent ?? 0);
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b), 'progress only goes up');
    assert.equal(percents.at(-1), 100);
  });
});
