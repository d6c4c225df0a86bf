/**
 * What a failed run leaves in the operation: a `google.rpc.Status` with the handler's own code,
 * message and details, and one `google.rpc.ErrorInfo` of longrun's (domain `longrun`, a reason
 * from the table in domain/errors.ts, metadata `attempts`) so a client can tell how it ended and
 * after how many runs (AIP-193).
 */
import { Code, ERROR_DOMAIN, LongrunError, type ErrorReason } from '../domain/errors.js';
import { MAX_OPERATION_PAYLOAD_BYTES, payloadTooLarge, type AnyMessage, type OperationError } from '../domain/operation.js';
import { TYPE_URL_PREFIX, type TypeRegistry } from '../protos/registry.js';

export const ERROR_INFO_TYPE = 'google.rpc.ErrorInfo';
export const RETRY_INFO_TYPE = 'google.rpc.RetryInfo';

/** An ErrorInfo of longrun's, packed. */
export function errorInfo(registry: TypeRegistry, reason: ErrorReason | (string & {}), metadata: Record<string, string>, domain = ERROR_DOMAIN): AnyMessage {
  return {
    typeUrl: TYPE_URL_PREFIX + ERROR_INFO_TYPE,
    value: registry.encode(ERROR_INFO_TYPE, { reason, domain, metadata }),
  };
}

/**
 * The stored error of a run that threw `error` on attempt `attempts`. A LongrunError keeps its
 * code, message, details and reason; anything else is UNKNOWN with a generic message (its text
 * may hold internals; it is logged by the caller), reason HANDLER_FAILED. A message or details
 * over the payload limit turn the error into RESOURCE_EXHAUSTED PAYLOAD_TOO_LARGE.
 */
export function storedError(registry: TypeRegistry, error: unknown, attempts: number): OperationError {
  const known =
    error instanceof LongrunError && error.code !== Code.OK
      ? error
      : new LongrunError(Code.UNKNOWN, 'the operation failed with an unexpected error', 'HANDLER_FAILED');
  const bytes = Buffer.byteLength(known.message) + known.details.reduce((sum, detail) => sum + detail.value.length, 0);
  const kept = bytes > MAX_OPERATION_PAYLOAD_BYTES ? payloadTooLarge('error message', bytes) : known;
  return withErrorInfo(
    registry,
    { code: kept.code, message: kept.message, details: [...kept.details] },
    kept.reason,
    { ...kept.metadata, attempts: String(attempts) },
    kept.domain,
  );
}

/** `error` with longrun's ErrorInfo appended to its details. */
export function withErrorInfo(
  registry: TypeRegistry,
  error: OperationError,
  reason: ErrorReason | (string & {}),
  metadata: Record<string, string>,
  domain = ERROR_DOMAIN,
): OperationError {
  return { ...error, details: [...error.details, errorInfo(registry, reason, metadata, domain)] };
}

/** The delay a `google.rpc.RetryInfo` among `details` asks for, in ms; undefined when there is none. */
export function retryDelayOf(registry: TypeRegistry, details: readonly AnyMessage[]): number | undefined {
  const detail = details.find((any) => any.typeUrl === TYPE_URL_PREFIX + RETRY_INFO_TYPE);
  if (detail === undefined) return undefined;
  try {
    const info = registry.decode<{ retryDelay?: { seconds?: string | number; nanos?: number } | null }>(RETRY_INFO_TYPE, detail.value);
    if (info.retryDelay == null) return undefined;
    const ms = Number(info.retryDelay.seconds ?? 0) * 1000 + Math.floor((info.retryDelay.nanos ?? 0) / 1e6);
    return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  } catch {
    return undefined; // a malformed detail is the handler's to fix; the policy's backoff applies
  }
}
