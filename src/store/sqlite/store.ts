/**
 * The embedded store: one SQLite file in WAL mode through better-sqlite3.
 *
 * better-sqlite3 is synchronous, so every method runs its statements to completion (and commits)
 * before its promise settles; a creation is acknowledged only once it is in the WAL. Writes that
 * read first use IMMEDIATE transactions, so concurrent processes on one file serialize instead of
 * failing with SQLITE_BUSY on upgrade.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { Code, LongrunError } from '../../domain/errors.js';
import type { AnyMessage, Lease, OperationError, OperationRecord } from '../../domain/operation.js';
import type {
  CancelOutcome,
  ClaimRequest,
  Completion,
  CreateResult,
  DeleteOutcome,
  HeartbeatResult,
  ListQuery,
  NewOperation,
  OperationCounts,
  OperationStore,
  ProgressUpdate,
  RetentionPolicy,
} from '../types.js';
import { filterToSql } from './filter-sql.js';
import { migrations } from './migrations/index.js';

/**
 * `NORMAL` (default): in WAL mode a commit survives a crash of the process (kill -9) but the last
 * commits may be lost if the machine loses power. `FULL`: every commit is fsynced before it is
 * acknowledged, surviving power loss at the cost of one fsync per write.
 */
export type SqliteSynchronous = 'NORMAL' | 'FULL';

export interface SqliteStoreOptions extends RetentionPolicy {
  /** Path of the database file; its folder is created if missing. */
  path: string;
  synchronous?: SqliteSynchronous;
  /** How long a write waits for another process's lock before failing (default: 5000 ms). */
  busyTimeoutMs?: number;
  /** Checkpoint the WAL on a worker thread every this many ms (default: 500; 0 = on the main thread). */
  checkpointIntervalMs?: number;
}

/** WAL pages before the main connection checkpoints by itself: only a backstop for the worker. */
const BACKSTOP_AUTOCHECKPOINT_PAGES = 16_384;

/** A row of `operations` as SQLite returns it (`request_*` only when selected). */
export interface OperationRow {
  name: string;
  parent: string;
  method: string;
  owner: string;
  done: number;
  metadata_type: string | null;
  metadata_value: Buffer | null;
  response_type: string | null;
  response_value: Buffer | null;
  error_code: number | null;
  error_message: string | null;
  error_details: string | null;
  progress_percent: number;
  estimated_completion: number | null;
  request_type?: string;
  request_value?: Buffer;
  idempotency_key: string | null;
  request_fingerprint: string | null;
  lease_holder: string | null;
  lease_expires_at: number;
  attempt: number;
  max_attempts: number;
  cancel_requested: number;
  create_time: number;
  update_time: number;
  done_time: number | null;
  expire_time: number | null;
}

/** Everything but the request, which only a runner needs. */
const READ_COLUMNS = `name, parent, method, owner, done, metadata_type, metadata_value, response_type,
  response_value, error_code, error_message, error_details, progress_percent, estimated_completion,
  idempotency_key, request_fingerprint, lease_holder, lease_expires_at, attempt, max_attempts,
  cancel_requested, create_time, update_time, done_time, expire_time`;

/** Bound on the recent-reads cache; it is cleared whole when full (it refills from hot names). */
const RECENT_READS_MAX = 10_000;

const NOT_EXPIRED = '(expire_time IS NULL OR expire_time > @now)';

/** SQLite result codes that mean "the disk, not the request, is the problem". */
const UNAVAILABLE_CODES = new Set(['SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN']);

