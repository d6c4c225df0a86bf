/** `--db` takes a PostgreSQL URL; `copy-store` moves a SQLite store there, keys and names intact. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createLongrun } from '../../src/app.js';
import { addSleeper, SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { runChild } from '../helpers/children.js';
import { CLI, runCli } from '../helpers/process.js';
import { stopTestPostgres, testPostgres } from '../helpers/postgres.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

after(() => stopTestPostgres());

describe('--db with a PostgreSQL URL', { timeout: 180_000 }, () => {
  it('is taken for PostgreSQL, not a file name: an unreachable one fails UNAVAILABLE-style and leaves no file behind', async () => {
    const dir = tempDir();
    try {
      const result = await runChild(process.execPath, [CLI, 'serve', '--port', '0', '--http-port', '0', '--db', 'postgres://longrun@127.0.0.1:1/none'], { cwd: dir.path });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^longrun serve: the operation store cannot be reached right now: PostgreSQL refused the connection/);
      assert.deepEqual(readdirSync(dir.path), [], 'no file called "postgres:" (or anything else)');
    } finally {
      dir.remove();
    }
  });
});

describe('longrun copy-store', { timeout: 180_000 }, () => {
  it('copies operations and idempotency keys, so names, keys and history work on PostgreSQL', async () => {
    const dir = tempDir();
    const database = await (await testPostgres()).freshDatabase();
    try {
      const path = dir.file('longrun.db');
      const before = await createLongrun({ databasePath: path, logger: silentLogger, pollMs: 20 });
      addSleeper(before);
      before.start();
      const keyed = await before.create(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 1 }, { idempotencyKey: 'moved-key' });
      const finished = await before.wait(keyed.name, 10_000);
      assert.equal(finished.done, true);
      const pending = await before.create(SLEEP_METHOD, { duration: { seconds: 3600, nanos: 0 }, steps: 1 });
      await before.close(100);
      assert.ok(existsSync(path));

      const copy = await runCli(['copy-store', '--from', path, '--to', database.url]);
      assert.equal(copy.code, 0, copy.stderr);
      assert.match(copy.stdout, /^copied 2 of 2 operations \(1 with idempotency keys\) from .* to postgres:\/\/.*\n$/);
      assert.doesNotMatch(copy.stdout, /longrun-test@/, 'the password is not printed');
      const again = await runCli(['copy-store', '--from', path, '--to', database.url]);
      assert.match(again.stdout, /^copied 0 of 2 operations/, 'a second run copies nothing twice');

      const moved = await createLongrun({ databasePath: database.url, logger: silentLogger, runner: false });
      try {
        addSleeper(moved);
        const read = await moved.get(keyed.name);
        assert.deepEqual([read.done, read.response?.typeUrl], [true, finished.response?.typeUrl]);
        assert.equal((await moved.get(pending.name)).done, false);
        const retried = await moved.create(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 1 }, { idempotencyKey: 'moved-key' });
        assert.equal(retried.name, keyed.name, 'the idempotency key still names the same operation');
        const listed = await moved.operations.list({ name: 'operations', filter: '', pageSize: 1, pageToken: '', returnPartialSuccess: false }, moved.caller);
        assert.equal(listed.operations.length, 1);
        const rest = await moved.operations.list({ name: 'operations', filter: '', pageSize: 10, pageToken: listed.nextPageToken, returnPartialSuccess: false }, moved.caller);
        assert.deepEqual([...listed.operations, ...rest.operations].map((op) => op.name).sort(), [keyed.name, pending.name].sort());
      } finally {
        await moved.close(100);
      }
    } finally {
      dir.remove();
      await database.drop();
    }
  });
});
