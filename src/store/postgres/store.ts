/**
 * The store for many processes: one PostgreSQL database through a `pg` pool. Every method is one
 * statement (one round trip, its own transaction) except where noted; guards are in the writes
 * (statements.ts), lease times come from the database clock, and the NOTIFY telling other
 * processes commits with the write.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { AnyMessage, Lease, OperationError, OperationRecord } from '../../domain/operation.js';
import { ReadCache } from '../read-cache.js';
import { POSTGRES_DIALECT } from '../sql/dialect.js';
import { claimScan } from '../sql/policies.js';
import { attemptColumns, callbacksColumn, toDelivery, type DeliveryRow } from '../sql/deliveries.js';
import { listStatement } from '../sql/list.js';
import { errorColumns, fence, keyHolderVerdict, keyReused, newRecord, policyParams, requestOf, toRecord, traceContextColumn, type OperationRow, type RequestRow } from '../sql/rows.js';
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
import { createPool, quoteIdentifier, type PoolOptions } from './connection.js';
import { storeError } from './errors.js';
import { LongrunError } from '../../domain/errors.js';
import { PostgresChangeFeed, type ListenerEvents } from './feed.js';
import { migrate } from './migrations/index.js';
import { prepareStatements, valuesOf, type Statement, type Statements } from './statements.js';
import { DEFAULTS } from '../../defaults.js';

export interface PostgresStoreOptions extends RetentionPolicy, PoolOptions {
  /** Schema holding longrun's tables (default: longrun); created if missing. */
  schema?: string;
  /** A session-mode URL for the LISTEN connection when `url` is a transaction-mode pooler (default: `url`). */
  listenUrl?: string;
  /** Polling backstop: while the LISTEN connection is down, waiters and runners re-read this often (default: DEFAULTS.pollMs). */
  pollMs?: number;
  /** Told when the LISTEN connection is lost and when it is back. */
  listenerEvents?: ListenerEvents;
  /** Told when a change-feed subscriber throws (default: a process warning). */
  onSubscriberError?: SubscriberErrorHandler;
}

export const DEFAULT_PG_SCHEMA = 'longrun';

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

export class PostgresOperationStore implements OperationStore {
  readonly changes: PostgresChangeFeed;
  private readonly pool: pg.Pool;
  private readonly stmt: Statements;
  private readonly retention: RetentionPolicy;
  private readonly origin = randomBytes(8).toString('hex');
  private readonly recentReads: ReadCache;
  private readonly table: string;
  private pendingCreates: { op: NewOperation; resolve(result: CreateResult): void; reject(error: unknown): void }[] = [];

  private constructor(options: PostgresStoreOptions, pool: pg.Pool, schema: string) {
    this.pool = pool;
    this.retention = { retentionMs: options.retentionMs, keyedRetentionMs: options.keyedRetentionMs };
    this.stmt = prepareStatements(schema, quoteIdentifier(schema));
    this.table = `${quoteIdentifier(schema)}.operations`;
    this.changes = new PostgresChangeFeed({
      listenUrl: options.listenUrl ?? options.url,
      schema,
      origin: this.origin,
      pollMs: options.pollMs ?? DEFAULTS.pollMs,
      ...(options.listenerEvents !== undefined && { events: options.listenerEvents }),
      ...(options.onSubscriberError !== undefined && { onSubscriberError: options.onSubscriberError }),
    });
    this.recentReads = new ReadCache(this.changes);
  }

  /** Connects, migrates (any process may be first) and starts listening. */
  static async open(options: PostgresStoreOptions): Promise<PostgresOperationStore> {
    const schema = options.schema ?? DEFAULT_PG_SCHEMA;
    const pool = createPool(options);
    try {
      await migrate(pool, schema, quoteIdentifier(schema));
      const store = new PostgresOperationStore(options, pool, schema);
      await store.changes.start();
      return store;
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw storeError(error);
    }
  }

  /**
   * Creations that arrive in the same event-loop turn go in one statement (group commit); each
   * promise settles after that commit. A creation whose idempotency key is taken goes the single
   * way, which returns the key's holder.
   */
  create(op: NewOperation): Promise<CreateResult> {
    return new Promise((resolve, reject) => {
      this.pendingCreates.push({ op, resolve, reject });
      if (this.pendingCreates.length === 1) setImmediate(() => void this.flushCreates());
    });
  }

