/**
 * The operation record and the facts about it that hold in every store.
 *
 * Glossary:
 * - operation: one unit of long-running work, named `operations/{id}` or `{parent}/operations/{id}`.
 * - pending: not done and not leased; running: not done and leased to a runner.
 * - lease: the right of one runner (`leaseHolder`) to execute an operation until `leaseExpiresAt`;
 *   `attempt` counts claims, and (holder, attempt) together are the fence a write must present.
 * - retention: how long a done operation stays readable before it behaves as NOT_FOUND.
 * Times are milliseconds since the Unix epoch.
 */
import { Code, LongrunError } from './errors.js';

/** A `google.protobuf.Any` as stored: the full type URL and the serialized message. */
export interface AnyMessage {
  typeUrl: string;
  value: Uint8Array;
}

/** A `google.rpc.Status` with a real (non-zero) code. */
export interface OperationError {
  code: Code;
  message: string;
  details: AnyMessage[];
}

export type OperationState = 'PENDING' | 'RUNNING' | 'DONE';

export interface OperationRecord {
  name: string;
  /** '' for top-level operations, else e.g. `projects/p/locations/l`. */
  parent: string;
  /** Full gRPC method that started it, e.g. `/google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles`. */
  method: string;
  owner: string;
  done: boolean;
  metadata?: AnyMessage;
  /** Exactly one of response / error is set when done. */
  response?: AnyMessage;
  error?: OperationError;
  progressPercent: number;
  estimatedCompletion?: number;
  /** The handler's request, so any process can (re)run it; only claimed records carry it. */
  request?: AnyMessage;
  idempotencyKey?: string;
  requestFingerprint?: string;
  leaseHolder?: string;
  /** 0 when not leased. */
  leaseExpiresAt: number;
  attempt: number;
  maxAttempts: number;
  cancelRequested: boolean;
  createTime: number;
  updateTime: number;
  doneTime?: number;
  /** When a done operation stops being readable. */
  expireTime?: number;
  /** How HTTP answers it (absent: 'async', as every operation was answered before styles existed). */
  answerStyle?: AnswerStyle;
  /**
   * Not claimed before this time (0: at once): the caller's start time, then after a failed
   * attempt the time its retry is due (see ../methods/retry-policy.ts).
   */
  runAfter: number;
  /** Higher runs first among due operations of a method (default 0, PRIORITY_RANGE). */
  priority: number;
  /**
   * At most one operation per key runs at once, across every process on the store, or as many as
   * the method's `concurrencyPerKey` (up to MAX_CONCURRENCY_PER_KEY).
   */
  concurrencyKey?: string;
  /** The handler's signal aborts this long after a run starts, and the operation ends DEADLINE_EXCEEDED. */
  timeoutMs?: number;
  /** Not started (claimed) by then: it ends DEADLINE_EXCEEDED without starting. */
  startDeadline?: number;
  /** The error of the last failed attempt while a retry waits (cleared by nothing: the next failure replaces it). */
  lastError?: { code: Code; message: string };
  /**
   * The creating call's trace context as its propagator wrote it (W3C `traceparent`, `tracestate`),
   * so whichever process runs the operation or sends its callbacks continues that trace.
   */
  traceContext?: TraceCarrier;
  /** The operation this one re-runs (same request), when it was made by a re-run. */
  rerunOf?: string;
}

/** Propagation headers (`traceparent`, `tracestate`...) by lower-case name. */
export type TraceCarrier = Readonly<Record<string, string>>;

/**
 * The two HTTP answers to a long-running call. 'google': 200 with the Operation and never
 * Retry-After, as Google's APIs answer (their clients resend a 2xx that carries Retry-After).
 * 'async': the async request-reply pattern's 202 with Location, Operation-Location and Retry-After.
 */
export type AnswerStyle = 'google' | 'async';

export function answerStyleOf(record: Pick<OperationRecord, 'answerStyle'>): AnswerStyle {
  return record.answerStyle ?? 'async';
}

export function stateOf(op: Pick<OperationRecord, 'done' | 'leaseHolder'>): OperationState {
  if (op.done) return 'DONE';
  return op.leaseHolder === undefined ? 'PENDING' : 'RUNNING';
}

/** The fence a runner presents to write to an operation it claimed. */
export interface Lease {
  name: string;
  holder: string;
  attempt: number;
}

export type OperationOutcome = { response: AnyMessage; error?: undefined } | { error: OperationError; response?: undefined };

/**
 * Largest serialized metadata or response one operation may carry. Every GetOperation reply must
 * fit a client's default 4 MiB receive limit, and a ListOperations page carries many operations.
 */
export const MAX_OPERATION_PAYLOAD_BYTES = 1024 * 1024;

/** Throws payloadTooLarge when `payload` (a handler's metadata or response) is over the limit. */
export function checkPayloadSize(what: 'metadata' | 'response', payload: AnyMessage): AnyMessage {
  if (payload.value.length > MAX_OPERATION_PAYLOAD_BYTES) throw payloadTooLarge(what, payload.value.length);
  return payload;
}

/** RESOURCE_EXHAUSTED naming the limit: what an operation ends with when its handler produced too much. */
export function payloadTooLarge(what: 'metadata' | 'response' | 'error message', bytes: number): LongrunError {
  return new LongrunError(
    Code.RESOURCE_EXHAUSTED,
    `the operation's ${what} is ${bytes} bytes serialized; the limit is ${MAX_OPERATION_PAYLOAD_BYTES} (MAX_OPERATION_PAYLOAD_BYTES)`,
    'PAYLOAD_TOO_LARGE',
    { metadata: { field: what, limit: String(MAX_OPERATION_PAYLOAD_BYTES) } },
  );
}

/**
 * Most operations of one concurrency key a method may let run at once (`concurrencyPerKey`): a
 * claim looks up at most this many slots of a key (see ../store/sql/policies.ts).
 */
export const MAX_CONCURRENCY_PER_KEY = 1000;

/** Idempotency keys stay usable at least this long, whatever the retention (AIP-155 suggests a day). */
export const MIN_IDEMPOTENCY_KEY_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** The error of an operation stopped by CancelOperation (google.rpc.Code.CANCELLED). */
export const CANCELLED_ERROR: OperationError = {
  code: Code.CANCELLED,
  message: 'the operation was cancelled',
  details: [],
};
