/**
 * The embedded store: one SQLite file in WAL mode through better-sqlite3.
 *
 * better-sqlite3 is synchronous, so every method runs its statements to completion (and commits)
 * before its promise settles; a creation is acknowledged only once it is in the WAL. Writes use
 * IMMEDIATE transactions, so concurrent processes on one file serialize instead of failing with
 * SQLITE_BUSY on upgrade; their guards are in the statements themselves (statements.ts).
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { LongrunError } from '../../domain/errors.js';
import type { AnyMessage, Lease, OperationError, OperationRecord } from '../../domain/operation.js';
import { distinctChanges } from '../feed.js';
import { ReadCache } from '../read-cache.js';
import { SQLITE_DIALECT } from '../sql/dialect.js';
import { claimScan } from '../sql/policies.js';
import { attemptColumns, callbacksColumn, toDelivery, type DeliveryRow } from '../sql/deliveries.js';
import { listStatement } from '../sql/list.js';
import { errorColumns, fence, hasPolicyColumns, inClaimOrder, keyHolderVerdict, keyReused, newRecord, policyParams, requestOf, toRecord, traceContextColumn, type OperationRow, type RequestRow } from '../sql/rows.js';
import type {
  CancelOutcome,
  ClaimedDelivery,
  ClaimRequest,
  Completion,
  CreateResult,
  DeleteOutcome,
  DeliveryAttempt,
  DeliveryClaimRequest,
  DeliveryCounts,
  DeliveryLease,
  DeliveryQuery,
  DeliveryRecord,
  HeartbeatResult,
  ListQuery,
  NewOperation,
  OperationCounts,
  QueuePlace,
  OperationStore,
  ProgressUpdate,
  RetentionPolicy,
  StoreChange,
  SubscriberErrorHandler,
} from '../types.js';
import { openConnection, type Connection, type ConnectionOptions } from './connection.js';
import { cannotOpen, storeError } from './errors.js';
import { SqliteChangeFeed } from './feed.js';
import { migrate } from './migrations/index.js';
import { prepareStatements, type Statements } from './statements.js';

export type { SqliteSynchronous } from './connection.js';
export type { OperationRow } from '../sql/rows.js';

export interface SqliteStoreOptions extends RetentionPolicy, ConnectionOptions {
  /** Told when a change-feed subscriber throws (default: a process warning). */
  onSubscriberError?: SubscriberErrorHandler;
}

/** The connection with the schema up to date; a file that cannot be used says which and why. */
function openMigrated(options: SqliteStoreOptions): Connection {
  let connection: Connection | undefined;
  try {
    connection = openConnection(options);
    migrate(connection.db);
    return connection;
  } catch (error) {
    void connection?.close();
    throw cannotOpen(options.path, error);
  }
}

export class SqliteOperationStore implements OperationStore {
  readonly changes: SqliteChangeFeed;
  private readonly connection: Connection;
  private readonly db: Database.Database;
  private readonly retention: RetentionPolicy;
  private readonly listStatements = new Map<string, Database.Statement>();
  private readonly recentReads: ReadCache;
  private pendingCreates: { op: NewOperation; resolve(result: CreateResult): void; reject(error: unknown): void }[] = [];
  /** One transaction wrapper, reused: better-sqlite3 builds a new one per transaction() call. */
  private readonly inTransaction: Database.Transaction<(body: () => unknown) => unknown>;
  private readonly stmt: Statements;

  constructor(options: SqliteStoreOptions) {
    this.connection = openMigrated(options);
    this.db = this.connection.db;
    this.retention = { retentionMs: options.retentionMs, keyedRetentionMs: options.keyedRetentionMs };
    this.stmt = prepareStatements(this.db);
    this.inTransaction = this.db.transaction((body: () => unknown) => body());
    // A commit by another connection may have touched any row, logged or not: forget every read.
    this.changes = new SqliteChangeFeed(this.stmt, () => this.recentReads.clear(), options.onSubscriberError);
    this.recentReads = new ReadCache(this.changes);
  }

