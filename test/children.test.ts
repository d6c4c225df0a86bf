/**
 * The spawn helper every test uses (test/helpers/children.ts): a child and whatever it starts end
 * together, in every path (the test's kill, a timeout, the test process exiting or being told to
 * stop), and a child that exits early fails its waiter at once with its output.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild, spawnChild, TEST_RUN, TEST_RUN_VARIABLE } from './helpers/children.js';
import { tempDir } from './helpers/temp.js';
import { eventually } from './helpers/wait.js';

const HELPER = fileURLToPath(new URL('./helpers/children.js', import.meta.url));

/** Running (a zombie, dead and not yet reaped by whoever inherited it, is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** `sh` that starts a `sleep` in the background and prints its pid: a child with a grandchild. */
const WITH_GRANDCHILD = ['-c', 'sleep 300 & echo "grandchild $!"; wait'];

describe('children.ts: every process a test starts ends with it', { timeout: 120_000 }, () => {
  it('kill() ends the child and what it started, and the marker is in its environment', async (t) => {
    const child = spawnChild('sh', WITH_GRANDCHILD, { t });
    const grandchild = Number((await child.waitFor(/grandchild (\d+)/, 'sh to start its sleep', 10_000))[1]);
    assert.ok(alive(grandchild));
    const environ = (await runChild('sh', ['-c', `tr '\\0' '\\n' < /proc/${grandchild}/environ`])).stdout;
    assert.match(environ, new RegExp(`^${TEST_RUN_VARIABLE}=${TEST_RUN}$`, 'm'), 'the grandchild carries the run marker');
    const exit = await child.kill();
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(alive(grandchild), false, 'the grandchild went with its group');
  });

  it('a child that exits before it is ready fails its waiter at once, with its output and exit code', async (t) => {
    const child = spawnChild(process.execPath, ['-e', 'console.error("the port is taken"); process.exit(5)'], { t });
    const started = performance.now();
    await assert.rejects(child.waitFor(/listening/, 'it to listen', 60_000), (error: Error) => {
      assert.match(error.message, /exited \(5\) before it to listen/);
      assert.match(error.message, /the port is taken/);
      return true;
    });
    assert.ok(performance.now() - started < 10_000, 'not after the full wait');
  });

  it('runChild past its bound kills the group and fails with the output so far', async () => {
    let grandchild = 0;
    await assert.rejects(runChild('sh', WITH_GRANDCHILD, { timeoutMs: 1_000 }), (error: Error) => {
      assert.match(error.message, /not within 1000 ms: sh to exit/);
      grandchild = Number(/grandchild (\d+)/.exec(error.message)?.[1]);
      return true;
    });
    assert.ok(grandchild > 0);
    assert.equal(alive(grandchild), false);
  });

  for (const ending of ['exits', 'is sent SIGTERM'] as const) {
    it(`a test process that ${ending} takes its children's groups with it`, async () => {
      const dir = tempDir();
      try {
        const script = dir.file('test-process.mjs');
        // A test process in miniature: it starts a child (with a grandchild) and then ends abruptly.
        writeFileSync(
          script,
          `import { spawnChild } from ${JSON.stringify(HELPER)};
const child = spawnChild('sh', ${JSON.stringify(WITH_GRANDCHILD)});
const [, pid] = await child.waitFor(/grandchild (\\d+)/, 'sh to start its sleep');
console.log('child ' + child.pid + ' grandchild ' + pid);
${ending === 'exits' ? 'process.exit(0);' : "process.kill(process.pid, 'SIGTERM');"}
`,
        );
        const result = await runChild(process.execPath, [script], { timeoutMs: 30_000 });
        assert.equal(result.code ?? result.signal, ending === 'exits' ? 0 : 'SIGTERM', result.stderr);
        const [, child, grandchild] = /child (\d+) grandchild (\d+)/.exec(result.stdout)!.map(Number);
        await eventually(() => !alive(child!) && !alive(grandchild!), 'the child and grandchild to be gone', 5_000);
      } finally {
        dir.remove();
      }
    });
  }
});
