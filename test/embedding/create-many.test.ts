/** Longrun.createMany: many creations in one call, in order, written together, run like any other. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, createLongrun, invalidArgument, LongrunError, type Longrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

describe('Longrun.createMany', { timeout: 120_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let longrun: Longrun;

  before(async () => {
    dir = tempDir();
    longrun = await createLongrun({ databasePath: dir.file('many.db'), pollMs: 10, logger: silentLogger });
    longrun.method<{ steps: number }, Record<string, never>, { steps: number }>(SLEEP_METHOD, async (request) => ({ steps: request.steps }), {
      validate(request) {
        if (request.steps < 0) throw invalidArgument('steps', 'must not be negative');
      },
    });
  });
  after(async () => {
    await longrun.close(100);
    dir.remove();
  });

  it('creates every request in the order given, each run with its own request', async () => {
    const requests = Array.from({ length: 300 }, (_, i) => ({ steps: i }));
    const created = await longrun.createMany(SLEEP_METHOD, requests);
    assert.equal(created.length, 300);
    assert.equal(new Set(created.map((op) => op.name)).size, 300);
    // Not run yet: the runner is not started, so all 300 are pending in the store.
    assert.equal((await longrun.store.countByState(Date.now())).pending, 300);
    longrun.start();
    for (const [i, op] of created.entries()) {
      assert.equal(op.done, false);
      const done = await longrun.wait(op.name, 30_000);
      assert.equal(done.done, true, `${op.name} finished`);
      const response = longrun.registry.unpack<{ steps: number }>({ typeUrl: done.response!.typeUrl, value: done.response!.value });
      assert.equal(response.steps, i, `operation ${i} ran with request ${i}`);
    }
  });

  it('rejects the call when one request is invalid, and still creates the valid ones', async () => {
    const before = (await longrun.store.countByState(Date.now())).done;
    await assert.rejects(
      longrun.createMany(SLEEP_METHOD, [{ steps: 1 }, { steps: -1 }, { steps: 2 }]),
      (error: unknown) => error instanceof LongrunError && error.code === Code.INVALID_ARGUMENT && /steps: must not be negative/.test(error.message),
    );
    // The two valid ones were created and run (the runner is started).
    for (let i = 0; i < 300; i++) {
      const counts = await longrun.store.countByState(Date.now());
      if (counts.done === before + 2 && counts.pending + counts.running === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.fail('the two valid requests did not both finish');
  });

  it('creates nothing for an empty list', async () => {
    assert.deepEqual(await longrun.createMany(SLEEP_METHOD, []), []);
  });
});