  /**
   * Creations that arrive in the same event-loop turn are committed in one transaction (group
   * commit); each promise settles only after that commit.
   */
  create(op: NewOperation): Promise<CreateResult> {
    return new Promise((resolve, reject) => {
      this.pendingCreates.push({ op, resolve, reject });
      if (this.pendingCreates.length === 1) setImmediate(() => this.flushCreates());
    });
  }

  private flushCreates(): void {
    const batch = this.pendingCreates;
    this.pendingCreates = [];
    let outcomes: (CreateResult | LongrunError)[];
    try {
      // A request's own mistake (a reused key) fails that creation only, not the batch.
      outcomes = this.write(batch[0]!.op.createTime, (changes) =>
        batch.map(({ op }) => {
          try {
            const result = this.insert(op);
            if (result.created) changes.push({ kind: 'available', method: op.method });
            return result;
          } catch (error) {
            if (error instanceof LongrunError) return error;
            throw error;
          }
        }),
      );
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome instanceof LongrunError) pending.reject(outcome);
      else pending.resolve(outcome);
    });
  }

  /** INSERT ... ON CONFLICT DO NOTHING; on a conflict, the key's holder is returned, or replaced when expired. */
  private insert(op: NewOperation): CreateResult {
    // Binding costs by the statement's parameters; the unused ones of `params` are not looked at.
    const statement = hasPolicyColumns(op) ? this.stmt.insert : this.stmt.insertPlain;
    const params = {
      name: op.name,
      parent: op.parent,
      method: op.method,
      owner: op.owner,
      metadataType: op.metadata?.typeUrl ?? null,
      metadataValue: op.metadata?.value ?? null,
      requestType: op.request.typeUrl,
      requestValue: op.request.value,
      key: op.idempotencyKey ?? null,
      fingerprint: op.requestFingerprint ?? null,
      maxAttempts: op.maxAttempts,
      now: op.createTime,
      callbacks: callbacksColumn(op.callbacks),
      answerStyle: op.answerStyle ?? null,
      traceContext: traceContextColumn(op.traceContext),
      ...policyParams(op),
    };
    for (;;) {
      if (statement.run(params).changes === 1) return { created: true, operation: newRecord(op) };
      const existing = this.stmt.byKey.get({ owner: op.owner, key: op.idempotencyKey }) as OperationRow | undefined;
      if (existing === undefined) continue; // its holder was deleted in between: insert again
      const verdict = keyHolderVerdict(existing, op);
      if (verdict === 'reused') throw keyReused();
      if (verdict === 'same') return { operation: toRecord(existing), created: false };
      this.stmt.deleteExpiredKeyHolder.run({ owner: op.owner, key: op.idempotencyKey, now: op.createTime });
    }
  }

  async get(name: string, now: number): Promise<OperationRecord | undefined> {
    return this.read(() => {
      // Only done operations are cached, as on PostgreSQL: they change no more, and the contract
      // lets one be served until the feed (its watch timer) tells of its deletion. So a poll
      // costs a map lookup, without PRAGMA data_version (tens of µs here, more than the row
      // read); an unfinished one is read from its row, which is always fresh.
      let record = this.recentReads.get(name);
      if (record === undefined) {
        const row = this.stmt.get.get({ name }) as OperationRow | undefined;
        if (row === undefined) return undefined;
        record = toRecord(row);
        if (record.done) this.recentReads.set(record);
      }
      return record.expireTime !== undefined && record.expireTime <= now ? undefined : record;
    });
  }

  async getRequest(name: string, now: number): Promise<AnyMessage | undefined> {
    return this.read(() => requestOf(this.stmt.getRequest.get({ name }) as RequestRow | undefined, now));
  }

  async list(query: ListQuery): Promise<OperationRecord[]> {
    return this.read(() => {
      const { sql, params } = listStatement(query, SQLITE_DIALECT);
      return (this.listStatement(sql).all(...params) as OperationRow[]).map(toRecord);
    });
  }

  async requestCancel(name: string, now: number, error: OperationError): Promise<CancelOutcome> {
    return this.write(now, (changes): CancelOutcome => {
      // Nobody is running it: it ends right here.
      const finished = this.stmt.cancelPending.get({ name, now, ...errorColumns(error), ...this.retentionParams() }) as OperationRow | undefined;
      if (finished !== undefined) {
        changes.push({ kind: 'finished', name });
        return { kind: 'cancelled', operation: toRecord(finished) };
      }
      const flagged = this.stmt.flagCancel.get({ name, now }) as OperationRow | undefined;
      if (flagged !== undefined) {
        changes.push({ kind: 'cancel_requested', name });
        return { kind: 'requested', operation: toRecord(flagged) };
      }
      const row = this.stmt.get.get({ name }) as OperationRow | undefined;
      return row === undefined || (row.expire_time !== null && row.expire_time <= now) ? { kind: 'not_found' } : { kind: 'already_done' };
    });
  }

  async delete(name: string, now: number): Promise<DeleteOutcome> {
    return this.write(now, (changes): DeleteOutcome => {
      if (this.stmt.deleteDone.run({ name, now }).changes === 1) {
        changes.push({ kind: 'deleted', name });
        return 'deleted';
      }
      const row = this.stmt.get.get({ name }) as OperationRow | undefined;
      return row === undefined || (row.expire_time !== null && row.expire_time <= now) ? 'not_found' : 'not_done';
    });
  }

  async claim(request: ClaimRequest): Promise<OperationRecord[]> {
    if (request.limit <= 0) return [];
    // Claims are told to this process only: other processes' reads are fresh after any commit of
    // ours (PRAGMA data_version clears their caches), and nothing else waits on a claim.
    const keyLimit = request.keyLimit ?? 1;
    return this.write(request.now, (_changes, localChanges) => {
      const { keyed } = this.stmt.anyKeyed.get({ method: request.method }) as { keyed: number };
      const statement = keyed === 0 ? this.stmt.claimKeyless : keyLimit === 1 ? this.stmt.claim : this.stmt.claimSlots;
      const rows = statement.all({
        holder: request.holder,
        method: request.method,
        limit: request.limit,
        keyLimit,
        scan: claimScan(request.limit, keyed === 1),
        leaseMs: request.leaseMs,
        now: request.now,
      }) as OperationRow[];
      for (const row of rows) localChanges.push({ kind: 'updated', name: row.name });
      return inClaimOrder(rows).map(toRecord);
    });
  }

  async retry(lease: Lease, error: OperationError, delayMs: number, now: number): Promise<boolean> {
    return this.write(now, (changes) => {
      const row = this.stmt.retry.get({ ...fence(lease), now, delayMs, errorCode: error.code, errorMessage: error.message }) as
        | { method: string }
        | undefined;
      if (row === undefined) return false;
      changes.push({ kind: 'updated', name: lease.name });
      return true;
    });
  }

  async expireStartDeadlines(now: number, error: OperationError, limit: number): Promise<OperationRecord[]> {
    return this.write(now, (changes) => {
      const due = this.stmt.pastStartDeadline.all({ now, limit }) as { name: string }[];
      const ended: OperationRecord[] = [];
      for (const { name } of due) {
        const row = this.stmt.expireStartDeadline.get({ name, now, ...errorColumns(error), ...this.retentionParams() }) as OperationRow | undefined;
        if (row === undefined) continue;
        changes.push({ kind: 'finished', name });
        ended.push(toRecord(row));
      }
      return ended;
    });
  }

  async abortExhausted(now: number, error: (attempts: number) => OperationError): Promise<OperationRecord[]> {
    return this.write(now, (changes) => {
      const stale = this.stmt.exhausted.all({ now }) as { name: string; attempt: number }[];
      const aborted: OperationRecord[] = [];
      for (const { name, attempt } of stale) {
        const row = this.stmt.abortExhausted.get({ name, attempt, now, ...errorColumns(error(attempt)), ...this.retentionParams() }) as
          | OperationRow
          | undefined;
        if (row === undefined) continue; // renewed or finished since it was found
        changes.push({ kind: 'finished', name });
        aborted.push(toRecord(row));
      }
      return aborted;
    });
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number, now: number): Promise<HeartbeatResult> {
    return this.write(now, () => {
      const result: HeartbeatResult = { lost: [], cancelRequested: [] };
      for (const lease of leases) {
        const row = this.stmt.heartbeat.get({ ...fence(lease), leaseMs, now }) as { cancel_requested: number } | undefined;
        if (row === undefined) result.lost.push(lease.name);
        else if (row.cancel_requested) result.cancelRequested.push(lease.name);
      }
      return result;
    });
  }

  async saveProgress(lease: Lease, update: ProgressUpdate, now: number): Promise<boolean> {
    return this.write(now, (changes) => {
      const changed = this.stmt.progress.run({
        ...fence(lease),
        now,
        percent: update.progressPercent ?? null,
        eta: update.estimatedCompletion ?? null,
        metadataType: update.metadata?.typeUrl ?? null,
        metadataValue: update.metadata?.value ?? null,
      }).changes;
      if (changed === 1) changes.push({ kind: 'updated', name: lease.name });
      return changed === 1;
    });
  }

  async complete(completions: readonly Completion[], now: number): Promise<boolean[]> {
    if (completions.length === 0) return [];
    return this.write(now, (changes) =>
      completions.map(({ lease, outcome, metadata }) => {
        const params = {
          ...fence(lease),
          now,
          ...this.retentionParams(),
          metadataType: metadata?.typeUrl ?? null,
          metadataValue: metadata?.value ?? null,
        };
        const result = outcome.error
          ? this.stmt.completeError.run({ ...params, ...errorColumns(outcome.error) })
          : this.stmt.completeResponse.run({ ...params, responseType: outcome.response.typeUrl, responseValue: outcome.response.value });
        if (result.changes === 1) changes.push({ kind: 'finished', name: lease.name });
        return result.changes === 1;
      }),
    );
  }

  async release(leases: readonly Lease[], now: number): Promise<void> {
    this.write(now, (changes) => {
      for (const lease of leases) {
        const row = this.stmt.release.get({ ...fence(lease), now }) as { method: string } | undefined;
        if (row !== undefined) changes.push({ kind: 'updated', name: lease.name }, { kind: 'available', method: row.method });
      }
    });
  }

  async sweepExpired(now: number, batchSize: number): Promise<number> {
    // Expired rows already read as missing everywhere: nobody needs telling.
    return this.write(now, () => this.stmt.sweep.run({ now, limit: batchSize }).changes);
  }

  async queuePlace(name: string, now: number, limit: number, keyLimit = 1): Promise<QueuePlace | undefined> {
    return this.read(() => {
      const row = this.stmt.queuePlace.get({ name, now, limit, keyLimit }) as { key_held: number; ahead: number } | undefined;
      return row === undefined ? undefined : { keyHeld: row.key_held === 1, ahead: Math.min(row.ahead, limit) };
    });
  }

  async countByState(now: number): Promise<OperationCounts> {
    return this.read(() => {
      const unfinished = this.stmt.countUnfinished.get({ now }) as { pending: number | null; running: number | null };
      const done = this.stmt.countDone.get({ now }) as number;
      return { pending: unfinished.pending ?? 0, running: unfinished.running ?? 0, done };
    });
  }

  async claimDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
    if (request.limit <= 0) return [];
    return this.write(request.now, () =>
      (
        this.stmt.claimDeliveries.all({
          holder: request.holder,
          leaseMs: request.leaseMs,
          now: request.now,
          limit: request.limit,
          skipUrls: JSON.stringify(request.skipUrls ?? []),
        }) as DeliveryRow[]
      )
        .sort((a, b) => a.next_attempt_at - b.next_attempt_at)
        .map((row) => ({ delivery: toDelivery(row), lease: { id: row.id, holder: request.holder, claim: row.claim } })),
    );
  }

  async finishAttempt(lease: DeliveryLease, attempt: DeliveryAttempt, now: number): Promise<boolean> {
    return this.write(now, () => {
      const row = this.stmt.finishAttempt.get({ ...lease, ...attemptColumns(attempt, now) }) as { url: string } | undefined;
      if (row === undefined) return false;
      if (attempt.kind === 'gone') {
        this.stmt.markGone.run({ url: row.url, now });
        this.stmt.endGone.run({ url: row.url, now });
      }
      return true;
    });
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    return this.read(() =>
      (
        this.stmt.listDeliveries.all({
          state: query.state ?? null,
          operation: query.operation ?? null,
          after: query.after ?? null,
          limit: query.limit,
        }) as DeliveryRow[]
      ).map(toDelivery),
    );
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    return this.read(() => {
      const row = this.stmt.getDelivery.get({ id }) as DeliveryRow | undefined;
      return row === undefined ? undefined : toDelivery(row);
    });
  }

  async retryDelivery(id: string, now: number): Promise<DeliveryRecord | undefined> {
    return this.write(now, () => {
      const row = (this.stmt.retryDelivery.get({ id, now }) ?? this.stmt.getDelivery.get({ id })) as DeliveryRow | undefined;
      if (row === undefined) return undefined;
      if (row.state === 'pending') this.stmt.unmarkGone.run({ url: row.url });
      return toDelivery(row);
    });
  }

  async nextDeliveryDue(): Promise<number | undefined> {
    return this.read(() => (this.stmt.nextDeliveryDue.get() as number | null) ?? undefined);
  }

  async countDeliveries(): Promise<DeliveryCounts> {
    return this.read(() => {
      const counts: DeliveryCounts = { pending: 0, delivered: 0, dead: 0, gone: 0 };
      for (const { state, count } of this.stmt.countDeliveries.all() as { state: keyof DeliveryCounts; count: number }[]) counts[state] = count;
      return counts;
    });
  }

  async sweepDeliveries(before: number, batchSize: number): Promise<number> {
    return this.write(before, () => this.stmt.sweepDeliveries.run({ before, limit: batchSize }).changes);
  }

  async signingKey(): Promise<Uint8Array> {
    return this.write(0, () => {
      this.stmt.insertMeta.run({ key: 'page_token_key', value: randomBytes(32) });
      return (this.stmt.getMeta.get({ key: 'page_token_key' }) as { value: Buffer }).value;
    });
  }

  async close(): Promise<void> {
    this.changes.close();
    this.recentReads.close();
    await this.connection.close();
  }

  private retentionParams() {
    return { retention: this.retention.retentionMs, keyedRetention: this.retention.keyedRetentionMs };
  }

  private listStatement(sql: string): Database.Statement {
    let statement = this.listStatements.get(sql);
    if (statement === undefined) {
      // Filters vary per caller; keep the cache bounded so hostile filters cannot grow it.
      if (this.listStatements.size >= 256) this.listStatements.clear();
      statement = this.db.prepare(sql);
      this.listStatements.set(sql, statement);
    }
    return statement;
  }

  private read<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw storeError(error);
    }
  }

  /**
   * Runs `body` in an IMMEDIATE transaction that also logs what it changed (`changes`: every
   * process hears; `localChanges`: only this one); subscribers hear after the commit. The read
   * cache stays: no write changes a done operation but its deletion, which names it.
   */
  private write<T>(now: number, body: (changes: StoreChange[], localChanges: StoreChange[]) => T): T {
    let changes: StoreChange[] = [];
    let localChanges: StoreChange[] = [];
    try {
      const result = this.inTransaction.immediate(() => {
        changes = [];
        localChanges = [];
        const value = body(changes, localChanges);
        changes = distinctChanges(changes);
        this.changes.log(changes, now || Date.now());
        return value;
      }) as T;
      this.changes.publish([...changes, ...localChanges]);
      return result;
    } catch (error) {
      throw storeError(error);
    }
  }
}