  private async flushCreates(): Promise<void> {
    const batch = this.pendingCreates;
    this.pendingCreates = [];
    let inserted: Set<string>;
    try {
      const ops = batch.map((pending) => pending.op);
      const rows = await this.rows<{ name: string }>(this.stmt.insertMany, {
        names: ops.map((op) => op.name),
        parents: ops.map((op) => op.parent),
        methods: ops.map((op) => op.method),
        owners: ops.map((op) => op.owner),
        metadataTypes: ops.map((op) => op.metadata?.typeUrl ?? null),
        metadataValues: ops.map((op) => (op.metadata ? Buffer.from(op.metadata.value) : null)),
        requestTypes: ops.map((op) => op.request.typeUrl),
        requestValues: ops.map((op) => Buffer.from(op.request.value)),
        keys: ops.map((op) => op.idempotencyKey ?? null),
        fingerprints: ops.map((op) => op.requestFingerprint ?? null),
        maxAttempts: ops.map((op) => op.maxAttempts),
        createTimes: ops.map((op) => op.createTime),
        callbacks: ops.map((op) => callbacksColumn(op.callbacks)),
        answerStyles: ops.map((op) => op.answerStyle ?? null),
        runAfters: ops.map((op) => op.runAfter ?? 0),
        priorities: ops.map((op) => op.priority ?? 0),
        concurrencyKeys: ops.map((op) => op.concurrencyKey ?? null),
        timeouts: ops.map((op) => op.timeoutMs ?? null),
        startDeadlines: ops.map((op) => op.startDeadline ?? null),
        traceContexts: ops.map((op) => traceContextColumn(op.traceContext)),
        rerunOfs: ops.map((op) => op.rerunOf ?? null),
      });
      inserted = new Set(rows.map((row) => row.name));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
      return;
    }
    this.tell(...[...new Set(batch.filter(({ op }) => inserted.has(op.name)).map(({ op }) => op.method))].map((method): StoreChange => ({ kind: 'available', method })));
    for (const { op, resolve, reject } of batch) {
      if (inserted.has(op.name)) resolve({ created: true, operation: newRecord(op) });
      else this.createOne(op).then(resolve, reject);
    }
  }

  private async createOne(op: NewOperation): Promise<CreateResult> {
    const params = {
      name: op.name,
      parent: op.parent,
      method: op.method,
      owner: op.owner,
      metadataType: op.metadata?.typeUrl ?? null,
      metadataValue: op.metadata ? Buffer.from(op.metadata.value) : null,
      requestType: op.request.typeUrl,
      requestValue: Buffer.from(op.request.value),
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
      const [inserted] = await this.rows<{ inserted: number }>(this.stmt.insert, params);
      if (inserted?.inserted === 1) {
        this.changes.publish([{ kind: 'available', method: op.method }]);
        return { created: true, operation: newRecord(op) };
      }
      const [existing] = await this.rows<OperationRow>(this.stmt.byKey, { owner: op.owner, key: op.idempotencyKey });
      if (existing === undefined) continue; // its holder was deleted in between: insert again
      const verdict = keyHolderVerdict(existing, op);
      if (verdict === 'reused') throw keyReused();
      if (verdict === 'same') return { operation: toRecord(existing), created: false };
      await this.rows(this.stmt.deleteExpiredKeyHolder, { owner: op.owner, key: op.idempotencyKey, now: op.createTime });
    }
  }

  async get(name: string, now: number): Promise<OperationRecord | undefined> {
    // Only done operations are cached: they change no more, and only a delete (told by the feed,
    // trusted while the listener is connected) ends them. Unfinished ones are read fresh, so a read
    // after another process's write always sees it.
    let record = this.changes.live ? this.recentReads.get(name) : undefined;
    if (record === undefined) {
      const [row] = await this.rows<OperationRow>(this.stmt.get, { name });
      if (row === undefined) return undefined;
      record = toRecord(row);
      if (record.done && this.changes.live) this.recentReads.set(record);
    }
    return record.expireTime !== undefined && record.expireTime <= now ? undefined : record;
  }

  async getRequest(name: string, now: number): Promise<AnyMessage | undefined> {
    const [row] = await this.rows<RequestRow>(this.stmt.getRequest, { name });
    return requestOf(row, now);
  }

