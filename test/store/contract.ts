/**
 * The store contract (src/store/types.ts), one suite for every backend: each backend's test file
 * calls `storeContract` with a way to open two connections (two store instances, as two processes
 * would have) to one fresh database per test.
 *
 * Times are real (`Date.now()`), so backends that decide leases by the database's clock agree with
 * the test; lease expiry is waited out in real time with short leases.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Code, LongrunError } from '../../src/domain/errors.js';
import type { Lease, OperationError, OperationRecord } from '../../src/domain/operation.js';
import type { DeliveryRecord, NewOperation, OperationStore, StoreChange } from '../../src/store/types.js';

export interface ContractDatabase {
  /** A new store instance on this database (its own connection). */
  open(): Promise<OperationStore>;
  /** Drops the database (stores are closed by the suite first). */
  drop(): Promise<void>;
  /** Runs SQL on the database through a connection of the test's own (to break it on purpose). */
  exec(sql: string): Promise<void>;
}

export interface ContractBackend {
  name: string;
  /** A fresh, migrated database for one test. */
  fresh(): Promise<ContractDatabase>;
  /** Leases are decided by the database's clock, not the caller's `now`. */
  databaseClock: boolean;
}

const METHOD = '/longrun.testing.v1.Sleeper/Sleep';
const HOUR = 3_600_000;
const CANCELLED: OperationError = { code: Code.CANCELLED, message: 'cancelled', details: [] };
const RESPONSE = { response: { typeUrl: 'type.googleapis.com/google.protobuf.Empty', value: new Uint8Array() } };
/** Short enough to wait out, long enough that a live lease stays live through a few statements. */
const SHORT_LEASE_MS = 150;

