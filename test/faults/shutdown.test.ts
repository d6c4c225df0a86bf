/**
 * Graceful shutdown under load: SIGTERM to a real `longrun serve` while several clients create
 * operations, read them and wait on them. In-flight calls finish, running operations give their
 * leases back, no acknowledged creation is lost, and the process exits 0 within its grace period.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Status } from '@grpc/grpc-js/build/src/constants.js';
import { spawnServer } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const OPS = '/google.longrunning.Operations';
const GRACE_MS = 1000;
/** Time the process may take beyond the grace period to close the store and exit. */
const EXIT_MARGIN_MS = 2000;
/** Long enough to be running at SIGTERM; fewer than the Sleeper's 16 slots, so all run at once. */
const LONG_OPERATIONS = 6;
const CLIENTS = 4;

interface CallRecord {
  startedAt: number;
  error?: { code: number; message: string };
}

describe('graceful shutdown under load', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('finishes in-flight calls, releases leases, loses nothing and exits 0 within the grace period', async (t) => {
    const db = dir.file('shutdown.db');
    const server = await spawnServer(db, ['--enable-sleeper', '--shutdown-grace', `${GRACE_MS}ms`, '--poll', '100ms']);
    const callers = Array.from({ length: CLIENTS }, () => new GenericCaller(server.address));
    const acknowledged = new Set<string>();
    const long: string[] = [];
    const calls: CallRecord[] = [];
    const track = <T>(call: () => Promise<T>): Promise<T | undefined> => {
      const record: CallRecord = { startedAt: performance.now() };
      calls.push(record);
      return call().then(
        (value) => value,
        (error: { code: number; message: string }) => void (record.error = { code: error.code, message: error.message }),
      );
    };

    for (let i = 0; i < LONG_OPERATIONS; i++) {
      const { name } = await callers[0]!.call<{ name: string }>(SLEEP, { duration: { seconds: 60 }, steps: 600 });
      acknowledged.add(name);
      long.push(name);
    }
    // Waits that are certainly in flight when the signal arrives.
    const waits = long.map((name) =>
      track(() => callers[1]!.call<{ name: string; done: boolean }>(`${OPS}/WaitOperation`, { name, timeout: { seconds: 30 } })),
    );

    let stopping = false;
    const clients = callers.map(async (caller, c) => {
      for (let i = 0; !stopping; i++) {
        const created = await track(() =>
          caller.call<{ name: string }>(SLEEP, { duration: { seconds: 0, nanos: (i % 5) * 20e6 }, steps: 1 }),
        );
        if (created === undefined) break; // the server is going away; a real client would back off
        acknowledged.add(created.name);
        await track(() => caller.call(`${OPS}/GetOperation`, { name: created.name }));
        if (c % 2 === 0) await track(() => caller.call(`${OPS}/ListOperations`, { name: '', pageSize: 10 }));
      }
    });

    await sleep(700);
    const signalledAt = performance.now();
    const code = await server.stop();
    const exitMs = performance.now() - signalledAt;
    stopping = true;
    await Promise.all([...clients, ...waits]);
    for (const caller of callers) caller.close();

    assert.equal(code, 0, server.stderr());
    assert.ok(exitMs < GRACE_MS + EXIT_MARGIN_MS, `exited ${exitMs.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms)`);

    // Every call that reached the server before the signal finished normally; the Wait calls
    // returned the state at shutdown instead of being cut.
    const before = calls.filter((call) => call.startedAt < signalledAt - 100);
    assert.deepEqual(before.filter((call) => call.error).map((call) => call.error), [], 'calls in flight before SIGTERM succeeded');
    for (const wait of await Promise.all(waits)) assert.equal(wait?.done, false, 'Wait returned the running state');
    // Later calls found the server gone: nothing but UNAVAILABLE.
    const refused = calls.filter((call) => call.error && call.startedAt >= signalledAt - 100);
    assert.deepEqual([...new Set(refused.map((call) => call.error!.code))].filter((c) => c !== Status.UNAVAILABLE), []);
    t.diagnostic(
      `exit ${exitMs.toFixed(0)} ms after SIGTERM (grace ${GRACE_MS} ms); ${calls.length} calls, ${before.length} before the signal, ` +
        `${refused.length} refused after it; ${acknowledged.size} creations acknowledged`,
    );

    const file = new Database(db, { readonly: true });
    try {
      const names = new Set(file.prepare('SELECT name FROM operations').pluck().all() as string[]);
      assert.deepEqual([...acknowledged].filter((name) => !names.has(name)), [], 'every acknowledged creation is stored');
      const leased = file.prepare('SELECT name FROM operations WHERE done = 0 AND (lease_holder IS NOT NULL OR lease_expires_at <> 0)').pluck();
      assert.deepEqual(leased.all(), [], 'no unfinished operation is still leased');

      // Restarted with the default 30 s lease, the released operations run again at once.
      const restartedAt = performance.now();
      const again = await spawnServer(db, ['--enable-sleeper', '--shutdown-grace', '200ms', '--poll', '100ms']);
      const caller = new GenericCaller(again.address);
      try {
        const running = file.prepare(`SELECT count(*) FROM operations WHERE done = 0 AND lease_holder IS NOT NULL
          AND name IN (${long.map(() => '?').join(', ')})`).pluck();
        const pending = file.prepare('SELECT count(*) FROM operations WHERE done = 0').pluck();
        while ((running.get(...long) as number) < long.length && performance.now() - restartedAt < 5000) await sleep(50);
        assert.equal(running.get(...long), long.length, 'the released operations were claimed right after the restart');
        const claimedMs = performance.now() - restartedAt;
        for (const name of long) await caller.call(`${OPS}/CancelOperation`, { name });
        while ((pending.get() as number) > 0 && performance.now() - restartedAt < 10_000) await sleep(50);
        assert.equal(pending.get(), 0, 'every operation finished after the restart');
        t.diagnostic(`released operations running again ${claimedMs.toFixed(0)} ms after starting the new process (lease 30 s)`);
      } finally {
        caller.close();
        assert.equal(await again.stop(), 0);
      }
    } finally {
      file.close();
    }
  });
});
