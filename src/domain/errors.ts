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

/** Machine-readable reasons (`google.rpc.ErrorInfo.reason`): UPPER_SNAKE_CASE, stable API. */
export type ErrorReason =
  | 'INVALID_ARGUMENT'
  | 'INVALID_FILTER'
  | 'INVALID_PAGE_TOKEN'
  | 'OPERATION_NOT_FOUND'
  | 'OPERATION_NOT_OWNED'
  | 'CREDENTIALS_MISSING'
  | 'CREDENTIALS_INVALID'
  | 'OPERATION_ALREADY_DONE'
  | 'OPERATION_NOT_DONE'
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'PARTIAL_SUCCESS_UNSUPPORTED'
  | 'METHOD_NOT_IMPLEMENTED'
  | 'OPERATION_CANCELLED'
  | 'ATTEMPTS_EXHAUSTED'
  | 'HANDLER_FAILED'
  | 'LEASE_LOST'
  | 'TIMEOUT'
  | 'START_DEADLINE_EXCEEDED'
  | 'PAYLOAD_TOO_LARGE'
  | 'TOO_MANY_WAITS'
  | 'CALLBACKS_NOT_CONFIGURED'
  | 'CALLBACK_URL_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'SHUTTING_DOWN'
  | 'INTERNAL'
  | (string & {});

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
  /** Kept for logs only; never sent to clients. */
  cause?: unknown;
}

export class LongrunError extends Error {
  override readonly name = 'LongrunError';
  readonly metadata: Readonly<Record<string, string>>;
  readonly details: readonly ErrorDetail[];

  constructor(
    readonly code: Code,
    message: string,
    readonly reason: ErrorReason,
    options: LongrunErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.metadata = options.metadata ?? {};
    this.details = options.details ?? [];
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
