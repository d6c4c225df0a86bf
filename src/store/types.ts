/**
 * The store seam: everything longrun keeps durably goes through this interface, so SQLite (embedded
 * default) and PostgreSQL (many servers, one database) are interchangeable. All methods are async
 * and every write resolves only after it is committed.
 *
 * Records a store returns may be shared with other callers (a store may cache reads): never
 * mutate them.
 *
 * Fencing: methods that take a `Lease` write only while the row is still leased to that holder and
 * attempt; a runner whose lease was taken over writes nothing and is told so.
 */
import type { FilterExpr } from '../domain/filter.js';
import type { PageCursor } from '../domain/page-token.js';
import type { AnyMessage, Lease, OperationError, OperationRecord, OperationOutcome } from '../domain/operation.js';

export interface NewOperation {
  name: string;
  parent: string;
  method: string;
  owner: string;
  request: AnyMessage;
  metadata?: AnyMessage;
  idempotencyKey?: string;
  /** Hash of the request; a reused idempotency key must come with the same one. */
  requestFingerprint?: string;
  maxAttempts: number;
  createTime: number;
}

export interface CreateResult {
  operation: OperationRecord;
  /** false when an operation with the same owner and idempotency key already existed. */
  created: boolean;
}

export type { PageCursor } from '../domain/page-token.js';

export interface ListQuery {
  /** undefined lists every owner's operations. */
  owner?: string;
  parent: string;
  filter?: FilterExpr;
  /** Continue after this row (newest first: strictly older, or same time and smaller name). */
  after?: PageCursor;
  limit: number;
  now: number;
}

export type CancelOutcome =
  | { kind: 'cancelled'; operation: OperationRecord } // was pending: done now with the given error
  | { kind: 'requested'; operation: OperationRecord } // running: flag set, the runner will stop it
  | { kind: 'already_done' }
  | { kind: 'not_found' };

export type DeleteOutcome = 'deleted' | 'not_done' | 'not_found';

export interface ClaimRequest {
  holder: string;
  method: string;
  limit: number;
  leaseExpiresAt: number;
  now: number;
}

export interface ProgressUpdate {
  progressPercent?: number;
  estimatedCompletion?: number;
  metadata?: AnyMessage;
}

export interface Completion {
  lease: Lease;
  outcome: OperationOutcome;
  /** Replaces the metadata in the same write (a handler's final metadata). */
  metadata?: AnyMessage;
}

export interface HeartbeatResult {
  /** Leases that are no longer ours (taken over, or the operation is done/deleted). */
  lost: string[];
  /** Operations whose cancellation was requested. */
  cancelRequested: string[];
}

export interface RetentionPolicy {
  /** How long a done operation stays readable. */
  retentionMs: number;
  /** Floor for operations created with an idempotency key. */
  keyedRetentionMs: number;
}

/** Unexpired operations by state; `pending` includes unfinished ones whose lease ran out (claimable again). */
export interface OperationCounts {
  pending: number;
  running: number;
  done: number;
}

export interface OperationStore {
  /**
   * Inserts the operation, or, when (owner, idempotencyKey) exists, returns that one unchanged.
   * Throws LongrunError IDEMPOTENCY_KEY_REUSED when the key comes with another fingerprint.
   */
  create(op: NewOperation): Promise<CreateResult>;
  /** undefined for unknown and expired operations. */
  get(name: string, now: number): Promise<OperationRecord | undefined>;
  /** Newest first (createTime desc, name desc); never returns expired operations. */
  list(query: ListQuery): Promise<OperationRecord[]>;
  requestCancel(name: string, now: number, error: OperationError): Promise<CancelOutcome>;
  delete(name: string, now: number): Promise<DeleteOutcome>;

  /** Leases up to `limit` pending or lease-expired operations of `method` that have attempts left, oldest first. */
  claim(request: ClaimRequest): Promise<OperationRecord[]>;
  /** Ends lease-expired operations that have used all their attempts; returns them (now done). */
  abortExhausted(now: number, error: (attempts: number) => OperationError): Promise<OperationRecord[]>;
  heartbeat(leases: readonly Lease[], leaseExpiresAt: number, now: number): Promise<HeartbeatResult>;
  /** false when the lease is lost. */
  saveProgress(lease: Lease, update: ProgressUpdate, now: number): Promise<boolean>;
  /** Batched, fenced completion; one boolean per completion, false when its lease is lost. */
  complete(completions: readonly Completion[], now: number): Promise<boolean[]>;
  /** Gives leases back without counting the attempt (graceful shutdown). */
  release(leases: readonly Lease[], now: number): Promise<void>;
  /** Deletes up to `batchSize` expired operations; returns how many. */
  sweepExpired(now: number, batchSize: number): Promise<number>;
  /** For metrics: reads only unfinished rows and an index of done ones, never the whole table. */
  countByState(now: number): Promise<OperationCounts>;

  /** A secret shared by every server on this store, for signing page tokens. */
  signingKey(): Promise<Uint8Array>;
  close(): Promise<void>;
}
