/**
 * The checkout as a workplace: `npm run build` (which `npm start` runs first) leaves `npx longrun`
 * executable, and a second build while a server runs from dist/ rewrites nothing under it, yet
 * removes the outputs of deleted sources.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild } from './helpers/children.js';
import { spawnServer } from './helpers/process.js';
import { tempDir } from './helpers/temp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'dist');

async function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await runChild(command, args, { cwd: root, timeoutMs: 100_000 });
  return { code: code ?? 1, stdout, stderr };
}

/** Every file of dist/ with its inode and modification time. */
function snapshot(): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name !== 'tsconfig.tsbuildinfo') {
        const stat = statSync(path);
        files.set(relative(dist, path), `${stat.ino} ${stat.mtimeMs}`);
      }
    }
  };
  visit(dist);
  return files;
}

describe('npm run build in the checkout', { timeout: 240_000 }, () => {
  it('leaves the CLI executable, so npx longrun works as the README says', async () => {
    const built = await run('npm', ['run', 'build', '--silent']);
    assert.equal(built.code, 0, built.stderr);
    assert.notEqual(statSync(join(dist, 'src', 'cli', 'main.js')).mode & 0o111, 0, 'dist/src/cli/main.js is executable');
    const help = await run('npx', ['longrun', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^usage: longrun COMMAND/);
  });

  it('a second build while a server runs from dist rewrites nothing and removes stale outputs', async () => {
    assert.equal((await run('npm', ['run', 'build', '--silent'])).code, 0);
    const dir = tempDir();
    const server = await spawnServer(dir.file('build.db'));
    const stale = [join(dist, 'test', 'zz-deleted-source.test.js'), join(dist, 'src', 'zz-deleted-source.js'), join(dist, 'src', 'zz-deleted-source.d.ts')];
    try {
      const before = snapshot();
      for (const file of stale) writeFileSync(file, '');
      const built = await run('npm', ['run', 'build', '--silent']);
      assert.equal(built.code, 0, built.stderr);
      for (const file of stale) assert.equal(existsSync(file), false, `${file} (no source) is removed`);
      assert.deepEqual(snapshot(), before, 'every other file of dist is the very file it was (same inode, same mtime)');
      const listed = await run('npx', ['longrun', 'list', '--address', server.address]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(server.child.exitCode, null, 'the server kept running');
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
