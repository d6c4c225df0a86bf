/**
 * Two `longrun serve` processes sharing one SQLite file wake each other: a WaitOperation on one
 * returns within 100 ms of the other finishing, and a cancel on one reaches a handler in the other
 * within a second (the change log read on PRAGMA data_version, not the 10 s heartbeat).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const WAIT = '/google.longrunning.Operations/WaitOperation';
const CANCEL = '/google.longrunning.Operations/CancelOperation';

interface Operation {
  name: string;
  done: boolean;
  error?: { code: number } | null;
}
interface Row {
  done: number;
  done_time: number | null;
  lease_holder: string | null;
}

describe('two servers on one SQLite file', { timeout: 60_000 }, () => {
  const dir = tempDir();
  const path = dir.file('shared.db');
  let first: ServerProcess;
  let second: ServerProcess;
  let onFirst: GenericCaller;
  let onSecond: GenericCaller;
  let db: Database.Database;
  const row = (name: string) => db.prepare('SELECT done, done_time, lease_holder FROM operations WHERE name = ?').get(name) as Row | undefined;

  before(async () => {
    first = await spawnServer(path, ['--enable-sleeper', '--lease', '30s']);
    second = await spawnServer(path, ['--enable-sleeper', '--lease', '30s']);
    onFirst = new GenericCaller(first.address);
    onSecond = new GenericCaller(second.address);
    db = new Database(path, { readonly: true });
  });
  after(async () => {
    onFirst?.close();
    onSecond?.close();
    db?.close();
    await Promise.all([first, second].map((server) => server?.stop()));
    dir.remove();
  });

  /** The server whose runner holds `name`, and the other one. */
  async function holderAndOther(name: string): Promise<[GenericCaller, GenericCaller]> {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(10)) {
      const holder = row(name)?.lease_holder;
      if (holder) return holder.includes(`:${first.child.pid}:`) ? [onFirst, onSecond] : [onSecond, onFirst];
    }
    throw new Error(`${name} was never claimed`);
  }

  it('wakes a WaitOperation in the other process within 100 ms of the end', async () => {
    for (let round = 0; round < 3; round++) {
      const { name } = await onFirst.call<Operation>(SLEEP, { duration: { seconds: 0, nanos: 400e6 }, steps: 1 });
      const [, other] = await holderAndOther(name);
      const done = await other.call<Operation>(WAIT, { name, timeout: { seconds: 20 } });
      const lag = Date.now() - row(name)!.done_time!;
      assert.equal(done.done, true);
      assert.ok(lag >= 0 && lag < 100, `woken ${lag} ms after the end`);
    }
  });

  it('brings a cancel in one process to the handler in the other within 1 s', async () => {
    const { name } = await onSecond.call<Operation>(SLEEP, { duration: { seconds: 60 }, steps: 1 });
    const [, other] = await holderAndOther(name);
    const cancelled = Date.now();
    await other.call(CANCEL, { name });
    const done = await other.call<Operation>(WAIT, { name, timeout: { seconds: 5 } });
    assert.equal(done.error?.code, 1);
    const latency = row(name)!.done_time! - cancelled;
    assert.ok(latency < 1000, `the handler stopped ${latency} ms after the cancel`);
  });
});
