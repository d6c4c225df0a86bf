/**
 * The README's gcloud walk-through, run as written against a real `longrun serve` started as
 * `npm start` does (its defaults but the ports): Google's own CLI detects the text of the first
 * minutes' PDF through the HTTP gateway, one command makes one operation, and describe reads it done.
 * test/http/gcloud.test.ts covers the same commands in more detail; this one keeps the README true.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkout, REPO_ROOT } from './helpers/checkout.js';
import { runChild, spawnChild } from './helpers/children.js';
import { http } from './helpers/http.js';

const OPERATION_NAME = /^operations\/[A-Za-z0-9_-]{27}$/;

/** The top-level JSON documents gcloud printed, pretty (each opens with `{` and closes with `}` at column 0). */
function documentsIn(stdout: string): any[] {
  return [...stdout.matchAll(/^\{$[\s\S]*?^\}$/gm)].map((match) => JSON.parse(match[0]));
}

describe('README: the gcloud walk-through', { timeout: 240_000 }, () => {
  it('runs as written: detect-text-pdf makes exactly one operation, describe reads it done, the shards are there', { timeout: 200_000 }, async () => {
    const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
    const block = /<!-- first-minutes-gcloud -->\s*```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the gcloud block');
    assert.match(block[1]!, /gcloud ml vision detect-text-pdf /);
    assert.match(block[1]!, /gcloud beta ml vision operations describe /);

    const dir = checkout();
    // What the first-minutes block before it leaves: hello.pdf in my-bucket.
    mkdirSync(dir.file('data/storage/my-bucket'), { recursive: true });
    copyFileSync(`${REPO_ROOT}examples/hello.pdf`, dir.file('data/storage/my-bucket/hello.pdf'));
    const server = spawnChild(process.execPath, ['dist/src/cli/main.js', 'serve', '--port', '0', '--http-port', '0', '--log-level', 'warn'], { cwd: dir.path });
    try {
      const address = (await server.waitFor(/longrun listening on (\S+)/, 'longrun serve to listen', 60_000))[1]!;
      const base = (await server.waitFor(/longrun http on http:\/\/(\S+)/, 'the HTTP gateway', 60_000))[1]!;
      const operations = async (): Promise<string[]> => ((await http('GET', `http://${base}/v1/operations`)).json.operations ?? []).map((op: { name: string }) => op.name);
      assert.deepEqual(await operations(), []);

      // The only changes: the ports the server got instead of 8080 and 50051 (LONGRUN_ADDRESS), and
      // mktemp's folder inside this test's checkout, so the gcloud configuration goes with it.
      const script = block[1]!.replaceAll('localhost:8080', base);
      const run = await runChild('sh', ['-e', '-c', script], {
        cwd: dir.path,
        timeoutMs: 180_000,
        env: { ...process.env, LONGRUN_ADDRESS: address, TMPDIR: dir.path },
      });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\nserver:\n${server.output()}`);

      const [started, described, ...more] = documentsIn(run.stdout);
      assert.equal(more.length, 0, run.stdout);
      assert.match(started.name, OPERATION_NAME, 'detect-text-pdf printed the new operation');
      assert.equal(started.metadata['@type'], 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata');
      assert.deepEqual(await operations(), [started.name], 'one command, exactly one operation');
      assert.equal(described.name, started.name);
      assert.equal(described.done, true);
      assert.equal(described.metadata.state, 'DONE');
      assert.equal(described.response['@type'], 'type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse');
      assert.match(run.stdout, /^output-1-to-1\.json\noutput-2-to-2\.json$/m, 'ls shows one shard per page');
      assert.match(readFileSync(dir.file('data/storage/my-bucket/gcloud/output-1-to-1.json'), 'utf8'), /Hello from longrun/);
    } finally {
      await server.kill();
      dir.remove();
    }
  });
});
