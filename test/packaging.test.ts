/**
 * What a user gets from the registry: `npm pack`'s tarball installed into an empty project serves,
 * and its `longrun` command answers `longrun list`.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/temp.js';
import { within } from './helpers/wait.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm passes its own settings to scripts as npm_* variables; a nested npm must not inherit them.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

describe('the npm package', { timeout: 280_000 }, () => {
  it('installs into an empty project, serves, and answers longrun list', async () => {
    const dir = tempDir('longrun-pack-');
    try {
      // dist/ is already built by `npm test`; prepack would rebuild it under the running tests.
      await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir.path], { cwd: ROOT, env: cleanEnv });
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

      const server = spawn(bin, ['serve', '--port', '0', '--http-port', '0', '--db', join(app, 'data', 'longrun.db'), '--log-level', 'warn'], { cwd: app, env: cleanEnv });
      let stderr = '';
      server.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      try {
        const listening = new Promise<string>((resolve, reject) => {
          let stdout = '';
          server.stdout.setEncoding('utf8').on('data', (chunk: string) => {
            stdout += chunk;
            const match = /longrun listening on (\S+)/.exec(stdout);
            if (match) resolve(match[1]!);
          });
          server.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${stderr}`)));
        });
        const address = await within(listening, 'the installed longrun serve to print its address', 30_000);
        // execFile rejects unless the command exits 0.
        const listed = await run(bin, ['list', '--address', address], { cwd: app, env: cleanEnv });
        assert.equal(listed.stderr.includes('Error'), false, listed.stderr);
      } finally {
        server.kill('SIGTERM');
        const [code] = (await once(server, 'exit')) as [number | null];
        assert.equal(code, 0, `serve exits 0 on SIGTERM: ${stderr}`);
      }
    } finally {
      dir.remove();
    }
  });
});