  async list(query: ListQuery): Promise<OperationRecord[]> {
    const { sql, params } = listStatement(query, POSTGRES_DIALECT, this.table);
    try {
      return (await this.pool.query<OperationRow>(sql, params)).rows.map(toRecord);
    } catch (error) {
      throw storeError(error);
    }
  }

  /** Two guarded statements: end it if nobody runs it, else flag it. */
  async requestCancel(name: string, now: number, error: OperationError): Promise<CancelOutcome> {
    const [finished] = await this.rows<OperationRow>(this.stmt.cancelPending, { name, now, ...errorColumns(error), ...this.retentionParams() });
    if (finished !== undefined) {
      this.tell({ kind: 'finished', name });
      return { kind: 'cancelled', operation: toRecord(finished) };
    }
    const [flagged] = await this.rows<OperationRow>(this.stmt.flagCancel, { name, now });
    if (flagged !== undefined) {
      this.tell({ kind: 'cancel_requested', name });
      return { kind: 'requested', operation: toRecord(flagged) };
    }
    const [row] = await this.rows<OperationRow>(this.stmt.get, { name });
    return row === undefined || (row.expire_time !== null && row.expire_time <= now) ? { kind: 'not_found' } : { kind: 'already_done' };
  }

  async delete(name: string, now: number): Promise<DeleteOutcome> {
    const deleted = await this.rows(this.stmt.deleteDone, { name, now });
    if (deleted.length === 1) {
      this.tell({ kind: 'deleted', name });
      return 'deleted';
    }
    const [row] = await this.rows<OperationRow>(this.stmt.get, { name });
    return row === undefined || (row.expire_time !== null && row.expire_time <= now) ? 'not_found' : 'not_done';
  }

  async claim(request: ClaimRequest): Promise<OperationRecord[]> {
    if (request.limit <= 0) return [];
    const keyLimit = request.keyLimit ?? 1;
    const statement = keyLimit === 1 ? this.stmt.claim : this.stmt.claimSlots;
    const params = {
      holder: request.holder,
      method: request.method,
      limit: request.limit,
      keyLimit,
      // Always as if keyed: the probe SQLite makes first (anyKeyed) would be a second round trip here.
      scan: claimScan(request.limit),
      leaseMs: request.leaseMs,
      now: request.now,
    };
    let rows: OperationRow[] | undefined;
    for (let tries = 1; rows === undefined; tries++) {
      try {
        rows = await this.rows<OperationRow>(statement, params);
      } catch (error) {
        // Another claim took a slot of the same concurrency key since our snapshot: the unique
        // index refused ours whole. Claim again; the slot's holder is visible now.
        if (!isRunningKeyConflict(error) || tries >= MAX_KEY_CONFLICT_TRIES) throw error;
      }
    }
    this.tell(...rows.map((row): StoreChange => ({ kind: 'updated', name: row.name })));
    return rows.map(toRecord);
  }

  async retry(lease: Lease, error: OperationError, delayMs: number, now: number): Promise<boolean> {
    const rows = await this.rows<{ name: string }>(this.stmt.retry, {
      ...fence(lease),
      now,
      delayMs,
      errorCode: error.code,
      errorMessage: error.message,
    });
    if (rows.length === 0) return false;
    this.tell({ kind: 'updated', name: lease.name });
    return true;
  }

  async expireStartDeadlines(now: number, error: OperationError, limit: number): Promise<OperationRecord[]> {
    const rows = await this.rows<OperationRow>(this.stmt.expireStartDeadlines, {
      now,
      limit,
      ...errorColumns(error),
      ...this.retentionParams(),
    });
    this.tell(...rows.map((row): StoreChange => ({ kind: 'finished', name: row.name })));
    return rows.map(toRecord);
  }

  async abortExhausted(now: number, error: (attempts: number) => OperationError): Promise<OperationRecord[]> {
    const stale = await this.rows<{ name: string; attempt: number }>(this.stmt.exhausted, {});
    const aborted: OperationRecord[] = [];
    for (const { name, attempt } of stale) {
      const [row] = await this.rows<OperationRow>(this.stmt.abortExhausted, { name, attempt, now, ...errorColumns(error(attempt)), ...this.retentionParams() });
      if (row === undefined) continue; // renewed or finished since it was found
      this.tell({ kind: 'finished', name });
      aborted.push(toRecord(row));
    }
    return aborted;
  }

