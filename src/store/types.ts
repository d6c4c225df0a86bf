/**
 * The store seam: everything longrun keeps durably goes through this interface, so SQLite (embedded
 * default) and PostgreSQL (many servers, one database) are interchangeable. One contract suite
 * (test/store/contract.ts) holds every backend to what is written here.
 *
 * Glossary:
 * - process: anything holding a store open; several may share one database (N servers, M runners).
 * - atomic: a method's effects commit together or not at all; nobody sees half of them.
 * - guard: the condition that decides whether a write happens. Guards live in the write itself
 *   (`UPDATE ... WHERE`, unique constraints, `INSERT ... ON CONFLICT`), never in a read before it,
 *   so two processes calling at once cannot both pass one.
 * - store clock: what "now" means for leases. On PostgreSQL it is the database's clock: a caller
 *   passes lease *durations*, and a process whose clock is off cannot take or keep a live lease.
 *   SQLite has no clock of its own; there the caller's `now` is the store clock.
 * - `now` parameters: the caller's time, for the timestamps users see (update, done and expire
 *   times) and for reading expiry. Lease decisions never trust them where the store has a clock.
 *
 * All methods are async and every write resolves only after it is committed. Records a store
 * returns may be shared with other callers (a store may cache reads): never mutate them.
 *
 * Fencing: methods that take a `Lease` write only while the row is still leased to that holder and
 * attempt and not done; a runner whose lease was taken over writes nothing and is told so.
 *
 * Errors: a database that cannot be reached or written (down, restarting, disk full, pool
 * exhausted) rejects with LongrunError UNAVAILABLE reason STORE_UNAVAILABLE, never a raw driver error.
 */
import type { FilterExpr } from '../domain/filter.js';
import type { PageCursor } from '../domain/page-token.js';
import type { AnswerStyle, AnyMessage, Lease, OperationError, OperationRecord, OperationOutcome, TraceCarrier } from '../domain/operation.js';

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
  /**
   * Callback URLs (already validated) that are told when the operation ends: the caller's own and
   * its principal's per-server endpoints. Each terminal write inserts one delivery per URL.
   */
  callbacks?: readonly string[];
  /** How the HTTP front answers this operation's creation and polls (kept so every server answers alike). */
  answerStyle?: AnswerStyle;
  /** Not claimed before this time (a start time; default: at once). */
  runAfter?: number;
  /** Higher first among due operations of the method (default 0). */
  priority?: number;
  /** At most one operation with this key is leased at a time, across every process on the store. */
  concurrencyKey?: string;
  /** Execution timeout of each run (the runner enforces it). */
  timeoutMs?: number;
  /** Not started by then: ended by `expireStartDeadlines`, never claimed. */
  startDeadline?: number;
  /** The creating call's trace context (see OperationRecord.traceContext). */
  traceContext?: TraceCarrier;
  /** The operation this one re-runs (kept and shown beside it, never followed by the store). */
  rerunOf?: string;
}

/** Told when a change-feed subscriber throws (the feed goes on; the subscriber's bug is reported). */
export type SubscriberErrorHandler = (error: unknown, change: StoreChange) => void;

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
  /**
   * Operations of one concurrency key that may run at once, across every process on the store
   * (the method's `concurrencyPerKey`; default: 1). A claim takes one of a key only while fewer
   * rows hold a slot of it (see ./sql/policies.ts).
   */
  keyLimit?: number;
  /** Length of the lease; it runs out this long after the claim by the store clock. */
  leaseMs: number;
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

/** Where a waiting operation stands in its method's queue (see OperationStore.queuePlace). */
export interface QueuePlace {
  /** Other operations hold every slot of its concurrency key (running, or leases ran out unreclaimed): no claim takes it until one ends. */
  keyHeld: boolean;
  /** Operations a claim could take now that come before it in claim order, counted up to the limit asked. */
  ahead: number;
}

