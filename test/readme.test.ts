import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GenericCaller } from './helpers/server.js';
import { spawnServer } from './helpers/process.js';
import { tempDir } from './helpers/temp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examplePath = `${root}examples/embed.mjs`;
const clientExamplePath = `${root}examples/client.mjs`;

/** The README block after `<!-- marker -->` equals the example file (minus its first line). */
function assertVerbatim(marker: string, path: string): void {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const block = new RegExp(`<!-- ${marker} -->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(block, `the README has the ${marker} block`);
  assert.equal(block[1], readFileSync(path, 'utf8').split('\n').slice(1).join('\n'));
}

describe('README embedding example', () => {
  it('is the code of examples/embed.mjs, verbatim', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    const block = /<!-- embedding-example -->\s*```js\n([\s\S]*?)```/.exec(readme);
    assert.ok(block, 'the README has the embedding example block');
    const example = readFileSync(examplePath, 'utf8').split('\n').slice(1).join('\n'); // minus the "verbatim" comment
    assert.equal(block[1], example);
  });

  it('runs: declares a method, serves it and finishes an operation', async () => {
    const dir = tempDir();
    try {
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [examplePath], { cwd: dir.path, timeout: 30_000 }, (error, out, err) =>
          error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
        ),
      );
      assert.match(stdout, /^serving on 127\.0\.0\.1:\d+$/m);
      assert.match(stdout, /^operations\/[\w-]{22} \{"title":"Q3","pages":3\}$/m);
    } finally {
      dir.remove();
    }
  });
});

describe('README client example', () => {
  it('is the code of examples/client.mjs, verbatim', () => assertVerbatim('client-example', clientExamplePath));

  it('runs against a real server: lists, follows progress and prints the typed response', async () => {
    const dir = tempDir();
    const server = await spawnServer(dir.file('client.db'), ['--enable-sleeper']);
    const caller = new GenericCaller(server.address);
    try {
      const { name } = await caller.call<{ name: string }>('/longrun.testing.v1.Sleeper/Sleep', {
        duration: { seconds: 1, nanos: 500_000_000 },
        steps: 5,
      });
      const stdout = await new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [clientExamplePath, name], { env: { ...process.env, LONGRUN_ADDRESS: server.address }, timeout: 30_000 }, (error, out, err) =>
          error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
        ),
      );
      assert.match(stdout, new RegExp(`^running: ${name} longrun\\.testing\\.v1\\.SleepMetadata$`, 'm'));
      assert.match(stdout, /^progress: [1-9]\d*%$/m);
      assert.match(stdout, /^done: longrun\.testing\.v1\.SleepResponse \{"slept":\{"seconds":"1","nanos":500000000\},"steps":5,"attempt":1\}$/m);
    } finally {
      caller.close();
      server.child.kill('SIGTERM');
      await server.exited;
      dir.remove();
    }
  });
});
