/**
 * The one error type of longrun. Every layer throws it; only `grpc/status.ts` turns it into a
 * wire status, so codes and messages are decided here and nowhere else.
 */

/** google.rpc.Code, by number (the wire values; a test checks them against proto/google/rpc/code.proto). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

const CODE_NAMES = new Map<number, string>(Object.entries(Code).map(([name, value]) => [value, name]));

/** The name of a google.rpc.Code number as gRPC tools print it (`NOT_FOUND`); undefined for a number that is no code. */
export function codeNameOf(code: number): string | undefined {
  return CODE_NAMES.get(code);
}

/** `google.rpc.ErrorInfo.domain` of every error longrun itself raises (AIP-193). */
export const ERROR_DOMAIN = 'longrun';

/**
 * Every `google.rpc.ErrorInfo.reason` longrun itself raises (domain `longrun`), with what it means:
 * one closed table, a stable API, listed in the docs (docs/errors.md, checked by a test). An app's
 * handler raises reasons of its own under its own domain (LongrunErrorOptions.domain).
 */
export const ERROR_REASONS = {
  INVALID_ARGUMENT: 'a request field breaks a rule; metadata.field names it',
  INVALID_FILTER: 'the list filter does not parse or names an unknown field',
  INVALID_PAGE_TOKEN: 'the page token was not issued for this list, or has been tampered with',
  OPERATION_NOT_FOUND: "the caller's operation does not exist (deleted, or expired after its retention)",
  OPERATION_NOT_OWNED: 'the operation is not the caller\'s (also for names that never existed, so names cannot be probed)',
  CREDENTIALS_MISSING: 'no bearer token or client certificate was presented',
  CREDENTIALS_INVALID: 'the token or certificate presented is not known',
  OPERATION_ALREADY_DONE: 'a cancel was asked of an operation that has already ended',
  OPERATION_NOT_DONE: 'a delete or a re-run was asked of an operation that is still running',
  ADMIN_ONLY: "only an admin may ask this (e.g. all_principals: acting on every principal's operations)",
  IDEMPOTENCY_KEY_REUSED: 'the idempotency key was already used with a different request',
  PARTIAL_SUCCESS_UNSUPPORTED: 'return_partial_success: every operation lives in one store',
  METHOD_NOT_IMPLEMENTED: 'this server declares no such long-running method',
  OPERATION_CANCELLED: 'the operation was cancelled (the error a cancelled operation ends with)',
  INVALID_METADATA: "a handler's metadata does not fit the method's metadata type (metadata.field names the field)",
  INVALID_RESPONSE: "a handler's response does not fit the method's response type (metadata.field names the field)",
  PAYLOAD_TOO_LARGE: "a handler's metadata, response or error is over MAX_OPERATION_PAYLOAD_BYTES",
  TOO_MANY_WAITS: 'the principal has too many WaitOperation calls (or Prefer: wait) in progress',
  TOO_MANY_WATCHES: 'the principal has too many watch streams open',
  CALLBACKS_NOT_CONFIGURED: 'a completion callback was asked of a server started without --callback-secret-file',
  CALLBACK_URL_INVALID: 'the callback URL is malformed or points where the address policy forbids',
  STORE_UNAVAILABLE: 'the database cannot be reached or written right now; retry',
  STORE_CANNOT_OPEN: 'the SQLite database file cannot be used (no such folder, no permission, not a database)',
  SHUTTING_DOWN: 'the server is stopping; the operation will be run again elsewhere or after a restart',
  LEASE_LOST: "this runner's lease on the operation was taken over; its run stops and writes nothing",
  ATTEMPTS_EXHAUSTED: 'every attempt of the operation lost its lease before finishing; it ended ABORTED (metadata.attempts)',
  HANDLER_FAILED: 'the handler threw something other than a LongrunError; stored as UNKNOWN, its text only in the log',
  TIMEOUT: "a run took longer than its timeout (the method's, or Longrun-Timeout); the operation ended DEADLINE_EXCEEDED",
  START_DEADLINE_EXCEEDED: 'the operation had not started by its start deadline (Longrun-Start-Deadline); it ended DEADLINE_EXCEEDED',
  TARGET_NOT_EMPTY: 'copy-store was pointed at a database that already holds operations',
  ROUTE_NOT_FOUND: 'no HTTP route has this path',
  METHOD_NOT_ALLOWED: 'the HTTP route exists, but not with this method',
  BODY_TOO_LARGE: 'the HTTP request body is over the limit',
  UNSUPPORTED_MEDIA_TYPE: 'an HTTP request body that is not declared application/json',
  HOST_NOT_ALLOWED: 'the HTTP Host names no name this server answers to (see --http-allowed-hosts)',
  ORIGIN_NOT_ALLOWED: 'a web page of another origin sent the request (see --http-cors-origins)',
  INTERNAL: 'a fault of the server itself; details are in its log, never in the reply',
} as const;