/** Unexpired operations by state; `pending` includes unfinished ones whose lease ran out (claimable again). */
export interface OperationCounts {
  pending: number;
  running: number;
  done: number;
}

/**
 * What changed in the store, as told to subscribers. A change is a hint: the row is the truth, and
 * a subscriber re-reads what it cares about. `resync` means changes may have been missed (a
 * listener reconnected): re-read everything you wait on.
 */
export type StoreChange =
  | { kind: 'available'; method: string } // created, released, or claimable again
  | { kind: 'updated'; name: string } // progress saved, claimed or released
  | { kind: 'cancel_requested'; name: string }
  | { kind: 'finished'; name: string }
  | { kind: 'deleted'; name: string }
  | { kind: 'resync' };

export type ChangeListener = (change: StoreChange) => void;

/**
 * The change feed: every committed write of any process on the store reaches every subscribed
 * process, this one's at once (synchronously after the commit) and others' within about 100 ms
 * while the feed is live. A change is delivered after its commit, never before. When delivery
 * cannot be promised (PostgreSQL's LISTEN connection is down) subscribers get `resync` every poll
 * interval until it is back, and once more then: re-read whatever you wait on.
 */
export interface ChangeFeed {
  subscribe(listener: ChangeListener): () => void;
}

/**
 * Completion callbacks: a durable outbox. A delivery is one POST of one operation's outcome to one
 * URL, retried until a 2xx, a 410, or the end of the retry schedule.
 *
 * - pending: waiting for its next attempt (`nextAttemptAt`), or leased to a deliverer.
 * - delivered: a 2xx arrived. dead: the schedule ran out. gone: the receiver answered 410 (to this
 *   delivery or to another one to the same URL); nothing more is sent to that URL until an
 *   operator retries one of its deliveries.
 */
export type DeliveryState = 'pending' | 'delivered' | 'dead' | 'gone';

export interface DeliveryRecord {
  /** The Standard Webhooks `webhook-id`: `msg_` + a random id, stable across retries. */
  id: string;
  url: string;
  /** The operation as its terminal write left it (done, with response or error); kept with the delivery, so it outlives the operation. */
  operation: OperationRecord;
  state: DeliveryState;
  /** Attempts made so far. */
  attempts: number;
  /** When a pending delivery is next due. */
  nextAttemptAt: number;
  /** When the outcome committed (the same transaction wrote this delivery). */
  createTime: number;
  updateTime: number;
  deliveredTime?: number;
  /** HTTP status of the last attempt, when one answered. */
  lastStatus?: number;
  /** Why the last attempt failed without a status (timeout, refused, address denied). */
  lastError?: string;
}

/** The fence a deliverer presents, like an operation Lease: (holder, claim) of one claim of `id`. */
export interface DeliveryLease {
  id: string;
  holder: string;
  /** Counts claims of this delivery; a later claim fences out an earlier holder. */
  claim: number;
}

export interface ClaimedDelivery {
  delivery: DeliveryRecord;
  lease: DeliveryLease;
}

export interface DeliveryClaimRequest {
  holder: string;
  limit: number;
  /** The lease runs out this long after the claim by the store clock; an expired lease is claimable again. */
  leaseMs: number;
  now: number;
  /** Receivers at their concurrency cap: claim nothing to these URLs. */
  skipUrls?: readonly string[];
}

/** What one attempt came to. */
export type DeliveryAttempt =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; nextAttemptAt: number; status?: number; error?: string }
  | { kind: 'dead'; status?: number; error?: string }
  /** The receiver answered 410: this delivery and every pending one to its URL end `gone`. */
  | { kind: 'gone'; status: number };

export interface DeliveryQuery {
  state?: DeliveryState;
  /** Only deliveries of this operation. */
  operation?: string;
  /** Continue after this id (newest first: createTime desc, id desc). */
  after?: string;
  limit: number;
}

