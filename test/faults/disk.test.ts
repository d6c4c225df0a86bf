/**
 * Disk full: a real `longrun serve` process whose database lives on a small tmpfs that the test
 * fills with a ballast file, then frees.
 *
 * Why a tmpfs and not a read-only file or `PRAGMA max_page_count`: tests run as root here, and
 * root writes through `chmod a-w`; `max_page_count` is a setting of one connection, not of the
 * file, so another connection cannot make the server's database "full". A tmpfs of a few MB is a
 * real filesystem that really runs out of space (ENOSPC, which SQLite reports as SQLITE_FULL), for
 * the database, its WAL and its shared-memory file alike. Mounting one needs root (or
 * CAP_SYS_ADMIN); where the test cannot mount, it fails under CI=true and is skipped (saying so) otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { Status } from '@grpc/grpc-js/build/src/constants.js';
import { spawnServer } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const OPS = '/google.longrunning.Operations';
const quick = { duration: { seconds: 0, nanos: 0 }, steps: 1 };

interface Operation {
  name: string;
  done: boolean;
}

function tryMountTmpfs(path: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Writes until the filesystem refuses with ENOSPC. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) {
      try {
        writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // Take the last partial chunk's space too.
    for (;;) {
      try {
        if (writeSync(fd, chunk, 0, 512) === 0) break;
      } catch {
        break;
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('disk full', { timeout: 180_000 }, () => {
  const dir = tempDir();
  const mount = dir.file('fs');
  let mounted = false;
  after(() => {
    if (mounted) execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
    dir.remove();
  });

  /** Mounts the tmpfs once; false (the test skipped) where that is impossible outside CI. */
  const mountOnce = (t: TestContext): boolean => {
    if (!mounted) {
      mkdirSync(mount, { recursive: true });
      mounted = tryMountTmpfs(mount, '8m');
    }
    if (mounted) return true;
    // In CI a missing capability must fail the run, not pass it unseen.
    if (process.env['CI'] === 'true') assert.fail('cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN), and CI=true');
    t.skip('cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN)');
    return false;
  };

  it('fails creations with UNAVAILABLE, keeps reads working, corrupts nothing and recovers by itself', async (t) => {
    if (!mountOnce(t)) return;
    const db = `${mount}/longrun.db`;
    const ballast = `${mount}/ballast`;
    const server = await spawnServer(db, ['--enable-sleeper', '--poll', '100ms', '--lease', '1s']);
    const caller = new GenericCaller(server.address);
    try {
      const before: Operation[] = [];
      for (let i = 0; i < 20; i++) before.push(await caller.call<Operation>(SLEEP, quick));
      const waitDone = async (name: string) => {
        for (let i = 0; i < 100; i++) {
          const operation = await caller.call<Operation>(`${OPS}/WaitOperation`, { name, timeout: { seconds: 1 } });
          if (operation.done) return operation;
        }
        assert.fail(`${name} never finished`);
      };
      for (const { name } of before) await waitDone(name);

      // Operations running while the disk is full: their progress writes and heartbeats fail along
      // the way and their leases (1 s here) run out in the store, but the runner still holds the work:
      // they must finish once, on their first attempt, not be failed or run again.
      const running: Operation[] = [];
      for (let i = 0; i < 3; i++) running.push(await caller.call<Operation>(SLEEP, { duration: { seconds: 2 }, steps: 20 }));
      await sleep(300);
      fillUp(ballast);
      // Writes may still fit in WAL pages already allocated; keep creating until the disk says no.
      let refused: (Error & { code?: number; details?: string }) | undefined;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        // 2 KB of request each (stored with the operation), so the disk fills in a few hundred calls.
        await caller.call<Operation>(SLEEP, { ...quick, failWith: { code: 2, message: 'x'.repeat(2000) } }).catch((error: Error) => (refused = error));
      }
      assert.ok(refused, 'a creation was refused once the disk was full');
      assert.equal(refused.code, Status.UNAVAILABLE, refused.message);
      assert.match(refused.details ?? '', /disk is full/, 'the message says what is wrong');
      // And again, now that nothing is in flight.
      await assert.rejects(caller.call(SLEEP, quick), (error: { code: number }) => error.code === Status.UNAVAILABLE);

      // Reads keep answering.
      for (const { name } of before) assert.equal((await caller.call<Operation>(`${OPS}/GetOperation`, { name })).done, true);
      const listed = await caller.call<{ operations: Operation[] }>(`${OPS}/ListOperations`, { name: '', pageSize: 1000 });
      assert.ok(listed.operations.length >= before.length);

      const check = new Database(db, { readonly: true });
      try {
        assert.equal(check.pragma('integrity_check', { simple: true }), 'ok', 'nothing corrupted while full');
      } finally {
        check.close();
      }

      await sleep(500); // some progress writes of the running operations fail meanwhile
      // Space returns: creation works again without a restart, and the runner finishes the work.
      rmSync(ballast);
      const again = await caller.call<Operation>(SLEEP, quick);
      assert.equal((await waitDone(again.name)).done, true);
      const stored = new Database(db, { readonly: true });
      try {
        assert.equal(stored.pragma('integrity_check', { simple: true }), 'ok');
        const pending = stored.prepare('SELECT count(*) FROM operations WHERE done = 0').pluck();
        for (let i = 0; i < 100 && pending.get() !== 0; i++) await sleep(100);
        assert.equal(pending.get(), 0, 'nothing left behind');
        const outcome = stored.prepare('SELECT attempt, error_code, response_type FROM operations WHERE name = ?');
        for (const { name } of running) {
          assert.deepEqual(outcome.get(name), { attempt: 1, error_code: null, response_type: 'type.googleapis.com/longrun.testing.v1.SleepResponse' }, `${name} finished once, with its response`);
        }
        const outcomes = stored.prepare('SELECT error_code, attempt, count(*) AS n FROM operations GROUP BY 1, 2').all() as { error_code: number | null; attempt: number; n: number }[];
        t.diagnostic(`outcomes: ${outcomes.map((o) => `${o.n} x ${o.error_code === null ? 'response' : `error ${o.error_code}`} on attempt ${o.attempt}`).join(', ')}`);
      } finally {
        stored.close();
      }
    } finally {
      caller.close();
      assert.equal(await server.stop(), 0);
    }
  });
  it('shuts down with exit 0 while the disk is full; a running operation stays to be done', async (t) => {
    if (!mountOnce(t)) return;
    const db = `${mount}/shutdown.db`;
    const ballast = `${mount}/ballast-shutdown`;
    const server = await spawnServer(db, ['--enable-sleeper', '--poll', '100ms', '--lease', '1s', '--shutdown-grace', '300ms']);
    const caller = new GenericCaller(server.address);
    try {
      const running = await caller.call<Operation>(SLEEP, { duration: { seconds: 30 }, steps: 30 });
      await sleep(300);
      // A read transaction held open pins the WAL, so writes cannot start it over: once the disk is
      // full, most writes are refused. (A small one may still fit in space a refused larger one left
      // in the WAL file, so giving the lease back at shutdown fails in some runs, not all.)
      const reader = new Database(db, { readonly: true });
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM operations').get();
      fillUp(ballast);
      // Until the database itself is refused, not only the ballast.
      let refused = false;
      for (let i = 0; i < 2000 && !refused; i++) {
        await caller.call(SLEEP, { ...quick, failWith: { code: 2, message: 'x'.repeat(2000) } }).catch(() => (refused = true));
      }
      assert.ok(refused, 'the disk is full');
      // Shutting down must not fail, whether or not the running operation's lease can be given back.
      assert.equal(await server.stop(), 0, server.stderr());
      reader.exec('COMMIT');
      reader.close();
      rmSync(ballast);
      const stored = new Database(db, { readonly: true });
      try {
        assert.equal(stored.pragma('integrity_check', { simple: true }), 'ok');
        const row = stored.prepare('SELECT done, lease_holder FROM operations WHERE name = ?').get(running.name) as { done: number; lease_holder: string | null };
        assert.equal(row.done, 0, 'still to be done: a restarted server reruns it once its lease runs out');
        t.diagnostic(`the running operation's lease was ${row.lease_holder === null ? 'given back' : 'left to expire (it could not be given back)'}`);
      } finally {
        stored.close();
      }
    } finally {
      caller.close();
      rmSync(ballast, { force: true });
    }
  });
});
