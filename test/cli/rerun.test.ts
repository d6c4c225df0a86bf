/**
 * `longrun rerun` and `longrun cancel --filter` against a real `longrun serve`, and what `longrun
 * get` adds on stderr: the attempt, why it waits and until when, the operation it re-runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, spawnServer, type ServerProcess } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
/** Fails at once, not retried (FAILED_PRECONDITION, code 9, is not a retryable code). */
const failing = { duration: { seconds: 0 }, failWith: { code: 9, message: 'boom' }, parent: 'projects/cli' };

describe('longrun rerun and longrun cancel --filter', { timeout: 120_000 }, () => {
  const dir = tempDir();
  let server: ServerProcess;
  let caller: GenericCaller;
  let address: string[];
  const waitCli = async (name: string) => JSON.parse((await runCli(['wait', name, ...address])).stdout);

  before(async () => {
    server = await spawnServer(dir.file('rerun.db'), ['--enable-sleeper']);
    caller = new GenericCaller(server.address);
    address = ['--address', server.address];
  });
  after(async () => {
    caller.close();
    await server.stop();
    dir.remove();
  });

  it('re-runs one operation by name, prints the new one, and get names its original', async () => {
    const { name } = await caller.call<{ name: string }>(SLEEP, failing);
    assert.equal((await waitCli(name)).error.code, 9);
    const result = await runCli(['rerun', name, ...address]);
    assert.equal(result.code, 0, result.stderr);
    const created = JSON.parse(result.stdout);
    assert.notEqual(created.name, name);
    assert.match(result.stderr, new RegExp(`re-ran ${name} as ${created.name}`));
    const got = await runCli(['get', created.name, ...address]);
    assert.match(got.stderr, new RegExp(`re-run of ${name}`));
    assert.match(got.stderr, /^attempt \d/);
  });

  it('counts with --dry-run, then re-runs every match of a filter, once per --request-id', async () => {
    for (let i = 0; i < 2; i++) await waitCli((await caller.call<{ name: string }>(SLEEP, { ...failing, parent: 'projects/many' })).name);
    const filter = ['--filter', 'done = true AND error.code = 9', 'projects/many/operations'];
    const dry = await runCli(['rerun', ...filter, '--dry-run', ...address]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stderr, /would re-run 2 operations/);
    const ran = await runCli(['rerun', ...filter, '--request-id', 'cli-1', ...address]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stderr, /re-ran 2 operations/);
    const reruns = JSON.parse(ran.stdout).response.reruns as { original: string; operation: string }[];
    assert.equal(reruns.length, 2);
    // The re-runs fail again and match too; the same id re-runs no original twice.
    for (const { operation } of reruns) await waitCli(operation);
    const again = await runCli(['rerun', ...filter, '--request-id', 'cli-1', ...address]);
    assert.match(again.stderr, /re-ran 2 operations/, 'the same bulk operation answers');
  });

  it('cancels every match of a filter, and shows a waiting operation\'s reason', async () => {
    const start = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await caller.call<{ name: string }>(SLEEP, { duration: { seconds: 0 }, parent: 'projects/cancel' }, { 'longrun-start-time': start });
    const got = await runCli(['get', scheduled.name, ...address]);
    assert.match(got.stderr, /^attempt 0; waiting: scheduled until \d{4}-/);
    const running = await caller.call<{ name: string }>(SLEEP, { duration: { seconds: 60 }, parent: 'projects/cancel' });
    const result = await runCli(['cancel', '--filter', 'done = false', 'projects/cancel/operations', ...address]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /cancelled 2 operations/);
    assert.deepEqual((JSON.parse(result.stdout).response.cancelled as string[]).sort(), [scheduled.name, running.name].sort());
    assert.equal((await waitCli(running.name)).error.code, 1);
    const usage = await runCli(['cancel', '--dry-run', 'operations/x', ...address]);
    assert.equal(usage.code, 2);
  });
});
