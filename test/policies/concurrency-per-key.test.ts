/**
 * A method's `concurrencyPerKey`: how many operations of one concurrency key its runners run at
 * once, declared with the method and checked there; the status monitor says `waiting_for_key` only
 * when that many run. The store's part (slots, races, other processes) is in the store contract and
 * test/multiprocess/concurrency-keys.test.ts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLongrun, MAX_CONCURRENCY_PER_KEY } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled, type ControlledRun } from '../helpers/controlled.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

describe("a method's concurrencyPerKey", { timeout: 60_000 }, () => {
  let server: TestServer;
  const controlled = new Controlled();
  const runs: ControlledRun[] = [];

  before(async () => {
    server = await startTestServer({
      sleeper: false,
      http: {},
      setup: (longrun) => longrun.method(SLEEP_METHOD, controlled.handler, { concurrencyPerKey: 2 }),
    });
  });
  after(async () => {
    for (const run of runs) run.finish({});
    await server?.close();
  });

  const create = async (key: string) => {
    const reply = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: { 'Longrun-Concurrency-Key': key } });
    assert.equal(reply.status, 202, JSON.stringify(reply.json));
    return reply.json.name as string;
  };
  const monitor = async (name: string) => (await http('GET', `${server.httpUrl}/v1/${name}/status`)).json;

  it('runs two of one key at once; the third waits for its key until one of them ends', async () => {
    const first = await create('printer');
    const second = await create('printer');
    runs.push(await controlled.next(), await controlled.next());
    assert.deepEqual(runs.map((run) => run.context.name).sort(), [first, second].sort());
    const third = await create('printer');
    // Created after the third: a claim that takes it has seen the third too, and left it.
    const other = await create('scanner');
    const otherRun = await controlled.next();
    assert.equal(otherRun.context.name, other);
    otherRun.finish({});
    assert.equal(controlled.started, 3, 'the third of printer did not start');
    const waiting = await monitor(third);
    assert.deepEqual([waiting.status, waiting.waiting, waiting.concurrency_key], ['pending', 'waiting_for_key', 'printer']);

    runs.shift()!.finish({});
    const thirdRun = await controlled.next();
    assert.equal(thirdRun.context.name, third, 'a slot of printer was given back');
    runs.push(thirdRun);
  });

  it('refuses a limit that is not an integer from 1 to MAX_CONCURRENCY_PER_KEY where it is declared', async () => {
    const folder = tempDir();
    const longrun = await createLongrun({ databasePath: folder.file('bad.db'), runner: false });
    try {
      for (const bad of [0, -1, 1.5, MAX_CONCURRENCY_PER_KEY + 1, Number.NaN]) {
        assert.throws(
          () => longrun.method(SLEEP_METHOD, controlled.handler, { concurrencyPerKey: bad }),
          new RegExp(`^Error: ${SLEEP_METHOD}: concurrencyPerKey must be an integer from 1 to ${MAX_CONCURRENCY_PER_KEY}`),
          String(bad),
        );
      }
      longrun.method(SLEEP_METHOD, controlled.handler, { concurrencyPerKey: MAX_CONCURRENCY_PER_KEY });
    } finally {
      await longrun.close();
    }
    await assert.rejects(createLongrun({ databasePath: folder.file('never.db'), concurrencyPerKey: 0 }), /^Error: concurrencyPerKey must be an integer from 1/);
    assert.equal(existsSync(folder.file('never.db')), false, 'refused before the store is opened');
    folder.remove();
  });
});
