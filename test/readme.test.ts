import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OperationsClient } from '../src/index.js';
import { checkout } from './helpers/checkout.js';
import { runChild, spawnChild } from './helpers/children.js';
import { GenericCaller } from './helpers/server.js';
import { spawnServer } from './helpers/process.js';
import { tempDir } from './helpers/temp.js';
import { within } from './helpers/wait.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examplePath = `${root}examples/embed.mjs`;
const clientExamplePath = `${root}examples/client.mjs`;

/** The block of the page `doc` after `<!-- marker -->` equals the example file (minus its first line). */
function assertVerbatim(doc: string, marker: string, path: string): void {
  const page = readFileSync(`${root}${doc}`, 'utf8');
  const block = new RegExp(`<!-- ${marker} -->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(page);
  assert.ok(block, `${doc} has the ${marker} block`);
  assert.equal(block[1], readFileSync(path, 'utf8').split('\n').slice(1).join('\n'));
}

describe('the embedding guide\'s example', { timeout: 180_000 }, () => {
  it('is the code of examples/embed.mjs, verbatim', () => {
    const guide = readFileSync(`${root}docs/embedding.md`, 'utf8');
    const block = /<!-- embedding-example -->\s*```js\n([\s\S]*?)```/.exec(guide);
    assert.ok(block, 'docs/embedding.md has the embedding example block');
    const example = readFileSync(examplePath, 'utf8').split('\n').slice(1).join('\n'); // minus the "verbatim" comment
    assert.equal(block[1], example);
  });

  it('runs: declares a method, serves it, watches, refuses, cancels, lists and deletes in process', async () => {
    const dir = tempDir();
    try {
      const { code, stdout, stderr } = await runChild(process.execPath, [examplePath], { cwd: dir.path, timeoutMs: 30_000 });
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^serving on 127\.0\.0\.1:\d+$/m);
      assert.match(stdout, /^operations\/[\w-]{27} \{"title":"Q3","pages":3\}$/m);
      assert.match(stdout, /^DONE 100%$/m);
      assert.match(stdout, /^refused: pages: expected number \(int32\), got "many"$/m);
      assert.match(stdout, /^cancelled: true$/m);
      assert.match(stdout, /^done: 2, more pages: false$/m);
    } finally {
      dir.remove();
    }
  });
});

describe('the typed client example (docs/grpc-cli.md)', { timeout: 180_000 }, () => {
  it('is the code of examples/client.mjs, verbatim', () => assertVerbatim('docs/grpc-cli.md', 'client-example', clientExamplePath));

  it('runs against a real server: lists, follows progress, and prints the outcome', async (t) => {
    const dir = tempDir();
    const server = await spawnServer(dir.file('client.db'), ['--enable-sleeper']);
    const caller = new GenericCaller(server.address);
    const client = new OperationsClient(server.address);
    try {
      // Long enough to be running whenever the example starts; cancelled once it has shown progress.
      const { name } = await caller.call<{ name: string }>('/longrun.testing.v1.Sleeper/Sleep', { duration: { seconds: 60, nanos: 0 }, steps: 600 });
      const example = spawnChild(process.execPath, [clientExamplePath, name], { env: { ...process.env, LONGRUN_ADDRESS: server.address }, t });
      await example.waitFor(/^progress: [1-9]\d*%$/m, 'the client example to print progress', 30_000);
      await client.cancel(name);
      assert.deepEqual(await within(example.exited, 'the client example to exit after the cancel', 30_000), { code: 0, signal: null }, example.output());
      const stdout = example.stdout();
      assert.match(stdout, new RegExp(`^running: ${name} longrun\\.testing\\.v1\\.SleepMetadata$`, 'm'));
      assert.match(stdout, /^failed: 1 the operation was cancelled$/m);
    } finally {
      client.close();
      caller.close();
      await server.stop();
      dir.remove();
    }
  });
});

describe('README first minutes', { timeout: 180_000 }, () => {
  it('run as written, top to bottom, against a real longrun serve started as npm start does', async () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const block = /<!-- first-minutes -->\s*```sh\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the first-minutes block');
    const dir = checkout();
    // `npm start` is the build (test/build.test.ts) and then this, in the checkout, with its defaults but
    // the ports: free ones, so that a program holding 50051 or 8080 on this machine does not fail the test.
    const server = spawnChild(process.execPath, ['dist/src/cli/main.js', 'serve', '--port', '0', '--http-port', '0', '--log-level', 'warn'], { cwd: dir.path });
    try {
      // A server that exits instead fails this at once, with its output.
      const address = (await server.waitFor(/longrun listening on (\S+)/, 'longrun serve to listen', 60_000))[1]!;
      // The only change: the port the server got instead of 50051 (for buf curl's URL, and LONGRUN_ADDRESS for longrun).
      const script = block[1]!.replaceAll('localhost:50051', address);
      const run = await runChild('sh', ['-e', '-c', script], { cwd: dir.path, timeoutMs: 90_000, env: { ...process.env, LONGRUN_ADDRESS: address } });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\nserver:\n${server.output()}`);
      const { stdout, stderr } = run;
      const name = /"name": "(operations\/[\w-]{27})"/.exec(stdout)?.[1];
      assert.ok(name, `buf curl printed the new operation: ${stdout}`);
      assert.match(stdout, /"@type": "type\.googleapis\.com\/google\.cloud\.vision\.v1\.OperationMetadata",\s*"state": "CREATED"/);
      assert.match(stdout, /"done": true,\s*"response": \{\s*"@type": "type\.googleapis\.com\/google\.cloud\.vision\.v1\.AsyncBatchAnnotateFilesResponse"/);
      assert.match(stderr, new RegExp(`${name}: DONE`), 'longrun wait showed progress on stderr');
      assert.match(stdout, /^output-1-to-2\.json$/m, 'ls shows the shard');
      assert.match(stdout, /^Hello from longrun\nThis page has two lines of text\.\nSecond page\nText detection reads every page\.$/m, 'the text of both pages');

      // Then the scanned page, in the same checkout and against the same server.
      const scanBlock = /<!-- first-minutes-scan -->\s*```sh\n([\s\S]*?)```/.exec(readme);
      assert.ok(scanBlock, 'the README has the scanned-page block');
      const scan = await runChild('sh', ['-e', '-c', scanBlock[1]!.replaceAll('localhost:50051', address)], { cwd: dir.path, timeoutMs: 90_000, env: { ...process.env, LONGRUN_ADDRESS: address } });
      assert.equal(scan.code, 0, `${scan.stdout}\n${scan.stderr}\nserver:\n${server.output()}`);
      const scanName = /"name": "(operations\/[\w-]{27})"/.exec(scan.stdout)?.[1];
      assert.ok(scanName, `buf curl printed the new operation: ${scan.stdout}`);
      assert.match(scan.stderr, new RegExp(`${scanName}: DONE`));
      assert.match(scan.stdout, /^A scanned page, read by OCR\.\nInvoice 2041: 3 items, total 120\.50$/m, 'the text read from the scan');

      // Then the CLI, on what the two blocks above left: operation.json names the scan's operation.
      const cliBlock = /<!-- first-minutes-cli -->\s*```sh\n([\s\S]*?)```/.exec(readme);
      assert.ok(cliBlock, 'the README has the CLI block');
      const cli = await runChild('sh', ['-e', '-c', cliBlock[1]!], { cwd: dir.path, timeoutMs: 60_000, env: { ...process.env, LONGRUN_ADDRESS: address } });
      assert.equal(cli.code, 0, `${cli.stdout}\n${cli.stderr}\nserver:\n${server.output()}`);
      const rows = cli.stdout.split('\n').filter((line) => /^operations\//.test(line));
      assert.deepEqual(rows.map((row) => row.split(/\s+/).slice(0, 2)).sort(), [[name, 'DONE'], [scanName, 'DONE']].sort(), 'list shows both done operations');
      assert.match(cli.stdout, new RegExp(`"name": "${scanName}",[\\s\\S]*"done": true`), 'get prints the scan operation');
      assert.match(cli.stderr, new RegExp(`^deleted ${scanName}$`, 'm'));
      const gone = await runChild(process.execPath, ['dist/src/cli/main.js', 'get', scanName], { cwd: dir.path, timeoutMs: 30_000, env: { ...process.env, LONGRUN_ADDRESS: address } });
      assert.equal(gone.code, 3, 'the deleted operation is not found');
    } finally {
      await server.kill();
      dir.remove();
    }
  });
});
