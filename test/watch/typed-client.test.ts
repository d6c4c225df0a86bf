/**
 * The typed client's `watch(name)` and `wait(onProgress)` follow the progress stream where the
 * server has one, and fall back to WaitOperation / polling where it does not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type ClientOperation, type LongrunClient } from '../../src/index.js';
import { runCli } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { within } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const SLEEPER_PROTO = 'longrun/testing/v1/sleeper.proto';
const sleep = (ms: number, steps: number) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps });

async function collect<T>(states: AsyncIterable<T>): Promise<T[]> {
  const seen: T[] = [];
  for await (const state of states) seen.push(state);
  return seen;
}

for (const watcher of [true, false]) {
  describe(`the typed client on a server ${watcher ? 'with' : 'without'} longrun.v1.Watcher`, { timeout: 60_000 }, () => {
    let server: TestServer;
    let client: LongrunClient;
    before(async () => {
      server = await startTestServer({ watchIntervalMs: 50, serve: { watcher } });
      // Polls and progress waits slower than the operation's steps: only the stream sees every step.
      client = createClient(server.address, { protoFiles: [SLEEPER_PROTO], progressIntervalMs: 1000, backoff: { initialMs: 1000, multiplier: 1, maxMs: 1000, jitter: 0 } });
    });
    after(async () => {
      client?.close();
      await server?.close();
    });

    it('watch(name) yields the states as they change and ends with the done one', async () => {
      const { name } = await server.call<{ name: string }>(SLEEP, sleep(1500, 5));
      const states = await within(collect(client.watch<{ progressPercent: number }>(name)), 'the watch to end', 20_000);
      assert.equal(states.at(-1)!.done, true);
      assert.equal(states.at(-1)!.responseType, 'longrun.testing.v1.SleepResponse');
      assert.ok(states.slice(0, -1).every((state) => !state.done));
      const running = states.filter((state) => !state.done && (state.progressPercent ?? 0) > 0);
      if (watcher) assert.ok(running.length >= 3, `the stream showed each step: ${states.map((s) => s.progressPercent).join(',')}`);
      else assert.ok(running.length <= 2, `polls once a second see at most two of the steps: ${states.map((s) => s.progressPercent).join(',')}`);
    });

    it('wait(onProgress) reports progress and resolves done', async () => {
      const { name } = await server.call<{ name: string }>(SLEEP, sleep(1500, 5));
      const seen: ClientOperation[] = [];
      const done = await within(client.wait(name, { onProgress: (operation) => seen.push(operation) }), 'the wait', 20_000);
      assert.equal(done.done, true);
      if (watcher) assert.ok(seen.length >= 3, `every step reported: ${seen.map((s) => s.progressPercent).join(',')}`);
      else assert.ok(seen.length >= 1 && seen.length <= 3, `one report a second: ${seen.map((s) => s.progressPercent).join(',')}`);
    });

    if (watcher) {
      it('longrun wait (the CLI) prints each step it sees', async () => {
        // Steps every half second: WaitOperation calls of a second each would show about half of
        // them. The CLI may take seconds to start on a loaded machine, so what counts is that it
        // prints every step from the first one it saw, and enough of them to tell it from polling.
        const steps = 12;
        const { name } = await server.call<{ name: string }>(SLEEP, sleep(6000, steps));
        const result = await runCli(['wait', name, '--address', server.address]);
        assert.equal(result.code, 0, result.stderr);
        const printed = [...result.stderr.matchAll(/ RUNNING (\d+)%/g)].map((match) => Number(match[1]));
        assert.ok(printed.length > 0, `progress lines from the stream: ${result.stderr}`);
        const expected = Array.from({ length: steps }, (_, i) => Math.floor(((i + 1) * 100) / steps)).filter((percent) => percent >= printed[0]!);
        for (const percent of expected) assert.ok(printed.includes(percent), `step ${percent}% printed: ${result.stderr}`);
        assert.ok(printed.length >= 5, `at least five steps printed: ${result.stderr}`);
      });
    }
  });
}
