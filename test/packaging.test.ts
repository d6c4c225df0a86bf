/**
 * What a user gets from the registry: `npm pack`'s tarball installed into an empty project serves,
 * and its `longrun` command answers `longrun list`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runChild, spawnChild } from './helpers/children.js';
import { tempDir } from './helpers/temp.js';

/** Runs a command to its end (30 s unless `timeout`); fails with its output unless it exits 0. */
async function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<{ stdout: string; stderr: string }> {
  const result = await runChild(command, args, { cwd: options.cwd, env: options.env, timeoutMs: options.timeout ?? 30_000 });
  assert.equal(result.code, 0, `${command} ${args.join(' ')}\n${result.stderr}${result.stdout}`);
  return result;
}
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm passes its own settings to scripts as npm_* variables; a nested npm must not inherit them.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

describe('the npm package', { timeout: 280_000 }, () => {
  it('installs into an empty project, serves, and answers longrun list', async () => {
    const dir = tempDir('longrun-pack-');
    try {
      // dist/ is already built by `npm test`; prepack would rebuild it under the running tests.
      await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir.path], { cwd: ROOT, env: cleanEnv, timeout: 90_000 });
      const tarball = readdirSync(dir.path).find((file) => file.endsWith('.tgz'));
      assert.ok(tarball, 'npm pack wrote a tarball');

      const app = join(dir.path, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'empty-app', private: true, type: 'module' }));
      // Install scripts are skipped only to reuse the better-sqlite3 addon this checkout already
      // compiled (same version, same Node) instead of compiling it again for a minute.
      await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', join(dir.path, tarball)], { cwd: app, env: cleanEnv, timeout: 90_000 });
      const addon = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
      const version = (root: string) => (JSON.parse(readFileSync(join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string }).version;
      if (version(app) === version(ROOT)) {
        mkdirSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release'), { recursive: true });
        copyFileSync(join(ROOT, addon), join(app, addon));
      } else {
        await run('npm', ['rebuild', 'better-sqlite3'], { cwd: app, env: cleanEnv, timeout: 180_000 });
      }
      const bin = join(app, 'node_modules', '.bin', 'longrun');
      assert.ok(existsSync(bin), 'the package installs a longrun command');

      const server = spawnChild(bin, ['serve', '--port', '0', '--http-port', '0', '--db', join(app, 'data', 'longrun.db'), '--log-level', 'warn'], { cwd: app, env: cleanEnv });
      try {
        const [, address] = await server.waitFor(/longrun listening on (\S+)/, 'the installed longrun serve to print its address', 30_000);
        const listed = await run(bin, ['list', '--address', address!], { cwd: app, env: cleanEnv });
        assert.equal(listed.stderr.includes('Error'), false, listed.stderr);
      } finally {
        const { code, forced } = await server.kill('SIGTERM', 30_000);
        assert.ok(code === 0 && !forced, `serve exits 0 on SIGTERM:\n${server.output()}`);
      }
    } finally {
      dir.remove();
    }
  });
});