export class SqliteOperationStore implements OperationStore {
  private readonly db: Database.Database;
  private readonly retention: RetentionPolicy;
  private readonly listStatements = new Map<string, Database.Statement>();
  /**
   * Operations read since the last commit, for clients polling GetOperation. Valid while no
   * connection has committed: our own writes clear it, and PRAGMA data_version (a few µs, against
   * tens for the row) tells when another process has written.
   */
  private readonly recentReads = new Map<string, OperationRecord>();
  private recentReadsVersion = -1;
  private checkpointer?: Worker;
  private pendingCreates: { op: NewOperation; resolve(result: CreateResult): void; reject(error: unknown): void }[] = [];
  /** One transaction wrapper, reused: better-sqlite3 builds a new one per transaction() call. */
  private readonly inTransaction: Database.Transaction<(body: () => unknown) => unknown>;
  private readonly stmt;

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
    this.retention = { retentionMs: options.retentionMs, keyedRetentionMs: options.keyedRetentionMs };
    migrate(this.db);
    const interval = options.path === ':memory:' ? 0 : (options.checkpointIntervalMs ?? 500);
    if (interval > 0) {
      this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT_PAGES}`);
      this.checkpointer = new Worker(new URL('./checkpoint-worker.js', import.meta.url), {
        workerData: { path: options.path, intervalMs: interval },
      });
      this.checkpointer.unref();
    }
    this.stmt = prepareStatements(this.db);
    this.inTransaction = this.db.transaction((body: () => unknown) => body());
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
      outcomes = this.write(() =>
        batch.map(({ op }) => {
          try {
            return this.insert(op);
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

  private insert(op: NewOperation): CreateResult {
    if (op.idempotencyKey !== undefined) {
      const existing = this.stmt.byKey.get({ owner: op.owner, key: op.idempotencyKey }) as OperationRow | undefined;
      if (existing !== undefined) {
        if (existing.expire_time === null || existing.expire_time > op.createTime) {
          if (existing.request_fingerprint !== (op.requestFingerprint ?? null)) throw keyReused();
          return { operation: toRecord(existing), created: false };
        }
        this.stmt.deleteByName.run({ name: existing.name });
      }
    }
    this.stmt.insert.run({
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
    });
    return {
      created: true,
      operation: {
        name: op.name,
        parent: op.parent,
        method: op.method,
        owner: op.owner,
        done: false,
        ...(op.metadata && { metadata: op.metadata }),
        progressPercent: 0,
        request: op.request,
        ...(op.idempotencyKey !== undefined && { idempotencyKey: op.idempotencyKey }),
        ...(op.requestFingerprint !== undefined && { requestFingerprint: op.requestFingerprint }),
        leaseExpiresAt: 0,
        attempt: 0,
        maxAttempts: op.maxAttempts,
        cancelRequested: false,
        createTime: op.createTime,
        updateTime: op.createTime,
      },
    };
  }

  async get(name: string, now: number): Promise<OperationRecord | undefined> {
    return this.read(() => {
      const version = this.stmt.dataVersion.get() as number;
      if (version !== this.recentReadsVersion) {
        this.recentReads.clear();
        this.recentReadsVersion = version;
      }
      let record = this.recentReads.get(name);
      if (record === undefined) {
        const row = this.stmt.get.get({ name }) as OperationRow | undefined;
        if (row === undefined) return undefined;
        record = toRecord(row);
        if (this.recentReads.size >= RECENT_READS_MAX) this.recentReads.clear();
        this.recentReads.set(name, record);
      }
      return record.expireTime !== undefined && record.expireTime <= now ? undefined : record;
    });
  }

  async list(query: ListQuery): Promise<OperationRecord[]> {
    return this.read(() => {
      const { sql, params } = listSql(query);
      return (this.listStatement(sql).all(...params) as OperationRow[]).map(toRecord);
    });
  }

  async requestCancel(name: string, now: number, error: OperationError): Promise<CancelOutcome> {
    return this.write((): CancelOutcome => {
      const row = this.stmt.get.get({ name, now }) as OperationRow | undefined;
      if (row === undefined) return { kind: 'not_found' };
      if (row.done) return { kind: 'already_done' };
      if (row.lease_holder === null || row.lease_expires_at <= now) {
        // Nobody is running it: it can end right here.
        const finished = this.stmt.finishUnleased.get({
          name,
          now,
          ...errorParams(error),
          ...this.retentionParams(),
        }) as OperationRow;
        return { kind: 'cancelled', operation: toRecord(finished) };
      }
      const flagged = this.stmt.flagCancel.get({ name, now }) as OperationRow;
      return { kind: 'requested', operation: toRecord(flagged) };
    });
  }

  async delete(name: string, now: number): Promise<DeleteOutcome> {
    return this.write((): DeleteOutcome => {
      const row = this.stmt.get.get({ name, now }) as OperationRow | undefined;
      if (row === undefined) return 'not_found';
      if (!row.done) return 'not_done';
      this.stmt.deleteByName.run({ name });
      return 'deleted';
    });
  }

  async claim(request: ClaimRequest): Promise<OperationRecord[]> {
    if (request.limit <= 0) return [];
    return this.write(() =>
      (
        this.stmt.claim.all({
          holder: request.holder,
          method: request.method,
          limit: request.limit,
          leaseExpiresAt: request.leaseExpiresAt,
          now: request.now,
        }) as OperationRow[]
      ).map(toRecord),
    );
  }

  async abortExhausted(now: number, error: (attempts: number) => OperationError): Promise<OperationRecord[]> {
    return this.write(() => {
      const stale = this.stmt.exhausted.all({ now }) as { name: string; attempt: number }[];
      return stale.map(({ name, attempt }) => {
        const row = this.stmt.finishUnleased.get({
          name,
          now,
          ...errorParams(error(attempt)),
          ...this.retentionParams(),
        }) as OperationRow;
        return toRecord(row);
      });
    });
  }

  async heartbeat(leases: readonly Lease[], leaseExpiresAt: number, _now: number): Promise<HeartbeatResult> {
    return this.write(() => {
      const result: HeartbeatResult = { lost: [], cancelRequested: [] };
      for (const lease of leases) {
        const row = this.stmt.heartbeat.get({ ...fence(lease), leaseExpiresAt }) as
          | { cancel_requested: number }
          | undefined;
        if (row === undefined) result.lost.push(lease.name);
        else if (row.cancel_requested) result.cancelRequested.push(lease.name);
      }
      return result;
    });
  }

  async saveProgress(lease: Lease, update: ProgressUpdate, now: number): Promise<boolean> {
    return this.write(() => {
      const changed = this.stmt.progress.run({
        ...fence(lease),
        now,
        percent: update.progressPercent ?? null,
        eta: update.estimatedCompletion ?? null,
        metadataType: update.metadata?.typeUrl ?? null,
        metadataValue: update.metadata?.value ?? null,
      }).changes;
      return changed === 1;
    });
  }

  async complete(completions: readonly Completion[], now: number): Promise<boolean[]> {
    if (completions.length === 0) return [];
    return this.write(() =>
      completions.map(({ lease, outcome, metadata }) => {
        const params = {
          ...fence(lease),
          now,
          ...this.retentionParams(),
          metadataType: metadata?.typeUrl ?? null,
          metadataValue: metadata?.value ?? null,
        };
        const result = outcome.error
          ? this.stmt.completeError.run({ ...params, ...errorParams(outcome.error) })
          : this.stmt.completeResponse.run({
              ...params,
              responseType: outcome.response.typeUrl,
              responseValue: outcome.response.value,
            });
        return result.changes === 1;
      }),
    );
  }

  async release(leases: readonly Lease[], now: number): Promise<void> {
    this.write(() => {
      for (const lease of leases) this.stmt.release.run({ ...fence(lease), now });
    });
  }

  async sweepExpired(now: number, batchSize: number): Promise<number> {
    return this.write(() => this.stmt.sweep.run({ now, limit: batchSize }).changes);
  }

  async countByState(now: number): Promise<OperationCounts> {
    return this.read(() => {
      const unfinished = this.stmt.countUnfinished.get({ now }) as { pending: number | null; running: number | null };
      const done = this.stmt.countDone.get({ now }) as number;
      return { pending: unfinished.pending ?? 0, running: unfinished.running ?? 0, done };
    });
  }

  async signingKey(): Promise<Uint8Array> {
    return this.write(() => {
      this.stmt.insertMeta.run({ key: 'page_token_key', value: randomBytes(32) });
      return (this.stmt.getMeta.get({ key: 'page_token_key' }) as { value: Buffer }).value;
    });
  }

  async close(): Promise<void> {
    const checkpointer = this.checkpointer;
    this.checkpointer = undefined;
    // Stopping mid-checkpoint is safe: SQLite checkpoints survive being cut off like any crash.
    if (checkpointer) {
      checkpointer.ref();
      await checkpointer.terminate();
    }
    if (this.db.open) this.db.close();
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

  private write<T>(body: () => T): T {
    try {
      return this.inTransaction.immediate(body) as T;
    } catch (error) {
      throw storeError(error);
    } finally {
      this.recentReads.clear();
    }
  }
}

function migrate(db: Database.Database): void {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const pending = migrations.filter((migration) => migration.version > version());
  for (const migration of pending) {
    db.transaction(() => {
      if (version() >= migration.version) return; // another process got there first
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}

/** The statement `list` runs for `query`, and its parameters (exported so tests can check its query plan). */
export function listSql(query: ListQuery): { sql: string; params: (string | number)[] } {
  const where = ['parent = ?', NOT_EXPIRED.replace('@now', '?')];
  const params: (string | number)[] = [query.parent, query.now];
  if (query.owner !== undefined) {
    where.unshift('owner = ?');
    params.unshift(query.owner);
  }
  if (query.after !== undefined) {
    // `create_time <= ?` is the part an index can seek to, so page 100 starts where page 99
    // ended instead of scanning past the first 99 pages; the OR alone is not sargable. It goes
    // before the filter: SQLite takes the first upper bound it meets on create_time, and the
    // cursor's is always at least as tight as a filter's.
    where.push('create_time <= ?', '(create_time < ? OR (create_time = ? AND name < ?))');
    params.push(query.after.createTime, query.after.createTime, query.after.createTime, query.after.name);
  }
  if (query.filter !== undefined) {
    const filter = filterToSql(query.filter);
    where.push(filter.sql);
    params.push(...filter.params);
  }
  const sql = `SELECT ${READ_COLUMNS} FROM operations WHERE ${where.join(' AND ')}
    ORDER BY create_time DESC, name DESC LIMIT ?`;
  params.push(query.limit);
  return { sql, params };
}

/** The SQL of every fixed statement the store prepares, by name (for tests of their query plans). */
export function statementSql(db: Database.Database): Record<string, string> {
  return Object.fromEntries(Object.entries(prepareStatements(db)).map(([name, statement]) => [name, statement.source]));
}

function prepareStatements(db: Database.Database) {
  const doneFields = `done = 1, lease_holder = NULL, lease_expires_at = 0, update_time = @now, done_time = @now,
    expire_time = @now + CASE WHEN idempotency_key IS NULL THEN @retention ELSE MAX(@retention, @keyedRetention) END`;
  const fenced = 'name = @name AND lease_holder = @holder AND attempt = @attempt AND done = 0';
  const errorFields = 'error_code = @errorCode, error_message = @errorMessage, error_details = @errorDetails';
  return {
    get: db.prepare(`SELECT ${READ_COLUMNS} FROM operations WHERE name = @name`),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    byKey: db.prepare(`SELECT ${READ_COLUMNS} FROM operations WHERE owner = @owner AND idempotency_key = @key`),
    insert: db.prepare(`INSERT INTO operations (name, parent, method, owner, metadata_type, metadata_value,
        request_type, request_value, idempotency_key, request_fingerprint, max_attempts, create_time, update_time)
      VALUES (@name, @parent, @method, @owner, @metadataType, @metadataValue, @requestType, @requestValue, @key,
        @fingerprint, @maxAttempts, @now, @now)`),
    deleteByName: db.prepare('DELETE FROM operations WHERE name = @name'),
    finishUnleased: db.prepare(`UPDATE operations SET ${doneFields}, ${errorFields}
      WHERE name = @name AND done = 0 RETURNING ${READ_COLUMNS}`),
    flagCancel: db.prepare(`UPDATE operations SET cancel_requested = 1, update_time = @now
      WHERE name = @name RETURNING ${READ_COLUMNS}`),
    claim: db.prepare(`UPDATE operations
      SET lease_holder = @holder, lease_expires_at = @leaseExpiresAt, attempt = attempt + 1, update_time = @now
      WHERE name IN (
        SELECT name FROM operations INDEXED BY operations_claim
        WHERE method = @method AND done = 0 AND lease_expires_at <= @now AND attempt < max_attempts
        ORDER BY create_time LIMIT @limit)
      RETURNING *`),
    exhausted: db.prepare(`SELECT name, attempt FROM operations INDEXED BY operations_lease
      WHERE done = 0 AND lease_expires_at > 0 AND lease_expires_at <= @now AND attempt >= max_attempts`),
    heartbeat: db.prepare(`UPDATE operations SET lease_expires_at = @leaseExpiresAt WHERE ${fenced}
      RETURNING cancel_requested`),
    progress: db.prepare(`UPDATE operations SET
        progress_percent = COALESCE(@percent, progress_percent),
        estimated_completion = COALESCE(@eta, estimated_completion),
        metadata_type = COALESCE(@metadataType, metadata_type),
        metadata_value = COALESCE(@metadataValue, metadata_value),
        update_time = @now
      WHERE ${fenced}`),
    completeResponse: db.prepare(`UPDATE operations SET ${doneFields},
        response_type = @responseType, response_value = @responseValue, progress_percent = 100,
        metadata_type = COALESCE(@metadataType, metadata_type), metadata_value = COALESCE(@metadataValue, metadata_value)
      WHERE ${fenced}`),
    completeError: db.prepare(`UPDATE operations SET ${doneFields}, ${errorFields},
        metadata_type = COALESCE(@metadataType, metadata_type), metadata_value = COALESCE(@metadataValue, metadata_value)
      WHERE ${fenced}`),
    release: db.prepare(`UPDATE operations SET lease_holder = NULL, lease_expires_at = 0, attempt = attempt - 1
      WHERE ${fenced}`),
    sweep: db.prepare(`DELETE FROM operations WHERE name IN (
        SELECT name FROM operations WHERE expire_time IS NOT NULL AND expire_time <= @now LIMIT @limit)`),
    // Unfinished rows through the claim index (done = 0); done ones counted in the expiry index
    // (every done row has an expire_time), so neither walks the table.
    countUnfinished: db.prepare(`SELECT SUM(lease_expires_at <= @now) AS pending, SUM(lease_expires_at > @now) AS running
      FROM operations INDEXED BY operations_claim WHERE done = 0`),
    countDone: db.prepare(`SELECT COUNT(*) FROM operations INDEXED BY operations_expiry
      WHERE expire_time IS NOT NULL AND expire_time > @now`).pluck(),
    insertMeta: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (@key, @value)'),
    getMeta: db.prepare('SELECT value FROM meta WHERE key = @key'),
  };
}

function fence(lease: Lease) {
  return { name: lease.name, holder: lease.holder, attempt: lease.attempt };
}

function errorParams(error: OperationError) {
  return {
    errorCode: error.code,
    errorMessage: error.message,
    errorDetails: error.details.length === 0 ? null : JSON.stringify(error.details.map(encodeAny)),
  };
}

function encodeAny(any: AnyMessage) {
  return { typeUrl: any.typeUrl, value: Buffer.from(any.value).toString('base64') };
}

function decodeAny(any: { typeUrl: string; value: string }): AnyMessage {
  return { typeUrl: any.typeUrl, value: Buffer.from(any.value, 'base64') };
}

function toRecord(row: OperationRow): OperationRecord {
  const record: OperationRecord = {
    name: row.name,
    parent: row.parent,
    method: row.method,
    owner: row.owner,
    done: row.done === 1,
    progressPercent: row.progress_percent,
    leaseExpiresAt: row.lease_expires_at,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    cancelRequested: row.cancel_requested === 1,
    createTime: row.create_time,
    updateTime: row.update_time,
  };
  if (row.metadata_type !== null && row.metadata_value !== null) {
    record.metadata = { typeUrl: row.metadata_type, value: row.metadata_value };
  }
  if (row.response_type !== null && row.response_value !== null) {
    record.response = { typeUrl: row.response_type, value: row.response_value };
  }
  if (row.error_code !== null) {
    record.error = {
      code: row.error_code as Code,
      message: row.error_message ?? '',
      details: row.error_details === null ? [] : (JSON.parse(row.error_details) as { typeUrl: string; value: string }[]).map(decodeAny),
    };
  }
  if (row.request_type !== undefined && row.request_value !== undefined) {
    record.request = { typeUrl: row.request_type, value: row.request_value };
  }
  if (row.estimated_completion !== null) record.estimatedCompletion = row.estimated_completion;
  if (row.idempotency_key !== null) record.idempotencyKey = row.idempotency_key;
  if (row.request_fingerprint !== null) record.requestFingerprint = row.request_fingerprint;
  if (row.lease_holder !== null) record.leaseHolder = row.lease_holder;
  if (row.done_time !== null) record.doneTime = row.done_time;
  if (row.expire_time !== null) record.expireTime = row.expire_time;
  return record;
}

function keyReused(): LongrunError {
  return new LongrunError(
    Code.INVALID_ARGUMENT,
    'idempotency-key: this key was already used with a different request',
    'IDEMPOTENCY_KEY_REUSED',
    { metadata: { field: 'idempotency-key' } },
  );
}

function storeError(error: unknown): unknown {
  if (error instanceof LongrunError) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && [...UNAVAILABLE_CODES].some((prefix) => code.startsWith(prefix))) {
    return new LongrunError(Code.UNAVAILABLE, `the operation store cannot be written right now: ${storeTrouble(code)} (${code}); retry later`, 'STORE_UNAVAILABLE', {
      cause: error,
    });
  }
  return error;
}

/** What an operator should look at, in words, for each "the disk is the problem" code. */
function storeTrouble(code: string): string {
  if (code.startsWith('SQLITE_FULL')) return 'the disk is full';
  if (code.startsWith('SQLITE_READONLY')) return 'the database is read-only';
  if (code.startsWith('SQLITE_BUSY')) return 'another process holds the database lock';
  if (code.startsWith('SQLITE_CANTOPEN')) return 'the database file cannot be opened';
  return 'the disk reported an I/O error';
}
