/**
 * Crash test: real `longrun serve` processes on one SQLite file, killed with SIGKILL at random
 * moments while a client creates Sleep operations at a steady rate and the runner works them.
 *
 * What the store records is the witness. A read-only connection of this process watches the file
 * throughout: once an operation is done, its outcome (response or error, done_time, attempt) must
 * never change again (no second completion, no overwrite by a fenced-out runner), and the attempt
 * inside a Sleep response must equal the row's attempt (the response was written by the lease
 * holder of that attempt, not by an older one).
 *
 * Each kill is aimed at work in progress: the test waits until the server holds a lease, then kills
 * at a random moment, noting which operations were running (leased, attempt n); such an operation
 * must later have run again (attempt > n) or aborted. The randomness is seeded: the seed is printed,
 * and LONGRUN_CRASH_SEED=N replays a run's choices (the kill moments, the operations' lengths).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { BUNDLED_PROTO_FILES, Code } from '../../src/index.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { spawnServer, type ServerProcess } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { seededRandom } from '../helpers/random.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const SLEEP_RESPONSE = 'type.googleapis.com/longrun.testing.v1.SleepResponse';
// Six kills keep `npm test` short; LONGRUN_CRASHES=50 runs a longer crash loop (the seed still replays it).
const CRASHES = Number(process.env.LONGRUN_CRASHES ?? 6);
const MAX_ATTEMPTS = 2;
const SERVER_ARGS = ['--enable-sleeper', '--lease', '1s', '--poll', '100ms', '--max-attempts', String(MAX_ATTEMPTS)];
const CREATE_EVERY_MS = 20;
const registry = new TypeRegistry(BUNDLED_PROTO_FILES);

interface DoneRow {
  name: string;
  attempt: number;
  max_attempts: number;
  error_code: number | null;
  response_type: string | null;
  response_value: Buffer | null;
  done_time: number;
}

/** Remembers the first outcome seen for every finished operation and fails if it ever changes. */
class Witness {
  private readonly db: Database.Database;
  private readonly seen = new Map<string, string>();
  private readonly selectDone;
  readonly violations: string[] = [];

  constructor(path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
    this.selectDone = this.db.prepare(
      'SELECT name, attempt, max_attempts, error_code, response_type, response_value, done_time FROM operations WHERE done = 1',
    );
  }

  check(): DoneRow[] {
    const rows = this.selectDone.all() as DoneRow[];
    for (const row of rows) {
      const outcome = JSON.stringify([row.attempt, row.error_code, row.response_type, row.response_value?.toString('hex'), row.done_time]);
      const first = this.seen.get(row.name);
      if (first === undefined) {
        this.seen.set(row.name, outcome);
        if (row.response_type !== null) {
          const response = registry.unpack<{ attempt: number }>({ typeUrl: row.response_type, value: row.response_value! });
          if (row.response_type !== SLEEP_RESPONSE || response.attempt !== row.attempt) {
            this.violations.push(`${row.name}: response of attempt ${response.attempt} stored on attempt ${row.attempt}`);
          }
        }
      } else if (first !== outcome) {
        this.violations.push(`${row.name}: outcome changed after done: ${first} -> ${outcome}`);
      }
    }
    return rows;
  }

  /** Operations a runner holds a lease on now, with their attempt. */
  running(): Map<string, number> {
    const rows = this.db.prepare('SELECT name, attempt FROM operations WHERE done = 0 AND lease_holder IS NOT NULL').all() as { name: string; attempt: number }[];
    return new Map(rows.map((row) => [row.name, row.attempt]));
  }

  names(): Set<string> {
    return new Set((this.db.prepare('SELECT name FROM operations').pluck().all() as string[]));
  }

  close(): void {
    this.db.close();
  }
}