  async heartbeat(leases: readonly Lease[], leaseMs: number, _now: number): Promise<HeartbeatResult> {
    if (leases.length === 0) return { lost: [], cancelRequested: [] };
    const rows = await this.rows<{ name: string; cancel_requested: boolean }>(this.stmt.heartbeat, { ...leaseArrays(leases), leaseMs });
    const renewed = new Map(rows.map((row) => [row.name, row.cancel_requested]));
    return {
      lost: leases.filter((lease) => !renewed.has(lease.name)).map((lease) => lease.name),
      cancelRequested: rows.filter((row) => row.cancel_requested).map((row) => row.name),
    };
  }

  async saveProgress(lease: Lease, update: ProgressUpdate, now: number): Promise<boolean> {
    const rows = await this.rows(this.stmt.progress, {
      ...fence(lease),
      now,
      percent: update.progressPercent ?? null,
      eta: update.estimatedCompletion ?? null,
      metadataType: update.metadata?.typeUrl ?? null,
      metadataValue: update.metadata ? Buffer.from(update.metadata.value) : null,
    });
    if (rows.length === 1) this.tell({ kind: 'updated', name: lease.name });
    return rows.length === 1;
  }

  /** The batch in one statement, each row fenced by its lease. */
  async complete(completions: readonly Completion[], now: number): Promise<boolean[]> {
    if (completions.length === 0) return [];
    const rows = await this.rows<{ name: string }>(this.stmt.completeMany, {
      ...leaseArrays(completions.map((completion) => completion.lease)),
      responseTypes: completions.map(({ outcome }) => outcome.response?.typeUrl ?? null),
      responseValues: completions.map(({ outcome }) => (outcome.response ? Buffer.from(outcome.response.value) : null)),
      errorCodes: completions.map(({ outcome }) => outcome.error?.code ?? null),
      errorMessages: completions.map(({ outcome }) => (outcome.error ? errorColumns(outcome.error).errorMessage : null)),
      errorDetails: completions.map(({ outcome }) => (outcome.error ? errorColumns(outcome.error).errorDetails : null)),
      metadataTypes: completions.map(({ metadata }) => metadata?.typeUrl ?? null),
      metadataValues: completions.map(({ metadata }) => (metadata ? Buffer.from(metadata.value) : null)),
      now,
      ...this.retentionParams(),
    });
    const written = new Set(rows.map((row) => row.name));
    this.tell(...[...written].map((name): StoreChange => ({ kind: 'finished', name })));
    return completions.map(({ lease }) => written.has(lease.name));
  }

  async release(leases: readonly Lease[], _now: number): Promise<void> {
    if (leases.length === 0) return;
    const rows = await this.rows<{ name: string; method: string }>(this.stmt.release, leaseArrays(leases));
    // Released rows are claimable again, by any runner including another of this process's.
    this.tell(...rows.map((row): StoreChange => ({ kind: 'updated', name: row.name })), ...rows.map((row): StoreChange => ({ kind: 'available', method: row.method })));
  }

  async sweepExpired(now: number, batchSize: number): Promise<number> {
    return this.rowCount(this.stmt.sweep, { now, limit: batchSize });
  }

  async queuePlace(name: string, _now: number, limit: number, keyLimit = 1): Promise<QueuePlace | undefined> {
    const [row] = await this.rows<{ key_held: boolean; ahead: string }>(this.stmt.queuePlace, { name, limit, keyLimit });
    return row === undefined ? undefined : { keyHeld: row.key_held, ahead: Math.min(Number(row.ahead), limit) };
  }

  async countByState(now: number): Promise<OperationCounts> {
    const [[unfinished], [done]] = await Promise.all([
      this.rows<{ pending: number; running: number }>(this.stmt.countUnfinished, {}),
      this.rows<{ done: number }>(this.stmt.countDone, { now }),
    ]);
    return { pending: unfinished?.pending ?? 0, running: unfinished?.running ?? 0, done: done?.done ?? 0 };
  }

