import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { parseFilter } from '../../src/domain/filter.js';
import { listStatement } from '../../src/store/sql/list.js';
import { SQLITE_DIALECT } from '../../src/store/sql/dialect.js';
import { migrations } from '../../src/store/sqlite/migrations/index.js';
import { prepareStatements } from '../../src/store/sqlite/statements.js';
import { SqliteOperationStore } from '../../src/store/sqlite/store.js';
import { openConnection } from '../../src/store/sqlite/connection.js';
import type { ListQuery, NewOperation } from '../../src/store/types.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2030-01-01T00:00:00Z');

function newOp(name: string, extra: Partial<NewOperation> = {}): NewOperation {
  return {
    name,
    parent: '',
    method: '/longrun.testing.v1.Sleeper/Sleep',
    owner: 'default',
    request: { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepRequest', value: new Uint8Array([8, 1]) },
    maxAttempts: 3,
    createTime: T0,
    ...extra,
  };
}

describe('SqliteOperationStore', { timeout: 180_000 }, () => {
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  let store: SqliteOperationStore;
  const open = () => new SqliteOperationStore({ path, retentionMs: HOUR, keyedRetentionMs: DAY });

  beforeEach(() => {
    dir = tempDir();
    path = dir.file('store.db');
    store = open();
  });
  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('uses WAL, the chosen synchronous mode and the latest schema', async () => {
    await store.close();
    store = new SqliteOperationStore({ path, retentionMs: HOUR, keyedRetentionMs: DAY, synchronous: 'FULL' });
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations'").all() as { name: string }[]).map((r) => r.name);
    for (const index of ['operations_list', 'operations_list_done', 'operations_list_all', 'operations_list_all_done', 'operations_claim', 'operations_lease', 'operations_expiry', 'operations_idempotency', 'operations_fair', 'operations_running_key', 'operations_start_deadline', 'operations_scheduled', 'operations_keyed']) {
      assert.ok(indexes.includes(index), `index ${index} exists`);
    }
    db.close();
  });

  it('opens connections that keep statement journals in memory, with the chosen synchronous mode', async () => {
    // Spilled to a temporary file, a batch's statement journal cost a write(2) per page (connection.ts).
    const connection = openConnection({ path, synchronous: 'FULL', checkpointIntervalMs: 0 });
    try {
      assert.equal(connection.db.pragma('temp_store', { simple: true }), 2, 'temp_store = MEMORY');
      assert.equal(connection.db.pragma('synchronous', { simple: true }), 2, 'synchronous = FULL');
    } finally {
      await connection.close();
    }
  });

  it('upgrades a database of an older schema in place, keeping its operations', async () => {
    await store.create(newOp('operations/kept'));
    await store.close();
    // Back to schema 1, as a database made before migration 2 would be.
    const old = new Database(path);
    old.exec(`DROP INDEX operations_keyed; DROP INDEX operations_claim; DROP INDEX operations_scheduled; DROP INDEX operations_fair; DROP INDEX operations_running_key; DROP INDEX operations_start_deadline;
      ${['run_after', 'priority', 'fair_seq', 'concurrency_key', 'running_key', 'timeout_ms', 'start_deadline', 'last_error_code', 'last_error_message', 'answer_style', 'rerun_of']
        .map((column) => `ALTER TABLE operations DROP COLUMN ${column};`)
        .join(' ')}
      CREATE INDEX operations_claim ON operations (method, create_time) WHERE done = 0;
      DROP TRIGGER operations_deliveries; ALTER TABLE operations DROP COLUMN trace_context; DROP TABLE deliveries; DROP TABLE callback_gone; ALTER TABLE operations DROP COLUMN callbacks;
      DROP INDEX operations_list_all; DROP INDEX operations_list_all_done; DROP TABLE changes; PRAGMA user_version = 1;`);
    old.close();
    store = open();
    assert.deepEqual((await store.list({ parent: '', limit: 10, now: T0 })).map((o) => o.name), ['operations/kept']);
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), migrations.at(-1)!.version);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('operations_list_all', 'operations_list_all_done')").pluck().get(), 2);
    assert.equal(db.prepare("SELECT count(*) FROM sqlite_master WHERE name IN ('deliveries', 'callback_gone', 'operations_deliveries')").pluck().get(), 3);
    db.close();
  });

  it('serves repeated reads fresh after a write by this store, and by another process on the file once the feed looks', async () => {
    await store.create(newOp('operations/a'));
    assert.equal((await store.get('operations/a', T0))?.cancelRequested, false);
    assert.equal((await store.get('operations/a', T0))?.cancelRequested, false); // from the recent reads
    await store.requestCancel('operations/a', T0, { code: Code.CANCELLED, message: 'x', details: [] });
    assert.equal((await store.get('operations/a', T0))?.done, true, 'own write is seen');

    await store.create(newOp('operations/b'));
    assert.equal((await store.get('operations/b', T0))?.done, false);
    const other = new Database(path);
    other.prepare('UPDATE operations SET progress_percent = 42 WHERE name = ?').run('operations/b');
    other.prepare('DELETE FROM operations WHERE name = ?').run('operations/a');
    other.close();
    assert.equal((await store.get('operations/b', T0))?.progressPercent, 42, "another connection's write is seen");
    // A done operation is served from the cache until the feed's next look (every 25 ms) sees the
    // foreign commit, as the store contract allows (../../src/store/types.ts, get).
    await eventually(async () => (await store.get('operations/a', T0)) === undefined, "another connection's deletion is seen");
    await store.create(newOp('operations/c'));
    const c = await store.get('operations/c', T0);
    assert.equal(c?.done, false);
    assert.equal(c?.expireTime, undefined);
  });

  it('keeps everything across a close and reopen, including the page-token key', async () => {
    await store.create(newOp('operations/a'));
    await store.create(newOp('operations/b', { idempotencyKey: 'k', requestFingerprint: 'f' }));
    const key = await store.signingKey();
    await store.close();
    store = open();
    assert.deepEqual((await store.list({ owner: 'default', parent: '', limit: 10, now: T0 })).map((o) => o.name), ['operations/b', 'operations/a']);
    assert.deepEqual(await store.signingKey(), key);
    const again = await store.create(newOp('operations/c', { idempotencyKey: 'k', requestFingerprint: 'f' }));
    assert.deepEqual([again.created, again.operation.name], [false, 'operations/b']);
  });

  it('counts operations by state, leaving out expired ones, without scanning the table', async () => {
    // Claimed oldest first: r, p1, d. p1's lease then expires (claimable again: pending); r's is renewed.
    const order = ['operations/r', 'operations/p1', 'operations/d', 'operations/p2', 'operations/old'];
    for (const [i, name] of order.entries()) await store.create(newOp(name, { createTime: T0 - 10 + i }));
    const claimed = await store.claim({ holder: 'h', method: newOp('x').method, limit: 3, leaseMs: 1000, now: T0 });
    assert.deepEqual(claimed.map((op) => op.name), order.slice(0, 3));
    await store.heartbeat([{ name: 'operations/r', holder: 'h', attempt: 1 }], 10 * HOUR, T0);
    await store.requestCancel('operations/d', T0 + 5000, { code: Code.CANCELLED, message: 'x', details: [] });
    await store.requestCancel('operations/old', T0 - HOUR, { code: Code.CANCELLED, message: 'x', details: [] });
    const counts = await store.countByState(T0 + 5000);
    assert.deepEqual(counts, { pending: 2, running: 1, done: 1 }, 'the operation done an hour ago has expired');
  });

  it("leaves a finished operation's fair-share entry alone, and places a principal's next one from its last", async () => {
    // b queues three (positions 0, 1, 2); a's first takes position 0 too, and runs first (created first).
    await store.create(newOp('operations/a1', { owner: 'a', createTime: T0 }));
    for (const [i, name] of ['operations/b1', 'operations/b2', 'operations/b3'].entries()) await store.create(newOp(name, { owner: 'b', createTime: T0 + 1 + i }));
    const [first] = await store.claim({ holder: 'h', method: newOp('x').method, limit: 1, leaseMs: 1000, now: T0 });
    assert.equal(first?.name, 'operations/a1');
    assert.deepEqual(await store.complete([{ lease: { name: 'operations/a1', holder: 'h', attempt: 1 }, outcome: { response: { typeUrl: 'type.googleapis.com/google.protobuf.Empty', value: new Uint8Array() } } }], T0), [true]);
    await store.create(newOp('operations/a2', { owner: 'a', createTime: T0 + 10 }));
    await store.create(newOp('operations/a3', { owner: 'a', createTime: T0 + 11 }));
    const db = new Database(path, { readonly: true });
    try {
      const positions = Object.fromEntries(db.prepare('SELECT name, fair_seq FROM operations').all().map((row) => [(row as { name: string }).name, (row as { fair_seq: number }).fair_seq]));
      // a's last (a1) finished: a2 takes the head (b1's position), a3 follows a2; b's backlog keeps its places.
      assert.deepEqual(positions, { 'operations/a1': 0, 'operations/b1': 0, 'operations/b2': 1, 'operations/b3': 2, 'operations/a2': 0, 'operations/a3': 1 });
      const entries = db.prepare("SELECT count(*) FROM operations INDEXED BY operations_fair WHERE owner = 'a' AND method = ? AND priority = 0").pluck().get(newOp('x').method);
      assert.equal(entries, 3, "the finished operation's entry stays (a completion does not touch the index)");
    } finally {
      db.close();
    }
    const order = (await store.claim({ holder: 'h', method: newOp('x').method, limit: 10, leaseMs: 1000, now: T0 + 20 })).map((op) => op.name);
    assert.deepEqual(order, ['operations/b1', 'operations/a2', 'operations/b2', 'operations/a3', 'operations/b3'], 'the two principals take turns');
  });

  // The plans of the SQL the store itself prepares and runs (prepareStatements, listStatement), not of copies.
  it('runs each of its statements through an index, never scanning the table or sorting', () => {
    const db = new Database(path);
    try {
      const statements: Record<string, string> = Object.fromEntries(Object.entries(prepareStatements(db)).map(([name, statement]) => [name, statement.source]));
      for (const [name, sql] of Object.entries(statements)) {
        // A claim sorts its candidates (a few times `limit` rows from each of its two indexes, taken
        // in index order) to keep one per concurrency key, and sorts what is left back into claim order.
        // One allowing more per key also groups those candidates by key and sorts the few slots it
        // tries (looked up below): every sort is of rows already read, none of a table.
        const plan =
          name === 'claim'
            ? planOf(db, sql).replace(/SCAN (\(subquery-\d+\)|ranked); USE TEMP B-TREE FOR ORDER BY/g, 'SCAN $1')
            : name === 'claimSlots'
              ? planOf(db, sql).replace(/; USE TEMP B-TREE FOR (ORDER|GROUP) BY/g, '')
              : name === 'claimKeyless'
                ? planOf(db, sql).replace(/SCAN c; USE TEMP B-TREE FOR ORDER BY/, 'SCAN c')
                : planOf(db, sql);
        assert.doesNotMatch(plan, /TEMP B-TREE/, `${name}: ${plan}`);
        // The only scans allowed are of the claim indexes, partial indexes of the unfinished rows only (counting them).
        assert.doesNotMatch(plan.replace(/SCAN operations USING INDEX operations_(claim|scheduled)/g, ''), /SCAN operations/, `${name}: ${plan}`);
      }
      assert.match(planOf(db, statements['get']!), /SEARCH operations USING INDEX sqlite_autoindex_operations_1 \(name=\?\)/);
      assert.match(planOf(db, statements['countDone']!), /SEARCH operations USING COVERING INDEX operations_expiry/, 'done rows are counted in the index alone');
      assert.match(planOf(db, statements['sweep']!), /SEARCH operations USING INDEX operations_expiry \(expire_time/);
      for (const claim of ['claim', 'claimSlots', 'claimKeyless']) {
        // Claims walk the claim index in (priority, fair_seq, create_time) order and look a key's slots up
        // in the unique index: slot 0 by one seek, and (allowing more than one) the others by a range.
        const plan = planOf(db, statements[claim]!);
        const key = claim !== 'claimSlots' ? /SEARCH r USING (COVERING )?INDEX operations_running_key \(running_key=\?\)/
          : /SEARCH r USING (COVERING )?INDEX operations_running_key \(running_key=\?\).*SEARCH r USING (COVERING )?INDEX operations_running_key \(running_key>\? AND running_key<\?\)/;
        assert.match(plan, new RegExp(`SEARCH o USING INDEX operations_claim \\(method=\\?\\).*${key.source}`), claim);
        // Operations with a start or retry time are sought by that time up to now, never walked past while it is to come.
        assert.match(plan, new RegExp(`SEARCH o USING INDEX operations_scheduled \\(method=\\? AND run_after>\\? AND run_after<\\?\\).*${key.source}`), claim);
      }
      // Choosing slots: a key's held slots counted in its range, each slot tried by one seek.
      const slots = planOf(db, statements['claimSlots']!);
      assert.match(slots, /SEARCH h USING COVERING INDEX operations_running_key \(running_key>\? AND running_key<\?\).*SEARCH h USING COVERING INDEX operations_running_key \(running_key=\?\)/, slots);
      assert.match(planOf(db, statements['queuePlace']!), /SEARCH r USING INDEX operations_running_key \(running_key>\? AND running_key<\?\)/);
      const claimIndexes = db.prepare("SELECT name, sql FROM sqlite_master WHERE name IN ('operations_claim', 'operations_scheduled') ORDER BY name").all() as { name: string; sql: string }[];
      assert.match(claimIndexes[0]!.sql, /WHERE done = 0 AND run_after = 0$/, 'the claim-order index holds no operation whose time is to come');
      assert.match(claimIndexes[1]!.sql, /\(method, run_after\) WHERE done = 0 AND run_after > 0$/);
      for (const insert of ['insert', 'insertPlain']) {
        // The principal's last row, by one seek (the fair-share index holds finished rows too), and the queue's head.
        assert.match(planOf(db, statements[insert]!), /SEARCH f USING INDEX operations_fair \(owner=\? AND method=\? AND priority=\?\)/, insert);
        assert.match(planOf(db, statements[insert]!), /SEARCH h USING (COVERING )?INDEX operations_claim \(method=\? AND priority=\?\)/, insert);
      }
      // A keyless claim (no unfinished keyed row of the method) sorts once, what it read, into claim order.
      assert.doesNotMatch(statements['claimKeyless']!, /row_number|running_key = chosen/);
      // Whether a claim reads past its limit: one seek of an index of keyed unfinished rows only.
      assert.match(planOf(db, statements['anyKeyed']!), /SEARCH k USING (COVERING )?INDEX operations_keyed \(method=\?\)/);
      assert.match(planOf(db, statements['pastStartDeadline']!), /SEARCH s USING INDEX operations_start_deadline \(start_deadline>\? AND start_deadline<\?\)/);
    } finally {
      db.close();
    }
  });

  it('lists through the index meant for each kind of list, without sorting', () => {
    const mine = { owner: 'o', parent: '', limit: 10, now: T0 };
    const everyOwner = { parent: '', limit: 10, now: T0 };
    const cases: [string, ListQuery, RegExp][] = [
      ['one owner', mine, /USING INDEX operations_list \(owner=\? AND parent=\?\)/],
      ['one owner, done = false', { ...mine, filter: parseFilter('done = false') }, /USING INDEX operations_list_done \(owner=\? AND parent=\? AND done=\?\)/],
      ['one owner, next page', { ...mine, after: { createTime: T0, name: 'operations/x' } }, /USING INDEX operations_list \(owner=\? AND parent=\? AND create_time<\?\)/],
      // An admin's list (every owner; also every call of a server without authentication).
      ['every owner', everyOwner, /USING INDEX operations_list_all \(parent=\?\)/],
      ['every owner, done = false', { ...everyOwner, filter: parseFilter('done = false') }, /USING INDEX operations_list_all_done \(parent=\? AND done=\?\)/],
      ['every owner, next page', { ...everyOwner, after: { createTime: T0, name: 'operations/x' } }, /USING INDEX operations_list_all \(parent=\? AND create_time<\?\)/],
      ['every owner, name wildcard', { ...everyOwner, filter: parseFilter('name = "operations/a*"') }, /USING INDEX operations_list_all \(parent=\?\)/],
      ['every owner, time range', { ...everyOwner, filter: parseFilter('create_time > 2026-01-01T00:00:00Z') }, /USING INDEX operations_list_all \(parent=\? AND create_time>\?\)/],
    ];
    const db = new Database(path);
    try {
      for (const [title, query, index] of cases) {
        const { sql, params } = listStatement(query, SQLITE_DIALECT);
        const plan = planOf(db, sql, params);
        assert.match(plan, index, `${title}: ${plan}`);
        assert.doesNotMatch(plan, /TEMP B-TREE/, `${title}: ${plan}`);
      }
    } finally {
      db.close();
    }
  });

  // SQLite (3.53) plans with the value of a parameter that is a LIMIT by itself: binding one expires
  // the statement, and every run prepares it again (about 300 µs a claim; `npm run bench -- policies`).
  it('gives no statement a bare parameter as its LIMIT, so each is planned once', () => {
    const db = new Database(path);
    try {
      const sources = [
        ...Object.entries(prepareStatements(db)).map(([name, statement]) => [name, statement.source] as const),
        ['list', listStatement({ owner: 'o', parent: '', limit: 10, now: T0, filter: parseFilter('done = false') }, SQLITE_DIALECT).sql] as const,
      ];
      for (const [name, sql] of sources) assert.doesNotMatch(sql, /LIMIT\s+[@?$:]/i, name);
      assert.match(sources.find(([name]) => name === 'claim')![1], /LIMIT CAST\(@scan AS INTEGER\)/);
    } finally {
      db.close();
    }
  });

  it('refuses an idempotency key reused with another request fingerprint', async () => {
    await store.create(newOp('operations/a', { idempotencyKey: 'k', requestFingerprint: 'f1' }));
    await assert.rejects(store.create(newOp('operations/b', { idempotencyKey: 'k', requestFingerprint: 'f2' })), (error: unknown) => {
      assert.ok(error instanceof LongrunError);
      assert.deepEqual([error.code, error.reason], [Code.INVALID_ARGUMENT, 'IDEMPOTENCY_KEY_REUSED']);
      return true;
    });
    const other = await store.create(newOp('operations/c', { owner: 'someone-else', idempotencyKey: 'k', requestFingerprint: 'f2' }));
    assert.equal(other.created, true, 'keys are scoped per owner');
  });

  it('expires done operations after the retention, keyed ones after at least a day, and sweeps them in batches', async () => {
    const cancelled = { code: Code.CANCELLED, message: 'x', details: [] };
    for (let i = 0; i < 25; i++) {
      await store.create(newOp(`operations/plain${i}`));
      await store.requestCancel(`operations/plain${i}`, T0, cancelled);
    }
    await store.create(newOp('operations/keyed', { idempotencyKey: 'k', requestFingerprint: 'f' }));
    await store.requestCancel('operations/keyed', T0, cancelled);
    await store.create(newOp('operations/pending'));

    assert.ok(await store.get('operations/plain0', T0 + HOUR - 1));
    assert.equal(await store.get('operations/plain0', T0 + HOUR), undefined, 'expired reads as missing');
    assert.ok(await store.get('operations/keyed', T0 + HOUR), 'idempotency keys live at least 24 h');
    assert.equal(await store.get('operations/keyed', T0 + DAY), undefined);

    assert.equal(await store.sweepExpired(T0 + HOUR, 10), 10);
    assert.equal(await store.sweepExpired(T0 + HOUR, 10), 10);
    assert.equal(await store.sweepExpired(T0 + HOUR, 10), 5);
    assert.equal(await store.sweepExpired(T0 + HOUR, 10), 0);
    assert.equal(await store.sweepExpired(T0 + DAY, 10), 1);
    assert.ok(await store.get('operations/pending', T0 + 365 * DAY), 'unfinished operations never expire');
  });

  it('never leaves a done operation with both or neither of response and error', async () => {
    await store.create(newOp('operations/a'));
    const db = new Database(path);
    assert.throws(() => db.prepare("UPDATE operations SET done = 1 WHERE name = 'operations/a'").run(), /CHECK constraint/);
    assert.throws(() => db.prepare("UPDATE operations SET error_code = 0 WHERE name = 'operations/a'").run(), /CHECK constraint/);
    db.close();
  });

  it('turns an unwritable database into UNAVAILABLE for writes while reads keep working', async () => {
    await store.create(newOp('operations/a'));
    const busy = new SqliteOperationStore({ path, retentionMs: HOUR, keyedRetentionMs: DAY, busyTimeoutMs: 0 });
    // Make writes fail the way a full or read-only disk does: another connection holds the write lock.
    const blocker = new Database(path, { timeout: 0 });
    blocker.prepare('BEGIN IMMEDIATE').run();
    await assert.rejects(busy.create(newOp('operations/b')), (error: unknown) => {
      assert.ok(error instanceof LongrunError);
      assert.equal(error.code, Code.UNAVAILABLE);
      return true;
    });
    assert.ok(await busy.get('operations/a', T0));
    blocker.prepare('ROLLBACK').run();
    blocker.close();
    assert.equal((await busy.create(newOp('operations/b'))).created, true, 'recovers by itself');
    await busy.close();
  });
});

/** SQLite's plan for `sql`; without `params`, each named parameter is bound to 0 (plans do not depend on values here). */
function planOf(db: Database.Database, sql: string, params?: unknown[]): string {
  const bound = params ?? [Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((match) => [match[1], 0]))];
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...bound) as { detail: string }[]).map((row) => row.detail).join('; ');
}