export interface DeliveryCounts {
  pending: number;
  delivered: number;
  dead: number;
  gone: number;
}

/** The outbox half of the store (see DeliveryState). */
export interface DeliveryOutbox {
  /**
   * Deliveries are written by the terminal writes themselves (complete, requestCancel's
   * `cancelled`, abortExhausted), in the same transaction as the outcome: one per URL of the
   * operation's `callbacks`, due at once (or `gone` when its URL is marked gone). A committed outcome
   * always has its deliveries; an outcome that did not commit has none. No change of its own is
   * emitted: a deliverer hears of new deliveries through `finished`.
   *
   * Leases up to `limit` pending deliveries that are due (nextAttemptAt <= now) and unleased or
   * lease-expired, oldest due first, skipping `skipUrls`; bumps `claim`. Concurrent claimers never
   * get the same delivery. Does not count an attempt: `finishAttempt` does.
   */
  claimDeliveries(request: DeliveryClaimRequest): Promise<ClaimedDelivery[]>;
  /**
   * Records one attempt's result and releases the lease; fenced (false when the lease is lost, and
   * nothing is written). `gone` also marks the URL gone and ends its other pending deliveries `gone`.
   */
  finishAttempt(lease: DeliveryLease, attempt: DeliveryAttempt, now: number): Promise<boolean>;
  /** Newest first; one consistent snapshot. */
  listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  /**
   * An operator's retry: a dead or gone delivery becomes pending, due now, with its attempts reset,
   * and its URL is no longer marked gone. A pending one is made due now. undefined when unknown;
   * a delivered one is returned unchanged. Emits nothing: deliverers also look for due deliveries
   * on a timer.
   */
  retryDelivery(id: string, now: number): Promise<DeliveryRecord | undefined>;
  /** The earliest `nextAttemptAt` of pending deliveries (leased or not), for a deliverer's timer. */
  nextDeliveryDue(): Promise<number | undefined>;
  countDeliveries(): Promise<DeliveryCounts>;
  /** Deletes up to `batchSize` delivered, dead or gone deliveries last updated before `before`; returns how many. */
  sweepDeliveries(before: number, batchSize: number): Promise<number>;

}

export interface OperationStore extends DeliveryOutbox {
  /** Tells subscribers about every committed change, from this process and others. */
  readonly changes: ChangeFeed;
  /**
   * Inserts the operation, or, when (owner, idempotencyKey) exists unexpired, returns that one
   * unchanged. Atomic. Two processes creating with the same owner and key at once get one
   * operation: the unique (owner, idempotency_key) constraint decides, and the loser reads the
   * winner's row. An expired holder of the key is replaced. Throws LongrunError
   * IDEMPOTENCY_KEY_REUSED when the key comes with another fingerprint. Emits `available`.
   */
  create(op: NewOperation): Promise<CreateResult>;
  /**
   * undefined for unknown and expired operations. Reads committed state, including every other
   * process's committed writes to unfinished operations; a done operation may be served from a
   * cache until the feed tells of its deletion.
   */
  get(name: string, now: number): Promise<OperationRecord | undefined>;
  /**
   * The request an operation was created with (records carry it only when claimed): what a re-run
   * starts again. undefined for unknown and expired operations.
   */
  getRequest(name: string, now: number): Promise<AnyMessage | undefined>;
  /** Newest first (createTime desc, name desc); never returns expired operations. One consistent snapshot. */
  list(query: ListQuery): Promise<OperationRecord[]>;
  /**
   * Ends a pending (unleased or lease-expired) operation CANCELLED with `error`, or sets the cancel
   * flag of a running one; each is one guarded UPDATE, so a cancel racing a completion ends with
   * exactly one of them: `cancelled` and the completion's lease lost, or `already_done`, or
   * `requested` (the runner then finishes, CANCELLED or not). Emits `finished` or `cancel_requested`.
   */
  requestCancel(name: string, now: number, error: OperationError): Promise<CancelOutcome>;
  /** Deletes a done, unexpired operation (one guarded DELETE). Emits `deleted`. */
  delete(name: string, now: number): Promise<DeleteOutcome>;

