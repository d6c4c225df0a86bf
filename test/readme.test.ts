import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/temp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const examplePath = `${root}examples/embed.mjs`;

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