describe('crashes (SIGKILL at random moments)', { timeout: 60_000 + CRASHES * 15_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it(`loses no acknowledged creation and completes every operation exactly once across ${CRASHES} kills`, async (t) => {
    assert.ok(Number.isSafeInteger(CRASHES) && CRASHES >= 2, `LONGRUN_CRASHES is a whole number of at least 2: ${process.env.LONGRUN_CRASHES}`);
    const seed = Number(process.env.LONGRUN_CRASH_SEED ?? Date.now() % 1_000_000);
    assert.ok(Number.isSafeInteger(seed), `LONGRUN_CRASH_SEED is a whole number: ${process.env.LONGRUN_CRASH_SEED}`);
    const rand = seededRandom(seed);
    t.diagnostic(`seed ${seed} (LONGRUN_CRASH_SEED=${seed} replays it)`);
    /** Per kill, the operations that were running when it came, with their attempt then. */
    const runningAtKill: Map<string, number>[] = [];
    const db = dir.file('crash.db');
    const acknowledged = new Set<string>();
    let witness: Witness | undefined;
    let stopWatching = false;
    let watching: Promise<void> = Promise.resolve();

    for (let crash = 0; crash < CRASHES; crash++) {
      const server = await spawnServer(db, SERVER_ARGS);
      if (witness === undefined) {
        witness = new Witness(db);
        const w = witness;
        watching = (async () => {
          while (!stopWatching) {
            w.check();
            await sleep(25);
          }
        })();
      }
      const caller = new GenericCaller(server.address);
      // A client at a steady rate; a creation counts only once the server acknowledged it.
      let creating = true;
      const calls: Promise<void>[] = [];
      const producer = (async () => {
        while (creating) {
          // Mostly short; some outlive the time between kills, so they run out of attempts.
          const ms = rand() < 0.15 ? 1500 + Math.floor(rand() * 1500) : Math.floor(rand() * 400);
          const request = { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps: 1 + Math.floor(rand() * 4) };
          calls.push(
            caller.call<{ name: string }>(SLEEP, request).then(
              ({ name }) => void acknowledged.add(name),
              () => undefined, // cut by the kill: not acknowledged, may or may not exist
            ),
          );
          await sleep(CREATE_EVERY_MS);
        }
      })();
      // Aim at work in progress: once the server holds a lease, a random moment later.
      await eventually(() => witness!.running().size > 0, `the server to run an operation before kill ${crash + 1}`, 30_000);
      await sleep(300 + rand() * 1700);
      runningAtKill.push(witness.running());
      assert.equal(await server.stop('SIGKILL'), 'SIGKILL');
      creating = false;
      await producer;
      await Promise.all(calls);
      caller.close();
      const stored = witness.names();
      const missing = [...acknowledged].filter((name) => !stored.has(name));
      assert.deepEqual(missing, [], `after kill ${crash + 1}, acknowledged creations are in the database`);
    }

    // A last server finishes everything: reruns after the 1 s lease, or ABORTED after MAX_ATTEMPTS.
    const last: ServerProcess = await spawnServer(db, SERVER_ARGS);
    const caller = new GenericCaller(last.address);
    try {
      let rows: DoneRow[] = [];
      for (let i = 0; i < 300; i++) {
        rows = witness!.check();
        if ([...acknowledged].every((name) => rows.some((row) => row.name === name)) && rows.length === witness!.names().size) break;
        await sleep(100);
      }
      stopWatching = true;
      await watching;
      const byName = new Map(rows.map((row) => [row.name, row]));
      const notDone = [...witness!.names()].filter((name) => !byName.has(name));
      assert.deepEqual(notDone, [], 'every operation became done');

      // The same answers over the API, from the restarted server.
      for (const name of acknowledged) {
        const operation = await caller.call<{ name: string; done: boolean }>('/google.longrunning.Operations/GetOperation', { name });
        assert.equal(operation.done, true, name);
      }

      let completed = 0;
      let rerun = 0;
      let aborted = 0;
      for (const row of rows) {
        if (row.response_type !== null) {
          completed++;
          if (row.attempt > 1) rerun++;
        } else {
          assert.equal(row.error_code, Code.ABORTED, `${row.name} failed only by running out of attempts`);
          assert.equal(row.attempt, row.max_attempts, `${row.name} aborted after its last attempt`);
          aborted++;
        }
      }
      assert.deepEqual(witness!.violations, [], 'no operation completed twice or overwritten');
      // A kill that came while an operation ran interrupted it: it ran again, or ran out of attempts.
      const interrupted = runningAtKill.map((running) =>
        [...running].filter(([name, attempt]) => {
          const row = byName.get(name)!;
          return row.attempt > attempt || (row.error_code === Code.ABORTED && row.attempt === attempt);
        }),
      );
      t.diagnostic(`operations running at each kill: ${runningAtKill.map((running) => running.size).join(', ')}; interrupted: ${interrupted.map((each) => each.length).join(', ')}`);
      // The row read and the SIGKILL are a few ms apart, so a short operation may just finish in
      // between; most kills must still have cut work off.
      const hits = interrupted.filter((each) => each.length > 0).length;
      assert.ok(hits >= CRASHES / 2, `at least ${CRASHES / 2} of ${CRASHES} kills interrupted a running operation (${hits} did; seed ${seed})`);
      const lost = [...acknowledged].filter((name) => !byName.has(name)).length;
      t.diagnostic(
        `acknowledged ${acknowledged.size}, found ${acknowledged.size - lost} (of ${rows.length} stored), ` +
          `completed ${completed}, rerun ${rerun}, aborted ${aborted}, lost ${lost}`,
      );
      assert.equal(lost, 0);
      assert.ok(acknowledged.size >= CRASHES * 5, 'the client kept creating');
    } finally {
      stopWatching = true;
      await watching;
      caller.close();
      witness?.close();
      await last.stop();
    }
  });
});