  /**
   * Leases up to `limit` pending or lease-expired operations of `method` that have attempts left,
   * are due (`runAfter` passed by the store clock) and not past an unmet start deadline, whose
   * concurrency key has a slot free, each taking one (at most `keyLimit` of a key run); highest priority first, then by
   * fair-share position, then oldest (see ../store/sql/policies.ts); bumping `attempt`; emits `updated` for each (PostgreSQL tells only this process:
   * nothing in another process waits on a claim). Atomic per call; concurrent claimers never get the same
   * operation (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer at a time).
   */
  claim(request: ClaimRequest): Promise<OperationRecord[]>;
  /**
   * A failed attempt that will run again. Fenced, and only while attempts are left (false
   * otherwise, nothing written): gives the lease and the concurrency key back, keeps `error` as
   * `lastError`, and makes the operation due `delayMs` after now by the store clock; until then no
   * claim of any process takes it, and a restart changes nothing. Emits `updated`.
   */
  retry(lease: Lease, error: OperationError, delayMs: number, now: number): Promise<boolean>;
  /**
   * Ends up to `limit` operations that never started (no attempt, unleased) and whose start
   * deadline has passed by the store clock, with `error`; returns them. Each end is guarded in its
   * UPDATE, so a claim that wins the race starts the operation instead. Emits `finished`.
   */
  expireStartDeadlines(now: number, error: OperationError, limit: number): Promise<OperationRecord[]>;
  /**
   * Ends lease-expired operations that have used all their attempts ABORTED; returns them (now
   * done). Each end is guarded in its UPDATE (still unfinished, lease still expired, same attempt),
   * so a runner that renews or completes meanwhile wins. Emits `finished`.
   */
  abortExhausted(now: number, error: (attempts: number) => OperationError): Promise<OperationRecord[]>;
  /** Extends each lease still ours by `leaseMs` from the store clock; fenced per lease. */
  heartbeat(leases: readonly Lease[], leaseMs: number, now: number): Promise<HeartbeatResult>;
  /** Fenced. false when the lease is lost. Emits `updated`. */
  saveProgress(lease: Lease, update: ProgressUpdate, now: number): Promise<boolean>;
  /** Batched, fenced completion, each atomic; one boolean per completion, false when its lease is lost. Emits `finished`. */
  complete(completions: readonly Completion[], now: number): Promise<boolean[]>;
  /** Gives leases back without counting the attempt (graceful shutdown); fenced. Emits `available`. */
  release(leases: readonly Lease[], now: number): Promise<void>;
  /** Deletes up to `batchSize` expired operations; returns how many. Safe to run in every process at once. */
  sweepExpired(now: number, batchSize: number): Promise<number>;
  /**
   * Where an operation stands in its method's queue, for clients that ask (status monitor, watch),
   * never for claims: whether other rows hold `keyLimit` slots of its concurrency key (its method's
   * `concurrencyPerKey`; default: 1), and how many operations a claim could take now come before it
   * in claim order (see ../store/sql/policies.ts), counted up to `limit` (it reads no more than a few
   * times `limit` rows). Meaningful for an unfinished, due, unleased operation; undefined for an
   * unknown one.
   */
  queuePlace(name: string, now: number, limit: number, keyLimit?: number): Promise<QueuePlace | undefined>;
  /** For metrics: reads only unfinished rows and an index of done ones, never the whole table. */
  countByState(now: number): Promise<OperationCounts>;

  /** A secret shared by every server on this store, for signing page tokens. The first process to ask creates it (INSERT ... ON CONFLICT DO NOTHING); all get the same. */
  signingKey(): Promise<Uint8Array>;
  close(): Promise<void>;
}