export type ErrorReason = keyof typeof ERROR_REASONS;

/** A packed `google.protobuf.Any` (the same shape as the store's `AnyMessage`). */
export interface ErrorDetail {
  typeUrl: string;
  value: Uint8Array;
}

export interface LongrunErrorOptions {
  /** Extra `ErrorInfo.metadata`, e.g. `{ field: 'page_size' }`. */
  metadata?: Record<string, string>;
  /**
   * More `google.rpc.Status.details` (packed Any messages, e.g. a `google.rpc.RetryInfo` or
   * `BadRequest`). A handler's error keeps them in the operation's stored error, after which
   * longrun adds its own `ErrorInfo`.
   */
  details?: readonly ErrorDetail[];
  /**
   * `ErrorInfo.domain` (default: `longrun`, whose reasons are ERROR_REASONS). An app's handler that
   * raises reasons of its own names its own domain, e.g. `reports.example.com`.
   */
  domain?: string;
  /** Kept for logs only; never sent to clients. */
  cause?: unknown;
}

export class LongrunError extends Error {
  override readonly name = 'LongrunError';
  readonly metadata: Readonly<Record<string, string>>;
  readonly details: readonly ErrorDetail[];
  readonly domain: string;
  readonly reason: ErrorReason | (string & {});

  constructor(code: Code, message: string, reason: ErrorReason, options?: LongrunErrorOptions & { domain?: typeof ERROR_DOMAIN });
  /** An app's own reason, under its own domain. */
  constructor(code: Code, message: string, reason: string, options: LongrunErrorOptions & { domain: string });
  constructor(
    readonly code: Code,
    message: string,
    reason: string,
    options: LongrunErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.metadata = options.metadata ?? {};
    this.details = options.details ?? [];
    this.domain = options.domain ?? ERROR_DOMAIN;
  }
}

/** `field` is the proto field path the caller got wrong, `why` the rule it broke. */
export function invalidArgument(field: string, why: string, reason: ErrorReason = 'INVALID_ARGUMENT'): LongrunError {
  return new LongrunError(Code.INVALID_ARGUMENT, `${field}: ${why}`, reason, { metadata: { field } });
}

export function operationNotFound(name: string): LongrunError {
  return new LongrunError(Code.NOT_FOUND, `operation ${name} does not exist (or has expired)`, 'OPERATION_NOT_FOUND', {
    metadata: { name },
  });
}

/**
 * The same answer for someone else's operation and for a name that does not exist, so a caller
 * cannot learn which names exist (AIP-211); the message says nothing about which it is.
 */
export function operationNotOwned(name: string): LongrunError {
  return new LongrunError(
    Code.PERMISSION_DENIED,
    `operation ${name} is not the caller's: only the principal that created an operation (or an admin) may use it`,
    'OPERATION_NOT_OWNED',
    { metadata: { name } },
  );
}

/** Missing, malformed or unknown credentials; the message never repeats what was presented. */
export function unauthenticated(why: string, reason: 'CREDENTIALS_MISSING' | 'CREDENTIALS_INVALID'): LongrunError {
  return new LongrunError(Code.UNAUTHENTICATED, why, reason);
}
