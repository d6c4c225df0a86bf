/**
 * Heartbeat renewal on its own: a handler that runs for many lease lengths keeps its lease, because
 * the runner renews it (every third of the lease) in the store, while a second runner polling the
 * same database never takes the operation over; it ends as attempt 1, its outcome written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createLongrun, type Longrun } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { Controlled } from '../helpers/controlled.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const LEASE_MS = 400;
/** How many lease lengths the handler holds the operation for. */
const LEASES_HELD = 5;

describe('heartbeat renewal', { timeout: 60_000 }, () => {
  const dir = tempDir();
  let holder: Longrun;
  let rival: Longrun;
  const held = new Controlled();
  const rivalRuns = new Controlled();
  let witness: Database.Database;

  before(async () => {
    const databasePath = dir.file('heartbeat.db');
    holder = await createLongrun({ databasePath, leaseMs: LEASE_MS, pollMs: 10, logger: silentLogger });
    holder.method(SLEEP_METHOD, held.handler, { maxAttempts: 3 });
    rival = await createLongrun({ databasePath, leaseMs: LEASE_MS, pollMs: 10, logger: silentLogger });
    rival.method(SLEEP_METHOD, rivalRuns.handler, { maxAttempts: 3 });
    witness = new Database(databasePath, { readonly: true, fileMustExist: true });
  });
  after(async () => {
    witness?.close();
    await Promise.all([holder?.close(100), rival?.close(100)]);
    dir.remove();
  });

  it(`keeps a lease of ${LEASE_MS} ms for ${LEASES_HELD} lease lengths by renewing it, and no other runner takes the work`, async () => {
    const op = await holder.create(SLEEP_METHOD, {});
    holder.start();
    const run = await held.next();
    rival.start(); // from now on a rival polls every 10 ms for claimable work
    const lease = () =>
      witness.prepare('SELECT lease_holder AS holder, lease_expires_at AS expires, attempt FROM operations WHERE name = ?').get(op.name) as {
        holder: string | null;
        expires: number;
        attempt: number;
      };
    const first = lease();
    assert.equal(first.attempt, 1);
    assert.ok(first.holder);

    // The expiry moves forward as the heartbeats land; each one extends it from its own time.
    const expiries = new Set<number>([first.expires]);
    const heldUntil = first.expires + LEASES_HELD * LEASE_MS;
    await eventually(
      () => {
        const now = lease();
        assert.equal(now.holder, first.holder, 'the lease never changed hands');
        assert.equal(now.attempt, 1, 'no rerun');
        expiries.add(now.expires);
        return now.expires >= heldUntil;
      },
      `the lease to be renewed past ${LEASES_HELD} lease lengths`,
      LEASES_HELD * LEASE_MS * 10,
    );
    // Renewed well before each expiry (every third of the lease): several distinct expiries seen.
    assert.ok(expiries.size >= LEASES_HELD, `the expiry moved ${expiries.size - 1} times: ${[...expiries].join(', ')}`);
    assert.ok(Date.now() > first.expires + LEASE_MS, 'the handler outlived its first lease by a whole lease');
    assert.equal(rivalRuns.started, 0, 'the rival never ran it');
    assert.equal(run.context.signal.aborted, false, 'the handler was not aborted');

    run.finish({ steps: 1 });
    const done = await holder.wait(op.name, 10_000);
    assert.equal(done.done, true);
    assert.equal(done.error, undefined, 'its outcome was written, not fenced');
    assert.equal(lease().attempt, 1);
    assert.equal(rivalRuns.started, 0);
  });
});
