/** The README's curl walk-through of the REST form, run as written against a real `longrun serve`. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild } from '../helpers/children.js';
import { httpAddressOf, spawnServer } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

describe('README: the curl walk-through of the REST form', { timeout: 180_000 }, () => {
  it('runs as written (with the port this test started the server on)', { timeout: 90_000 }, async () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const block = /<!-- http-walkthrough -->\s*```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the http-walkthrough block');
    // The README has the reader start `npm start -- --enable-sleeper` before the walk-throughs; this test
    // starts that server itself (on free ports), so the block must not start one.
    assert.doesNotMatch(block[1]!, /npm start/);
    assert.match(readme, /`npm start -- --enable-sleeper`/, 'the README says to start the server with the Sleeper');
    const dir = tempDir();
    const server = await spawnServer(dir.file('db'), ['--enable-sleeper']);
    try {
      const base = (await httpAddressOf(server)).replace(/^http:\/\//, '');
      assert.match(base, /^127\.0\.0\.1:\d+$/);
      // The only change: the port this test's server got instead of 8080.
      const script = block[1]!.replaceAll('localhost:8080', base);
      assert.ok(script.includes(base));
      const run = await runChild('bash', ['-c', script], { cwd: dir.path, timeoutMs: 60_000 });
      assert.equal(run.code, 0, `${run.stderr}\n${run.stdout}`);
      const output = run.stdout;
      const out = output.trim().split('\n');
      assert.match(out[0]!, new RegExp(`^started http://${base.replaceAll('.', '\\.')}/v1/operations/[A-Za-z0-9_-]{27}$`));
      const done = JSON.parse(out[1]!);
      assert.equal(done.done, true);
      assert.equal(done.response['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      assert.equal(done.response.slept, '3s');
      assert.deepEqual(JSON.parse(out[2]!), {}, 'cancel');
      const stopped = JSON.parse(out[3]!);
      assert.equal(stopped.done, true);
      assert.equal(stopped.error.code, 1, 'CANCELLED');
      assert.deepEqual(JSON.parse(out[4]!), {}, 'delete');
      assert.equal(out.length, 5);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
