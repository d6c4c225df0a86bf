/**
 * The completion-callback blocks of docs/rest.md, run as written in a checkout: the server block
 * (on free ports, given by LONGRUN_PORT and LONGRUN_HTTP_PORT instead of 50051 and 8080), then the
 * curl block with this test's receiver for https://hooks.example.com/longrun. The receiver is on
 * loopback, which the address policy refuses by default: LONGRUN_CALLBACK_ALLOW lets it in.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkout } from './helpers/checkout.js';
import { runChild, spawnChild } from './helpers/children.js';
import { blockOf } from './helpers/doc-blocks.js';
import { startReceiver, verified } from './helpers/receiver.js';

describe('docs/rest.md: completion callbacks', { timeout: 180_000 }, () => {
  it('callbacks-serve and callbacks-request: a signed POST of the status-monitor body when the operation ends', { timeout: 150_000 }, async (t) => {
    const dir = checkout();
    const receiver = await startReceiver();
    const server = spawnChild('sh', ['-e', '-c', blockOf('docs/rest.md', 'callbacks-serve')], {
      cwd: dir.path,
      env: { ...process.env, LONGRUN_PORT: '0', LONGRUN_HTTP_PORT: '0', LONGRUN_LOG_LEVEL: 'warn', LONGRUN_CALLBACK_ALLOW: '127.0.0.1' },
      t,
    });
    try {
      const base = (await server.waitFor(/longrun http on http:\/\/(\S+)/, 'longrun serve to print its HTTP address', 60_000))[1]!;
      const secret = readFileSync(dir.file('callback-secrets'), 'utf8').trim();
      assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/, 'the block wrote a secret of 32 random bytes');

      const script = blockOf('docs/rest.md', 'callbacks-request').replaceAll('localhost:8080', base).replaceAll('https://hooks.example.com/longrun', receiver.url);
      const { code, stdout, stderr } = await runChild('sh', ['-e', '-c', script], { cwd: dir.path, timeoutMs: 60_000 });
      assert.equal(code, 0, `${stdout}\n${stderr}\nserver:\n${server.output()}`);
      assert.match(stdout, /^HTTP\/1\.1 202 Accepted\r?$/m, stdout);
      const name = /"name":"(operations\/[\w-]{27})"/.exec(stdout)?.[1];
      assert.ok(name, `curl printed the operation: ${stdout}`);

      const [delivery] = await receiver.count(1, 60_000);
      const body = verified(secret, delivery!);
      assert.equal(body.type, 'operation.succeeded');
      assert.equal(body.id, name);
      assert.equal(body.status, 'succeeded');
      assert.equal(body.result['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      assert.equal(body.operation.name, name);
      assert.equal(body.operation.done, true);
    } finally {
      await server.kill();
      await receiver.close();
      dir.remove();
    }
  });
});