function newOp(extra: Partial<NewOperation> = {}): NewOperation {
  return {
    name: `operations/${randomBytes(6).toString('hex')}`,
    parent: '',
    method: METHOD,
    owner: 'default',
    request: { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepRequest', value: new Uint8Array([8, 1]) },
    maxAttempts: 3,
    createTime: Date.now(),
    ...extra,
  };
}

const HOOK = 'https://hooks.example.com/a';
const OTHER_HOOK = 'https://hooks.example.com/b';

/** Resolves with the first change matching `match`, or rejects after `ms`. */
function nextChange(store: OperationStore, match: (change: StoreChange) => boolean, ms = 2000): Promise<StoreChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching change within ${ms} ms`));
    }, ms);
    const off = store.changes.subscribe((change) => {
      if (!match(change)) return;
      clearTimeout(timer);
      off();
      resolve(change);
    });
  });
}

export function storeContract(backend: ContractBackend): void {
  describe(`store contract: ${backend.name}`, { timeout: 180_000 }, () => {
    let database: ContractDatabase;
    let a: OperationStore;
    let b: OperationStore;
    const claimOne = (store: OperationStore, holder: string, leaseMs = 30_000) =>
      store.claim({ holder, method: METHOD, limit: 1, leaseMs, now: Date.now() });

    beforeEach(async () => {
      database = await backend.fresh();
      a = await database.open();
      b = await database.open();
    });
    afterEach(async () => {
      await a.close();
      await b.close();
      await database.drop();
    });

    it('creates, reads and lists newest first, never returning expired operations', async () => {
      const first = await a.create(newOp({ createTime: Date.now() - 2 }));
      const second = await a.create(newOp({ createTime: Date.now() - 1 }));
      assert.equal(first.created, true);
      const read = await b.get(first.operation.name, Date.now());
      assert.deepEqual([read?.name, read?.done, read?.attempt, read?.progressPercent], [first.operation.name, false, 0, 0]);
      assert.equal(await b.get('operations/missing', Date.now()), undefined);
      const listed = await b.list({ parent: '', limit: 10, now: Date.now() });
      assert.deepEqual(listed.map((op) => op.name), [second.operation.name, first.operation.name]);
      const page = await b.list({ parent: '', limit: 10, now: Date.now(), after: { createTime: second.operation.createTime, name: second.operation.name } });
      assert.deepEqual(page.map((op) => op.name), [first.operation.name]);
      assert.deepEqual(await b.list({ parent: '', owner: 'someone-else', limit: 10, now: Date.now() }), []);
    });

    it('gives one operation for one idempotency key, from either connection; another fingerprint is refused', async () => {
      const key = { idempotencyKey: 'k1', requestFingerprint: 'f' };
      const results = await Promise.all([a.create(newOp(key)), b.create(newOp(key)), a.create(newOp(key)), b.create(newOp(key))]);
      assert.equal(results.filter((r) => r.created).length, 1, 'exactly one creation');
      assert.equal(new Set(results.map((r) => r.operation.name)).size, 1, 'everyone gets the same operation');
      await assert.rejects(b.create(newOp({ idempotencyKey: 'k1', requestFingerprint: 'other' })), (error: unknown) => {
        assert.ok(error instanceof LongrunError);
        assert.deepEqual([error.code, error.reason], [Code.INVALID_ARGUMENT, 'IDEMPOTENCY_KEY_REUSED']);
        return true;
      });
      assert.equal((await a.create(newOp({ owner: 'other', ...key }))).created, true, 'keys are scoped per owner');
    });

    it('replaces an expired holder of an idempotency key', async () => {
      const old = await a.create(newOp({ idempotencyKey: 'k', requestFingerprint: 'f', createTime: Date.now() - 10 * 24 * HOUR }));
      assert.equal((await a.requestCancel(old.operation.name, Date.now() - 9 * 24 * HOUR, CANCELLED)).kind, 'cancelled');
      const fresh = await b.create(newOp({ idempotencyKey: 'k', requestFingerprint: 'other' }));
      assert.equal(fresh.created, true);
      assert.equal(await a.get(old.operation.name, Date.now()), undefined);
    });

    it('cancels: a pending operation ends, a running one is flagged, done and unknown ones say so', async () => {
      const pending = await a.create(newOp());
      const cancelled = await b.requestCancel(pending.operation.name, Date.now(), CANCELLED);
      assert.equal(cancelled.kind, 'cancelled');
      assert.equal((await a.get(pending.operation.name, Date.now()))?.error?.code, Code.CANCELLED);
      assert.equal((await a.requestCancel(pending.operation.name, Date.now(), CANCELLED)).kind, 'already_done');
      assert.equal((await a.requestCancel('operations/missing', Date.now(), CANCELLED)).kind, 'not_found');

      const running = await a.create(newOp());
      const [claimed] = await claimOne(a, 'runner-a');
      assert.equal(claimed?.name, running.operation.name);
      const requested = await b.requestCancel(running.operation.name, Date.now(), CANCELLED);
      assert.equal(requested.kind, 'requested');
      const beat = await a.heartbeat([{ name: claimed.name, holder: 'runner-a', attempt: 1 }], 30_000, Date.now());
      assert.deepEqual(beat, { lost: [], cancelRequested: [claimed.name] });
    });

    it('settles a cancel racing a completion one way only', async () => {
      for (let round = 0; round < 5; round++) {
        const { operation } = await a.create(newOp());
        const [claimed] = await claimOne(a, 'runner-a');
        assert.ok(claimed);
        const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: claimed.attempt };
        const [cancel, [completed]] = await Promise.all([b.requestCancel(operation.name, Date.now(), CANCELLED), a.complete([{ lease, outcome: RESPONSE }], Date.now())]);
        assert.equal(completed, true, 'a live lease completes');
        assert.ok(cancel.kind === 'requested' || cancel.kind === 'already_done', cancel.kind);
        const final = await b.get(operation.name, Date.now());
        assert.deepEqual([final?.done, final?.error], [true, undefined]);
      }
      // With the lease run out, the cancel can end the operation: then the late completion is fenced off.
      for (let round = 0; round < 3; round++) {
        const { operation } = await a.create(newOp());
        const [claimed] = await claimOne(a, 'runner-a', SHORT_LEASE_MS);
        assert.ok(claimed);
        await sleep(SHORT_LEASE_MS + 50);
        const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: claimed.attempt };
        const [cancel, [completed]] = await Promise.all([b.requestCancel(operation.name, Date.now(), CANCELLED), a.complete([{ lease, outcome: RESPONSE }], Date.now())]);
        const final = await b.get(operation.name, Date.now());
        if (cancel.kind === 'cancelled') assert.deepEqual([completed, final?.error?.code], [false, Code.CANCELLED]);
        else assert.deepEqual([cancel.kind, completed, final?.error], ['already_done', true, undefined]);
      }
    });

    it('deletes only done operations', async () => {
      const { operation } = await a.create(newOp());
      assert.equal(await b.delete(operation.name, Date.now()), 'not_done');
      await a.requestCancel(operation.name, Date.now(), CANCELLED);
      const [first, second] = await Promise.all([a.delete(operation.name, Date.now()), b.delete(operation.name, Date.now())]);
      assert.deepEqual([first, second].sort(), ['deleted', 'not_found']);
      assert.equal(await a.get(operation.name, Date.now()), undefined);
    });

    it('never gives one operation to two claimers, and claims oldest first', async () => {
      const names: string[] = [];
      for (let i = 0; i < 6; i++) names.push((await a.create(newOp({ createTime: Date.now() - 100 + i }))).operation.name);
      const [fromA, fromB] = await Promise.all([
        a.claim({ holder: 'runner-a', method: METHOD, limit: 4, leaseMs: 30_000, now: Date.now() }),
        b.claim({ holder: 'runner-b', method: METHOD, limit: 4, leaseMs: 30_000, now: Date.now() }),
      ]);
      // A PostgreSQL claim locks every candidate it reads until it commits (FOR UPDATE SKIP LOCKED), so
      // a claimer racing it may find none free: what the race left is taken after it.
      const rest = await b.claim({ holder: 'runner-b', method: METHOD, limit: 4, leaseMs: 30_000, now: Date.now() });
      const all = [...fromA, ...fromB, ...rest].map((op) => op.name);
      assert.equal(all.length, 6);
      assert.equal(new Set(all).size, 6, 'no operation claimed twice');
      assert.ok(fromA.every((op) => op.request !== undefined && op.attempt === 1 && op.leaseHolder === 'runner-a'));
      const single = await a.create(newOp());
      const racing = await Promise.all([claimOne(a, 'runner-a'), claimOne(b, 'runner-b'), claimOne(a, 'runner-c'), claimOne(b, 'runner-d')]);
      assert.deepEqual(racing.flat().map((op) => op.name), [single.operation.name]);
      assert.deepEqual(await claimOne(b, 'runner-b'), [], 'nothing left');
      assert.deepEqual(await a.claim({ holder: 'x', method: METHOD, limit: 0, leaseMs: 1000, now: Date.now() }), []);
    });

    it('fences every write of a runner whose lease was taken over', async () => {
      const { operation } = await a.create(newOp());
      const [first] = await claimOne(a, 'runner-a', SHORT_LEASE_MS);
      assert.equal(first?.attempt, 1);
      await sleep(SHORT_LEASE_MS + 50);
      const [takeover] = await claimOne(b, 'runner-b');
      assert.equal(takeover?.attempt, 2);
      const old: Lease = { name: operation.name, holder: 'runner-a', attempt: 1 };
      const current: Lease = { name: operation.name, holder: 'runner-b', attempt: 2 };
      assert.equal(await a.saveProgress(old, { progressPercent: 50 }, Date.now()), false);
      assert.deepEqual(await a.heartbeat([old], 30_000, Date.now()), { lost: [operation.name], cancelRequested: [] });
      assert.deepEqual(await a.complete([{ lease: old, outcome: RESPONSE }], Date.now()), [false]);
      await a.release([old], Date.now());
      assert.equal(await b.saveProgress(current, { progressPercent: 40 }, Date.now()), true);
      assert.equal((await a.get(operation.name, Date.now()))?.progressPercent, 40);
      assert.deepEqual(await b.complete([{ lease: current, outcome: RESPONSE }], Date.now()), [true]);
      const done = await a.get(operation.name, Date.now());
      assert.deepEqual([done?.done, done?.attempt, done?.progressPercent], [true, 2, 100]);
    });

    it('gives a released lease back without counting the attempt', async () => {
      const { operation } = await a.create(newOp());
      const [claimed] = await claimOne(a, 'runner-a');
      await a.release([{ name: operation.name, holder: 'runner-a', attempt: claimed!.attempt }], Date.now());
      const [again] = await claimOne(b, 'runner-b');
      assert.deepEqual([again?.name, again?.attempt], [operation.name, 1]);
    });

    it('aborts lease-expired operations with no attempts left, once, and leaves live ones alone', async () => {
      const { operation } = await a.create(newOp({ maxAttempts: 1 }));
      const live = await a.create(newOp({ maxAttempts: 1 }));
      await a.claim({ holder: 'runner-a', method: METHOD, limit: 1, leaseMs: SHORT_LEASE_MS, now: Date.now() });
      await b.claim({ holder: 'runner-b', method: METHOD, limit: 1, leaseMs: 60_000, now: Date.now() });
      await sleep(SHORT_LEASE_MS + 50);
      const abort = (store: OperationStore) => store.abortExhausted(Date.now(), (attempts) => ({ code: Code.ABORTED, message: `after ${attempts}`, details: [] }));
      const [fromA, fromB] = await Promise.all([abort(a), abort(b)]);
      const aborted = [...fromA, ...fromB];
      assert.deepEqual(aborted.map((op) => [op.name, op.done, op.error?.code, op.error?.message]), [[operation.name, true, Code.ABORTED, 'after 1']]);
      assert.equal((await a.get(live.operation.name, Date.now()))?.done, false);
      assert.deepEqual(await claimOne(a, 'runner-c'), [], 'no attempts left to claim');
    });

    it('expires done operations after the retention and sweeps them', async () => {
      const { operation } = await a.create(newOp());
      await a.requestCancel(operation.name, Date.now() - 2 * HOUR - 10 * 24 * HOUR, CANCELLED);
      const keyed = await a.create(newOp({ idempotencyKey: 'k', requestFingerprint: 'f' }));
      await a.requestCancel(keyed.operation.name, Date.now(), CANCELLED);
      assert.equal(await b.get(operation.name, Date.now()), undefined, 'expired reads as missing');
      assert.equal(await b.delete(operation.name, Date.now()), 'not_found');
      assert.equal((await b.requestCancel(operation.name, Date.now(), CANCELLED)).kind, 'not_found');
      assert.equal(await b.sweepExpired(Date.now(), 10), 1);
      assert.equal(await a.sweepExpired(Date.now(), 10), 0);
      assert.ok(await b.get(keyed.operation.name, Date.now() + 2 * HOUR), 'keyed operations live at least a day');
    });

    it('counts operations by state', async () => {
      await a.create(newOp({ createTime: Date.now() - 3 }));
      await a.create(newOp({ createTime: Date.now() - 2 }));
      const done = await a.create(newOp({ createTime: Date.now() - 1 }));
      await a.requestCancel(done.operation.name, Date.now(), CANCELLED);
      await claimOne(b, 'runner-b');
      assert.deepEqual(await b.countByState(Date.now()), { pending: 1, running: 1, done: 1 });
    });

    it('shares one page-token signing key between connections', async () => {
      const [keyA, keyB] = await Promise.all([a.signingKey(), b.signingKey()]);
      assert.equal(keyA.length, 32);
      assert.deepEqual(Buffer.from(keyA), Buffer.from(keyB));
    });

    it("tells every connection's subscribers what another committed", async () => {
      const available = nextChange(b, (change) => change.kind === 'available' && change.method === METHOD);
      const { operation } = await a.create(newOp());
      await available;
      const [claimed] = await claimOne(a, 'runner-a');
      const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: claimed!.attempt };
      const progressed = nextChange(b, (change) => change.kind === 'updated' && change.name === operation.name);
      await a.saveProgress(lease, { progressPercent: 10 }, Date.now());
      await progressed;
      assert.equal((await b.get(operation.name, Date.now()))?.progressPercent, 10, 'no stale cached read');
      const cancelRequested = nextChange(a, (change) => change.kind === 'cancel_requested' && change.name === operation.name);
      await b.requestCancel(operation.name, Date.now(), CANCELLED);
      await cancelRequested;
      const ownFinished = nextChange(a, (change) => change.kind === 'finished' && change.name === operation.name);
      const finished = nextChange(b, (change) => change.kind === 'finished' && change.name === operation.name);
      const started = performance.now();
      await a.complete([{ lease, outcome: RESPONSE }], Date.now());
      await Promise.all([ownFinished, finished]);
      assert.ok(performance.now() - started < 500, 'another connection hears of a completion quickly');
      const deleted = nextChange(a, (change) => change.kind === 'deleted' && change.name === operation.name);
      await b.delete(operation.name, Date.now());
      await deleted;
    });


    describe('the callback outbox', () => {
      const deliveriesOf = async (store: OperationStore, name: string) =>
        (await store.listDeliveries({ operation: name, limit: 10 })).sort((x, y) => x.url.localeCompare(y.url));
      const claimDeliveries = (store: OperationStore, holder: string, extra: { leaseMs?: number; skipUrls?: string[]; limit?: number; now?: number } = {}) =>
        store.claimDeliveries({ holder, limit: extra.limit ?? 10, leaseMs: extra.leaseMs ?? 30_000, now: extra.now ?? Date.now(), ...(extra.skipUrls && { skipUrls: extra.skipUrls }) });
      /** An operation with callbacks, ended by a completion. */
      const finishedWith = async (callbacks: string[], outcome: Parameters<OperationStore['complete']>[0][number]['outcome'] = RESPONSE) => {
        const { operation } = await a.create(newOp({ callbacks }));
        const [claimed] = await a.claim({ holder: 'runner', method: METHOD, limit: 1, leaseMs: 30_000, now: Date.now() });
        assert.equal(claimed?.name, operation.name);
        assert.deepEqual(await a.complete([{ lease: { name: operation.name, holder: 'runner', attempt: claimed.attempt }, outcome }], Date.now()), [true]);
        return operation.name;
      };

      it('writes one delivery per callback URL with every terminal write, carrying the operation as it ended; none without callbacks', async () => {
        const succeeded = await finishedWith([HOOK, OTHER_HOOK]);
        const failed = await finishedWith([HOOK], { error: { code: Code.NOT_FOUND, message: 'no such file', details: [] } });
        const pending = await a.create(newOp({ callbacks: [HOOK] }));
        assert.equal((await b.requestCancel(pending.operation.name, Date.now(), CANCELLED)).kind, 'cancelled');
        const exhausted = await a.create(newOp({ maxAttempts: 1, callbacks: [HOOK] }));
        await a.claim({ holder: 'runner', method: METHOD, limit: 1, leaseMs: SHORT_LEASE_MS, now: Date.now() });
        await sleep(SHORT_LEASE_MS + 50);
        assert.equal((await b.abortExhausted(Date.now(), () => ({ code: Code.ABORTED, message: 'gone', details: [] }))).length, 1);
        const plain = await finishedWith([]);

        const both = await deliveriesOf(b, succeeded);
        assert.deepEqual(both.map((d) => [d.url, d.state, d.attempts]), [[HOOK, 'pending', 0], [OTHER_HOOK, 'pending', 0]]);
        assert.notEqual(both[0]!.id, both[1]!.id);
        for (const delivery of both) {
          assert.match(delivery.id, /^msg_[0-9a-f]{32}$/);
          assert.equal(delivery.operation.name, succeeded);
          assert.equal(delivery.operation.done, true);
          assert.equal(delivery.operation.response?.typeUrl, RESPONSE.response.typeUrl);
          assert.equal(delivery.operation.progressPercent, 100);
          assert.ok(delivery.nextAttemptAt <= Date.now() && delivery.createTime === delivery.operation.doneTime);
        }
        assert.deepEqual((await deliveriesOf(b, failed)).map((d) => [d.operation.error?.code, d.operation.error?.message]), [[Code.NOT_FOUND, 'no such file']]);
        assert.equal((await deliveriesOf(b, pending.operation.name))[0]?.operation.error?.code, Code.CANCELLED);
        assert.equal((await deliveriesOf(b, exhausted.operation.name))[0]?.operation.error?.code, Code.ABORTED);
        assert.deepEqual(await deliveriesOf(b, plain), []);
        // The delivery outlives the operation.
        assert.equal(await b.delete(succeeded, Date.now()), 'deleted');
        assert.equal((await b.getDelivery(both[0]!.id))?.operation.name, succeeded);
        assert.deepEqual(await a.countDeliveries(), { pending: 5, delivered: 0, dead: 0, gone: 0 });
      });

      it('commits no outcome whose deliveries cannot be written', async () => {
        const { operation } = await a.create(newOp({ callbacks: [HOOK] }));
        const [claimed] = await claimOne(a, 'runner');
        const pending = await a.create(newOp({ callbacks: [HOOK] }));
        await database.exec(backend.databaseClock
          ? `CREATE FUNCTION longrun.refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON longrun.deliveries FOR EACH ROW EXECUTE FUNCTION longrun.refuse();`
          : `CREATE TRIGGER refuse BEFORE INSERT ON deliveries BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`);
        const lease: Lease = { name: operation.name, holder: 'runner', attempt: claimed!.attempt };
        await assert.rejects(a.complete([{ lease, outcome: RESPONSE }], Date.now()));
        await assert.rejects(b.requestCancel(pending.operation.name, Date.now(), CANCELLED));
        assert.equal((await b.get(pending.operation.name, Date.now()))?.done, false, 'the cancel was rolled back too');
        const read = await b.get(operation.name, Date.now());
        assert.equal(read?.done, false, 'the outcome was rolled back with its delivery');
        assert.deepEqual(await deliveriesOf(b, operation.name), []);
        await database.exec(backend.databaseClock ? 'DROP TRIGGER refuse ON longrun.deliveries' : 'DROP TRIGGER refuse');
        assert.deepEqual(await a.complete([{ lease, outcome: RESPONSE }], Date.now()), [true]);
        assert.equal((await deliveriesOf(b, operation.name)).length, 1);
      });

      it('gives each due delivery to one claimer, skips receivers at their cap, and fences a lease that ran out', async () => {
        const names = [await finishedWith([HOOK]), await finishedWith([HOOK]), await finishedWith([OTHER_HOOK])];
        const [fromA, fromB] = await Promise.all([claimDeliveries(a, 'a', { limit: 2 }), claimDeliveries(b, 'b', { limit: 2 })]);
        const ids = [...fromA, ...fromB].map((claimed) => claimed.delivery.id);
        assert.equal(ids.length, 3);
        assert.equal(new Set(ids).size, 3, 'no delivery claimed twice');
        assert.deepEqual(await claimDeliveries(a, 'a'), [], 'leased ones are not claimable');
        assert.deepEqual(new Set([...fromA, ...fromB].map((c) => c.delivery.operation.name)), new Set(names));

        const capped = await finishedWith([HOOK]);
        await finishedWith([OTHER_HOOK]);
        const claimed = await claimDeliveries(b, 'b', { skipUrls: [HOOK], leaseMs: SHORT_LEASE_MS });
        assert.deepEqual(claimed.map((c) => c.delivery.url), [OTHER_HOOK]);
        assert.deepEqual((await claimDeliveries(a, 'a')).map((c) => c.delivery.operation.name), [capped]);

        await sleep(SHORT_LEASE_MS + 50);
        const [takeover] = await claimDeliveries(a, 'a2');
        assert.equal(takeover?.delivery.id, claimed[0]!.delivery.id, 'a lease that ran out is claimable again');
        assert.equal(takeover!.lease.claim, claimed[0]!.lease.claim + 1);
        assert.equal(await b.finishAttempt(claimed[0]!.lease, { kind: 'delivered', status: 200 }, Date.now()), false, 'fenced');
        assert.equal((await a.getDelivery(takeover!.delivery.id))?.state, 'pending');
        assert.equal(await a.finishAttempt(takeover!.lease, { kind: 'delivered', status: 204 }, Date.now()), true);
        const delivered = await b.getDelivery(takeover!.delivery.id);
        assert.deepEqual([delivered?.state, delivered?.attempts, delivered?.lastStatus], ['delivered', 1, 204]);
        assert.ok(delivered?.deliveredTime);
      });

      it('records retries, dead ends and 410s; a gone URL ends its pending deliveries and later ones; an operator retry revives it', async () => {
        const first = await finishedWith([HOOK]);
        const second = await finishedWith([HOOK]);
        const other = await finishedWith([OTHER_HOOK]);
        const [claimed] = await claimDeliveries(a, 'a', { limit: 1, skipUrls: [OTHER_HOOK] });
        const later = Date.now() + HOUR;
        assert.equal(await a.finishAttempt(claimed!.lease, { kind: 'retry', nextAttemptAt: later, status: 503 }, Date.now()), true);
        let record: DeliveryRecord | undefined = await b.getDelivery(claimed!.delivery.id);
        assert.deepEqual([record?.state, record?.attempts, record?.nextAttemptAt, record?.lastStatus], ['pending', 1, later, 503]);
        assert.ok((await b.nextDeliveryDue())! <= Date.now(), 'the earliest pending one is due');
        const due = await claimDeliveries(b, 'b', { skipUrls: [OTHER_HOOK] });
        assert.deepEqual(due.map((c) => c.delivery.attempts), [0], 'the retried one is not due before its time');
        assert.equal(await b.finishAttempt(due[0]!.lease, { kind: 'retry', nextAttemptAt: Date.now(), error: 'connection refused' }, Date.now()), true);

        const [gone] = await claimDeliveries(b, 'b', { now: later, limit: 1, skipUrls: [OTHER_HOOK] });
        assert.notEqual(gone?.delivery.id, claimed!.delivery.id, 'the earliest due first: not the one retried an hour later');
        const [otherClaim] = await claimDeliveries(a, 'a', { now: later, skipUrls: [HOOK] });
        assert.equal(await a.finishAttempt(otherClaim!.lease, { kind: 'dead', error: 'timeout' }, Date.now()), true);
        record = await b.getDelivery(otherClaim!.delivery.id);
        assert.deepEqual([record?.state, record?.lastError, record?.operation.name], ['dead', 'timeout', other]);

        assert.equal(await b.finishAttempt(gone!.lease, { kind: 'gone', status: 410 }, Date.now()), true);
        const hookStates = async () => (await b.listDeliveries({ limit: 10 })).filter((d) => d.url === HOOK).map((d) => d.state);
        assert.deepEqual(await hookStates(), ['gone', 'gone'], 'both deliveries to the gone URL ended');
        const third = await finishedWith([HOOK]);
        assert.deepEqual((await deliveriesOf(a, third)).map((d) => d.state), ['gone'], 'born gone');
        assert.deepEqual(await a.countDeliveries(), { pending: 0, delivered: 0, dead: 1, gone: 3 });

        const retried = await a.retryDelivery(otherClaim!.delivery.id, Date.now());
        assert.deepEqual([retried?.state, retried?.attempts], ['pending', 0]);
        const revived = await a.retryDelivery(gone!.delivery.id, Date.now());
        assert.equal(revived?.state, 'pending');
        const fourth = await finishedWith([HOOK]);
        assert.deepEqual((await deliveriesOf(a, fourth)).map((d) => d.state), ['pending'], 'the URL is no longer gone');
        assert.equal(await a.retryDelivery('msg_unknown', Date.now()), undefined);
        assert.deepEqual((await deliveriesOf(b, first)).concat(await deliveriesOf(b, second)).map((d) => d.state).sort(), ['gone', 'pending']);
      });

      it('lists newest first with paging and filters, and sweeps finished deliveries', async () => {
        assert.equal(await a.nextDeliveryDue(), undefined);
        const names: string[] = [];
        for (let i = 0; i < 3; i++) names.push(await finishedWith([HOOK]));
        const all = await b.listDeliveries({ limit: 10 });
        assert.deepEqual(new Set(all.map((d) => d.operation.name)), new Set(names));
        const newestFirst = [...all].sort((x, y) => y.createTime - x.createTime || (y.id < x.id ? -1 : y.id > x.id ? 1 : 0));
        assert.deepEqual(all.map((d) => d.id), newestFirst.map((d) => d.id));
        const page1 = await b.listDeliveries({ limit: 2 });
        const page2 = await b.listDeliveries({ limit: 2, after: page1[1]!.id });
        assert.deepEqual([...page1, ...page2].map((d) => d.id), all.map((d) => d.id));
        const [claimed] = await claimDeliveries(a, 'a', { limit: 1 });
        await a.finishAttempt(claimed!.lease, { kind: 'dead', status: 500 }, Date.now() - HOUR);
        assert.deepEqual((await b.listDeliveries({ limit: 10, state: 'dead' })).map((d) => d.id), [claimed!.delivery.id]);
        assert.deepEqual((await b.listDeliveries({ limit: 10, state: 'pending' })).length, 2);
        assert.equal(await b.sweepDeliveries(Date.now() - 2 * HOUR, 10), 0, 'not old enough');
        assert.equal(await b.sweepDeliveries(Date.now(), 10), 1, 'finished ones only');
        assert.equal((await b.listDeliveries({ limit: 10 })).length, 2);
      });
    });

    describe('scheduling policies', () => {
      const DEADLINE: OperationError = { code: Code.DEADLINE_EXCEEDED, message: 'not started in time', details: [] };
      const claimAll = (store: OperationStore, holder: string, limit = 100) =>
        store.claim({ holder, method: METHOD, limit, leaseMs: 30_000, now: Date.now() });

      it("keeps a retry's not-before in the store: no claim takes it early, even after a restart", async () => {
        const { operation } = await a.create(newOp());
        const [claimed] = await claimOne(a, 'runner-a');
        const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: claimed!.attempt };
        const failure: OperationError = { code: Code.UNAVAILABLE, message: 'flaky', details: [] };
        assert.equal(await b.retry({ ...lease, holder: 'someone-else' }, failure, 400, Date.now()), false, 'fenced');
        assert.equal(await a.retry(lease, failure, 400, Date.now()), true);
        const waiting = await b.get(operation.name, Date.now());
        assert.deepEqual([waiting?.done, waiting?.leaseHolder, waiting?.lastError], [false, undefined, { code: Code.UNAVAILABLE, message: 'flaky' }]);
        assert.ok(waiting!.runAfter > Date.now() + 200, 'due after the delay');
        assert.deepEqual(await claimAll(b, 'runner-b'), [], 'not due yet');
        await a.close();
        a = await database.open(); // a restarted process
        assert.deepEqual(await claimAll(a, 'runner-a2'), [], 'still not due after a restart');
        await sleep(Math.max(0, waiting!.runAfter - Date.now()) + 20);
        const [again] = await claimAll(a, 'runner-a2');
        assert.deepEqual([again?.name, again?.attempt], [operation.name, 2]);
      });

      it('refuses a retry when no attempts are left', async () => {
        const { operation } = await a.create(newOp({ maxAttempts: 1 }));
        const [claimed] = await claimOne(a, 'runner-a');
        const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: claimed!.attempt };
        assert.equal(await a.retry(lease, { code: Code.UNAVAILABLE, message: 'x', details: [] }, 0, Date.now()), false);
        assert.equal((await a.get(operation.name, Date.now()))?.leaseHolder, 'runner-a', 'nothing written');
      });

      it('claims nothing before its start time, and it exists at once', async () => {
        const { operation } = await a.create(newOp({ runAfter: Date.now() + 400 }));
        assert.equal((await b.get(operation.name, Date.now()))?.done, false);
        assert.deepEqual(await claimAll(b, 'runner-b'), []);
        await sleep(450);
        assert.deepEqual((await claimAll(b, 'runner-b')).map((op) => op.name), [operation.name]);
      });

      it('claims higher priorities first, oldest first within one', async () => {
        const now = Date.now();
        const low = await a.create(newOp({ priority: -5, createTime: now - 4 }));
        const normal = await a.create(newOp({ createTime: now - 3 }));
        const high = await a.create(newOp({ priority: 10, createTime: now - 2 }));
        const normal2 = await a.create(newOp({ createTime: now - 1 }));
        assert.deepEqual((await claimOne(b, 'r1')).map((op) => op.name), [high.operation.name]);
        assert.deepEqual(
          (await claimAll(b, 'r2')).map((op) => op.name),
          [normal.operation.name, normal2.operation.name, low.operation.name],
        );
      });

      it('runs at most one operation per concurrency key, however many claim at once', async () => {
        const k1 = await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 3 }));
        const k2 = await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 2 }));
        const other = await a.create(newOp({ concurrencyKey: 'other', createTime: Date.now() - 1 }));
        const keyless = await a.create(newOp());
        const [fromA, fromB] = await Promise.all([claimAll(a, 'runner-a'), claimAll(b, 'runner-b')]);
        const claimed = [...fromA!, ...fromB!].map((op) => op.name).sort();
        assert.deepEqual(claimed, [k1.operation.name, other.operation.name, keyless.operation.name].sort(), 'the oldest of key k, one of each other');
        assert.equal((await b.get(k1.operation.name, Date.now()))?.concurrencyKey, 'k');
        assert.deepEqual(await claimAll(b, 'runner-b'), [], 'k is held');
        const holder = fromA!.some((op) => op.name === k1.operation.name) ? 'runner-a' : 'runner-b';
        const done = await (holder === 'runner-a' ? a : b).complete([{ lease: { name: k1.operation.name, holder, attempt: 1 }, outcome: RESPONSE }], Date.now());
        assert.deepEqual(done, [true]);
        assert.deepEqual((await claimAll(b, 'runner-b')).map((op) => op.name), [k2.operation.name], 'the key is free once its holder is done');
      });

      it('fills a batch past candidates that share one key', async () => {
        for (let i = 0; i < 4; i++) await a.create(newOp({ concurrencyKey: 'busy', createTime: Date.now() - 10 + i }));
        const free = await a.create(newOp({ createTime: Date.now() }));
        const claimed = await b.claim({ holder: 'r', method: METHOD, limit: 2, leaseMs: 30_000, now: Date.now() });
        assert.equal(claimed.length, 2, 'one of key busy and the keyless one behind them');
        assert.ok(claimed.some((op) => op.name === free.operation.name));
      });

      it('keeps a key held by a lease that ran out until that operation is claimed again', async () => {
        const k1 = await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 2 }));
        await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 1 }));
        assert.equal((await claimOne(a, 'crashed', SHORT_LEASE_MS))[0]?.name, k1.operation.name);
        await sleep(SHORT_LEASE_MS + 50);
        const again = await claimAll(b, 'runner-b');
        assert.deepEqual(again.map((op) => [op.name, op.attempt]), [[k1.operation.name, 2]], 'its runner may still be running: only it is taken');
      });

      it('never lets two racing claimers run two operations of one key', async () => {
        for (let i = 0; i < 20; i++) await a.create(newOp({ concurrencyKey: `key-${i % 2}` }));
        const rounds = await Promise.all(Array.from({ length: 6 }, (_, i) => claimAll(i % 2 ? a : b, `runner-${i}`, 3)));
        const claimed = rounds.flat();
        assert.equal(claimed.length, 2, 'one per key');
        assert.deepEqual(claimed.map((op) => op.concurrencyKey).sort(), ['key-0', 'key-1']);
      });

      describe('a method allowing more than one operation per concurrency key', () => {
        const claimUpTo = (store: OperationStore, holder: string, keyLimit: number, limit = 100, leaseMs = 30_000) =>
          store.claim({ holder, method: METHOD, limit, keyLimit, leaseMs, now: Date.now() });
        const lease = (op: OperationRecord): Lease => ({ name: op.name, holder: op.leaseHolder!, attempt: op.attempt });

        it('runs up to its limit of one key at once, in claim order, and one more when one ends', async () => {
          const keyed: string[] = [];
          for (let i = 0; i < 10; i++) keyed.push((await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 20 + i }))).operation.name);
          const other = await a.create(newOp({ concurrencyKey: 'other', createTime: Date.now() - 5 }));
          const keyless = await a.create(newOp({ createTime: Date.now() - 4 }));
          const first = await claimUpTo(b, 'r1', 3);
          assert.deepEqual(first.map((op) => op.name), [...keyed.slice(0, 3), other.operation.name, keyless.operation.name], 'the three oldest of k, and the others');
          assert.deepEqual(await claimUpTo(a, 'r2', 3), [], 'k has three running');
          assert.deepEqual(await claimUpTo(a, 'r2', 1), [], 'nor does a method allowing fewer');
          assert.deepEqual(await b.queuePlace(keyed[3]!, Date.now(), 1000, 3), { keyHeld: true, ahead: 0 });
          assert.deepEqual(await b.queuePlace(keyed[3]!, Date.now(), 1000, 4), { keyHeld: false, ahead: 0 }, 'one more would be allowed');
          assert.deepEqual(await b.complete([{ lease: lease(first[1]!), outcome: RESPONSE }], Date.now()), [true]);
          assert.deepEqual((await claimUpTo(a, 'r3', 3)).map((op) => op.name), [keyed[3]], 'the slot given back is taken by the next in line');
          assert.deepEqual(await claimUpTo(a, 'r3', 3), []);
          const more = await claimUpTo(a, 'r4', 5);
          assert.deepEqual(more.map((op) => op.name), keyed.slice(4, 6), 'a higher limit takes what is left under it');
        });

        it('takes at most its limit minus what runs, whatever the batch size', async () => {
          for (let i = 0; i < 6; i++) await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 10 + i }));
          assert.equal((await claimUpTo(a, 'r1', 4, 1)).length, 1);
          assert.equal((await claimUpTo(b, 'r2', 4, 2)).length, 2);
          assert.equal((await claimUpTo(a, 'r3', 4, 10)).length, 1, 'three run: one slot is left');
        });

        it('never lets racing claimers run more of one key than the limit', async () => {
          for (let i = 0; i < 40; i++) await a.create(newOp({ concurrencyKey: `key-${i % 2}` }));
          const running = new Map<string, OperationRecord>();
          for (let round = 0; round < 4; round++) {
            const rounds = await Promise.all(Array.from({ length: 6 }, (_, i) => claimUpTo(i % 2 ? a : b, `runner-${round}-${i}`, 3, 2)));
            const perKey = (key: string) => [...running.values()].filter((op) => op.concurrencyKey === key).length;
            const take = (claimed: readonly OperationRecord[]) => {
              for (const op of claimed) {
                assert.equal(running.has(op.name), false, 'claimed twice');
                running.set(op.name, op);
              }
            };
            take(rounds.flat());
            assert.ok(perKey('key-0') <= 3 && perKey('key-1') <= 3, `round ${round}: never more than three of a key`);
            // Racing claims may each leave a key to the other (skipped rows, a lost race): one more fills it.
            take(await claimUpTo(b, `runner-${round}-last`, 3));
            assert.deepEqual([perKey('key-0'), perKey('key-1')], [3, 3], `round ${round}: three of each key`);
            // One of each key ends; the next round fills its slot.
            for (const key of ['key-0', 'key-1']) {
              const ending = [...running.values()].find((op) => op.concurrencyKey === key)!;
              assert.deepEqual(await (round % 2 ? a : b).complete([{ lease: lease(ending), outcome: RESPONSE }], Date.now()), [true]);
              running.delete(ending.name);
            }
          }
        });

        it('keeps a slot held by a lease that ran out until that operation is claimed again', async () => {
          const names: string[] = [];
          for (let i = 0; i < 3; i++) names.push((await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 10 + i }))).operation.name);
          assert.deepEqual((await claimUpTo(a, 'crashed', 2, 100, SHORT_LEASE_MS)).map((op) => op.name), names.slice(0, 2));
          await sleep(SHORT_LEASE_MS + 50);
          const again = await claimUpTo(b, 'runner-b', 2);
          assert.deepEqual(again.map((op) => [op.name, op.attempt]), [[names[0], 2], [names[1], 2]], 'their runners may still be running: only they are taken');
          assert.deepEqual(await claimUpTo(b, 'runner-b', 2), []);
        });

        it('counts a row holding its key as the version before slots wrote it', async () => {
          const old = await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 10 }));
          const waiting: string[] = [];
          for (let i = 0; i < 3; i++) waiting.push((await a.create(newOp({ concurrencyKey: 'k', createTime: Date.now() - 5 + i }))).operation.name);
          // What a claim of the previous version left: the plain key in running_key, a live lease.
          await database.exec(`UPDATE ${backend.databaseClock ? 'longrun.operations' : 'operations'}
            SET lease_holder = 'old-runner', lease_expires_at = ${Date.now() + HOUR}, attempt = 1, running_key = 'k'
            WHERE name = '${old.operation.name}'`);
          assert.deepEqual((await claimUpTo(b, 'r', 3)).map((op) => op.name), waiting.slice(0, 2), 'two slots are left of three');
          assert.deepEqual(await claimUpTo(b, 'r', 3), []);
          assert.deepEqual((await b.queuePlace(waiting[2]!, Date.now(), 1000, 3))?.keyHeld, true);
          assert.deepEqual(await a.complete([{ lease: { name: old.operation.name, holder: 'old-runner', attempt: 1 }, outcome: RESPONSE }], Date.now()), [true]);
          assert.deepEqual((await claimUpTo(b, 'r', 3)).map((op) => op.name), [waiting[2]], 'its slot is given back when it ends');
        });
      });

      it('ends an operation not started by its start deadline, by the store clock, and never claims it', async () => {
        const late = await a.create(newOp({ startDeadline: Date.now() - 1 }));
        const timely = await a.create(newOp({ startDeadline: Date.now() + HOUR }));
        const started = await a.create(newOp({ startDeadline: Date.now() + 200 }));
        const [claimedStarted] = await b.claim({ holder: 'r', method: METHOD, limit: 1, leaseMs: 30_000, now: Date.now() });
        assert.notEqual(claimedStarted?.name, late.operation.name, 'past its deadline: never claimed');
        await sleep(250);
        const ended = await b.expireStartDeadlines(Date.now(), DEADLINE, 10);
        const endedNames = ended.map((op) => op.name);
        assert.ok(endedNames.includes(late.operation.name));
        assert.ok(!endedNames.includes(timely.operation.name), 'its deadline is ahead');
        const lateRecord = await a.get(late.operation.name, Date.now());
        assert.deepEqual([lateRecord?.done, lateRecord?.error?.code, lateRecord?.attempt], [true, Code.DEADLINE_EXCEEDED, 0]);
        const startedRecord = await a.get(started.operation.name, Date.now());
        if (claimedStarted?.name === started.operation.name) assert.equal(startedRecord?.done, false, 'a started operation is past its start deadline for good');
      });

      it("tells where a waiting operation stands: its key held, or how many claimable operations come before it", async () => {
        const now = Date.now();
        const running = await a.create(newOp({ priority: 10, createTime: now - 9 }));
        const keyHolder = await a.create(newOp({ concurrencyKey: 'k', priority: 10, createTime: now - 8 }));
        assert.deepEqual((await claimAll(a, 'r', 2)).map((op) => op.name).sort(), [running.operation.name, keyHolder.operation.name].sort());
        const keyWaiter = await a.create(newOp({ concurrencyKey: 'k', createTime: now - 7 }));
        const notYet = await a.create(newOp({ priority: 9, runAfter: now + HOUR, createTime: now - 6 }));
        const dueScheduled = await a.create(newOp({ priority: 5, runAfter: now - 1000, createTime: now - 5 }));
        await a.create(newOp({ method: '/other.v1.Service/Other', priority: 20, createTime: now - 4 }));
        const first = await a.create(newOp({ createTime: now - 3 }));
        const second = await a.create(newOp({ createTime: now - 2 }));
        const third = await a.create(newOp({ createTime: now - 1 }));
        const place = (name: string, limit = 1000) => b.queuePlace(name, Date.now(), limit);
        assert.deepEqual(await place(keyWaiter.operation.name), { keyHeld: true, ahead: 1 }, 'the due scheduled one of higher priority is ahead');
        assert.deepEqual(await place(dueScheduled.operation.name), { keyHeld: false, ahead: 0 });
        assert.deepEqual(await place(first.operation.name), { keyHeld: false, ahead: 1 }, 'not the running, the not yet due, the key-waiting or another method');
        assert.deepEqual(await place(second.operation.name), { keyHeld: false, ahead: 2 });
        assert.deepEqual(await place(third.operation.name), { keyHeld: false, ahead: 3 });
        assert.deepEqual(await place(third.operation.name, 2), { keyHeld: false, ahead: 2 }, 'counted up to the limit');
        assert.equal((await place(notYet.operation.name))?.keyHeld, false);
        assert.equal(await place('operations/unknown'), undefined);
        const [next] = await claimOne(a, 'r2');
        assert.equal(next?.name, dueScheduled.operation.name);
        assert.deepEqual(await place(third.operation.name), { keyHeld: false, ahead: 2 }, 'one fewer once the head is claimed');
        const holderLease: Lease = { name: keyHolder.operation.name, holder: 'r', attempt: 1 };
        assert.deepEqual(await a.complete([{ lease: holderLease, outcome: RESPONSE }], Date.now()), [true]);
        assert.deepEqual(await place(keyWaiter.operation.name), { keyHeld: false, ahead: 0 }, 'its key free, it is next among priority 0 (created first)');
        assert.deepEqual(await place(third.operation.name), { keyHeld: false, ahead: 3 }, 'and ahead of the others');
      });

      it('gives each principal its turn: one operation of a second principal does not wait behind a backlog', async () => {
        const backlog = await Promise.all(Array.from({ length: 40 }, () => a.create(newOp({ owner: 'heavy' }))));
        for (let i = 0; i < 10; i++) await a.create(newOp({ owner: 'heavy' }));
        const light = await b.create(newOp({ owner: 'light' }));
        const order: string[] = [];
        for (let i = 0; i < 3; i++) order.push(...(await claimOne(i % 2 ? a : b, `r${i}`)).map((op) => op.name));
        assert.ok(order.slice(0, 2).includes(light.operation.name), `the light principal's operation runs among the first two: ${order.indexOf(light.operation.name)}`);
        assert.equal(order[0] === light.operation.name ? order[1] : order[0], backlog[0]!.operation.name, "the heavy principal's run in its own order");
        const rest = await claimAll(a, 'r-rest');
        assert.equal(rest.length, 48);
        assert.equal(rest.some((op) => op.name === light.operation.name), false);
      });

      it('gives each principal its turn within one group-committed batch of creations too', async () => {
        // Created in one event-loop turn: one statement on PostgreSQL, one transaction on SQLite.
        const created = await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => a.create(newOp({ owner: 'heavy', createTime: Date.now() + i }))),
          a.create(newOp({ owner: 'light', createTime: Date.now() + 20 })),
          ...Array.from({ length: 5 }, (_, i) => a.create(newOp({ owner: 'heavy', createTime: Date.now() + 21 + i }))),
        ]);
        const heavy = created.filter((_, i) => i !== 20).map((result) => result.operation.name);
        const light = created[20]!.operation.name;
        const order = (await claimAll(a, 'r')).map((op) => op.name);
        assert.equal(order.length, 26);
        assert.ok(order.slice(0, 2).includes(light), `the light principal's operation runs among the first two: ${order.indexOf(light)}`);
        assert.deepEqual(order.filter((name) => name !== light), heavy, "the heavy principal's run in its own order");
      });
    });

    describe('re-runs', () => {
      it('keeps the link to the original and hands out the original request, from any connection', async () => {
        const request = { typeUrl: 'type.googleapis.com/longrun.testing.v1.SleepRequest', value: new Uint8Array([8, 7, 16, 2]) };
        const original = await a.create(newOp({ request }));
        assert.equal(original.operation.rerunOf, undefined);
        const read = await b.getRequest(original.operation.name, Date.now());
        assert.deepEqual([read?.typeUrl, Buffer.from(read!.value).toString('hex')], [request.typeUrl, '08071002']);
        assert.equal(await b.getRequest('operations/missing', Date.now()), undefined);
        const rerun = await b.create(newOp({ request: read!, rerunOf: original.operation.name }));
        assert.equal(rerun.operation.rerunOf, original.operation.name);
        assert.equal((await a.get(rerun.operation.name, Date.now()))?.rerunOf, original.operation.name);
        assert.deepEqual((await a.list({ parent: '', limit: 10, now: Date.now() })).map((op) => op.rerunOf), [original.operation.name, undefined]);
        // A batch of creations (one statement on PostgreSQL) keeps each link too.
        const batch = await Promise.all([a.create(newOp({ rerunOf: 'operations/x' })), a.create(newOp())]);
        assert.deepEqual(await Promise.all(batch.map(async (r) => (await b.get(r.operation.name, Date.now()))?.rerunOf)), ['operations/x', undefined]);
      });

      it('gives one re-run for one key, from either connection at once', async () => {
        const original = await a.create(newOp());
        const again = () => newOp({ rerunOf: original.operation.name, idempotencyKey: 'rerun-k', requestFingerprint: 'f' });
        const results = await Promise.all([a.create(again()), b.create(again()), a.create(again())]);
        assert.equal(results.filter((r) => r.created).length, 1);
        assert.equal(new Set(results.map((r) => r.operation.name)).size, 1);
        assert.ok(results.every((r) => r.operation.rerunOf === original.operation.name));
      });

      it('hands out no request of an expired operation', async () => {
        const old = await a.create(newOp({ createTime: Date.now() - 10 * 24 * HOUR }));
        assert.equal((await a.requestCancel(old.operation.name, Date.now() - 9 * 24 * HOUR, CANCELLED)).kind, 'cancelled');
        assert.equal(await b.getRequest(old.operation.name, Date.now()), undefined);
      });
    });

    if (backend.databaseClock) {
      it('lets no runner whose clock is an hour ahead take a live lease', async () => {
        const { operation } = await a.create(newOp());
        const [claimed] = await claimOne(a, 'runner-a', 60_000);
        assert.equal(claimed?.name, operation.name);
        const ahead = Date.now() + HOUR;
        assert.deepEqual(await b.claim({ holder: 'runner-fast', method: METHOD, limit: 1, leaseMs: 60_000, now: ahead }), []);
        assert.deepEqual(await b.abortExhausted(ahead, () => CANCELLED), []);
        assert.equal((await b.requestCancel(operation.name, ahead, CANCELLED)).kind, 'requested', 'the lease is live, so cancel only flags it');
        // A runner whose clock is behind cannot keep a lease alive past its length either.
        const lease: Lease = { name: operation.name, holder: 'runner-a', attempt: 1 };
        assert.deepEqual((await a.heartbeat([lease], 60_000, Date.now() - HOUR)).lost, []);
        const row = await b.get(operation.name, Date.now());
        assert.ok(row!.leaseExpiresAt > Date.now() + 50_000 && row!.leaseExpiresAt < Date.now() + 70_000, 'expiry from the database clock');
      });
    }
  });
}