  async claimDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]> {
    if (request.limit <= 0) return [];
    const rows = await this.rows<DeliveryRow>(this.stmt.claimDeliveries, {
      holder: request.holder,
      leaseMs: request.leaseMs,
      now: request.now,
      limit: request.limit,
      skipUrls: request.skipUrls ?? [],
    });
    return rows
      .sort((a, b) => a.next_attempt_at - b.next_attempt_at)
      .map((row) => ({ delivery: toDelivery(row), lease: { id: row.id, holder: request.holder, claim: row.claim } }));
  }

  async finishAttempt(lease: DeliveryLease, attempt: DeliveryAttempt, now: number): Promise<boolean> {
    const rows = await this.rows(this.stmt.finishAttempt, { ...lease, ...attemptColumns(attempt, now) });
    return rows.length === 1;
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    const rows = await this.rows<DeliveryRow>(this.stmt.listDeliveries, {
      state: query.state ?? null,
      operation: query.operation ?? null,
      after: query.after ?? null,
      limit: query.limit,
    });
    return rows.map(toDelivery);
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    const [row] = await this.rows<DeliveryRow>(this.stmt.getDelivery, { id });
    return row === undefined ? undefined : toDelivery(row);
  }

  async retryDelivery(id: string, now: number): Promise<DeliveryRecord | undefined> {
    const [retried] = await this.rows<DeliveryRow>(this.stmt.retryDelivery, { id, now });
    return retried === undefined ? this.getDelivery(id) : toDelivery(retried);
  }

  async nextDeliveryDue(): Promise<number | undefined> {
    const [row] = await this.rows<{ due: number | null }>(this.stmt.nextDeliveryDue, {});
    return row?.due ?? undefined;
  }

  async countDeliveries(): Promise<DeliveryCounts> {
    const counts: DeliveryCounts = { pending: 0, delivered: 0, dead: 0, gone: 0 };
    for (const { state, count } of await this.rows<{ state: keyof DeliveryCounts; count: number }>(this.stmt.countDeliveries, {})) counts[state] = count;
    return counts;
  }

  async sweepDeliveries(before: number, batchSize: number): Promise<number> {
    return this.rowCount(this.stmt.sweepDeliveries, { before, limit: batchSize });
  }

  async signingKey(): Promise<Uint8Array> {
    await this.rows(this.stmt.insertMeta, { key: 'page_token_key', value: randomBytes(32) });
    const [row] = await this.rows<{ value: Buffer }>(this.stmt.getMeta, { key: 'page_token_key' });
    return row!.value;
  }

  async close(): Promise<void> {
    this.recentReads.close();
    await this.changes.close();
    await this.pool.end();
  }

  private retentionParams() {
    return { retention: this.retention.retentionMs, keyedRetention: this.retention.keyedRetentionMs };
  }

  /** This process's own changes, after their commit: its subscribers hear at once (its NOTIFYs are skipped). */
  private tell(...changes: StoreChange[]): void {
    if (changes.length > 0) this.changes.publish(changes);
  }

  /** How many rows a statement without RETURNING touched. */
  private async rowCount(statement: Statement, params: Record<string, unknown>): Promise<number> {
    try {
      return (await this.pool.query(statement.text, valuesOf(statement, params))).rowCount ?? 0;
    } catch (error) {
      throw storeError(error);
    }
  }

  private async rows<Row = Record<string, unknown>>(statement: Statement, params: Record<string, unknown>): Promise<Row[]> {
    try {
      const result = await this.pool.query(statement.text, valuesOf(statement, { origin: this.origin, ...params }));
      return result.rows as Row[];
    } catch (error) {
      throw storeError(error);
    }
  }
}

function leaseArrays(leases: readonly Lease[]) {
  return {
    names: leases.map((lease) => lease.name),
    holders: leases.map((lease) => lease.holder),
    attempts: leases.map((lease) => lease.attempt),
  };
}

/** Tries of a claim that lost races for concurrency keys before the error is let through. */
const MAX_KEY_CONFLICT_TRIES = 5;

function isRunningKeyConflict(error: unknown): boolean {
  const { code, constraint } = (error instanceof LongrunError ? error.cause : error) as { code?: unknown; constraint?: unknown } ?? {};
  // A deadlock between two claims' key entries is settled the same way (the key locks make it rare).
  return (code === '23505' && constraint === 'operations_running_key') || code === '40P01';
}
