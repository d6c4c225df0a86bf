/**
 * Command blocks of docs/ pages, run as written (the README's own are in test/readme*.test.ts, the
 * ARM walk-through in test/http/azure-arm.test.ts, the other pages' in test/docs-*.test.ts): the
 * `longrun` command's tour in docs/grpc-cli.md and the token file of docs/operating.md.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkout } from './helpers/checkout.js';
import { runChild } from './helpers/children.js';
import { blockOf } from './helpers/doc-blocks.js';
import { CLI, spawnServer } from './helpers/process.js';

describe('docs/ command blocks', { timeout: 240_000 }, () => {
  it('docs/grpc-cli.md: the longrun command gets, cancels, waits for, lists and deletes an operation', { timeout: 120_000 }, async () => {
    const block = blockOf('docs/grpc-cli.md', 'cli-commands');
    const dir = checkout();
    const server = await spawnServer(dir.file('longrun.db'), ['--enable-sleeper']);
    try {
      const env = { ...process.env, LONGRUN_ADDRESS: server.address };
      // The only change: the port this test's server got instead of 50051.
      const run = await runChild('sh', ['-e', '-c', block.replaceAll('localhost:50051', server.address)], { cwd: dir.path, timeoutMs: 90_000, env });
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\nserver:\n${server.stderr()}`);
      const name = /"name": "(operations\/[\w-]{27})"/.exec(run.stdout)?.[1];
      assert.ok(name, `get printed the operation: ${run.stdout}`);
      assert.match(run.stdout, /^wait exited 1$/m, 'wait says the cancelled operation failed');
      assert.match(run.stdout, /"code": 1,\s*"message": "the operation was cancelled"/, 'wait printed the cancelled operation');
      assert.match(run.stdout, new RegExp(`^${name}\\s+CANCELLED\\b`, 'm'), 'list shows it among the cancelled');
      assert.match(run.stderr, new RegExp(`^deleted ${name}$`, 'm'));
      const gone = await runChild(process.execPath, [CLI, 'get', name], { timeoutMs: 30_000, env });
      assert.equal(gone.code, 3, 'deleted: not found');
    } finally {
      await server.stop();
      dir.remove();
    }
  });

  it('docs/operating.md: hash-token writes the line of a token file a server then accepts the token by', { timeout: 120_000 }, async () => {
    const block = blockOf('docs/operating.md', 'hash-token');
    const dir = checkout();
    try {
      // As written, then the token it made, for this test to present.
      const run = await runChild('sh', ['-e', '-c', `${block}\nprintf '%s' "$TOKEN"`], { cwd: dir.path, timeoutMs: 60_000 });
      assert.equal(run.code, 0, run.stderr);
      const token = run.stdout;
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      const line = readFileSync(dir.file('tokens.txt'), 'utf8');
      assert.match(line, new RegExp(`^${createHash('sha256').update(token).digest('hex')}\\s+alice\\n$`), 'the SHA-256 of the token and the principal, never the token');

      const server = await spawnServer(dir.file('longrun.db'), ['--token-file', dir.file('tokens.txt')]);
      try {
        const env = { ...process.env, LONGRUN_ADDRESS: server.address };
        const accepted = await runChild(process.execPath, [CLI, 'list'], { timeoutMs: 30_000, env: { ...env, LONGRUN_TOKEN: token } });
        assert.equal(accepted.code, 0, accepted.stderr);
        const refused = await runChild(process.execPath, [CLI, 'list'], { timeoutMs: 30_000, env });
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /requires an "authorization: Bearer <token>" header/);
      } finally {
        await server.stop();
      }
    } finally {
      dir.remove();
    }
  });
});
