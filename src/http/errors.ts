/**
 * The one mapping from longrun errors to HTTP: Google's table from google.rpc.Code to HTTP
 * statuses (google/rpc/code.proto), a few reasons that HTTP has a better word for, and the AIP-193
 * JSON body `{"error":{"code","message","status","details":[ErrorInfo]}}`. Anything that is not a
 * LongrunError is logged with its cause and answered as a generic INTERNAL.
 */
import { Code, codeNameOf, LongrunError, type ErrorReason } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { TYPE_URL_PREFIX } from '../protos/registry.js';

/** google.rpc.Code to HTTP, as Google's APIs answer (code.proto names each code's HTTP mapping). */
export const HTTP_STATUS_OF_CODE: Readonly<Record<Code, number>> = {
  [Code.OK]: 200,
  [Code.CANCELLED]: 499,
  [Code.UNKNOWN]: 500,
  [Code.INVALID_ARGUMENT]: 400,
  [Code.DEADLINE_EXCEEDED]: 504,
  [Code.NOT_FOUND]: 404,
  [Code.ALREADY_EXISTS]: 409,
  [Code.PERMISSION_DENIED]: 403,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.FAILED_PRECONDITION]: 400,
  [Code.ABORTED]: 409,
  [Code.OUT_OF_RANGE]: 400,
  [Code.UNIMPLEMENTED]: 501,
  [Code.INTERNAL]: 500,
  [Code.UNAVAILABLE]: 503,
  [Code.DATA_LOSS]: 500,
  [Code.UNAUTHENTICATED]: 401,
};

/**
 * Reasons whose HTTP status is more precise than their code's: the same key with another request
 * is 422 (the IETF Idempotency-Key draft), and the gateway's own HTTP-level refusals (a Host that
 * is not this server's is 421 Misdirected Request, RFC 9110 15.5.20).
 */
const HTTP_STATUS_OF_REASON: Readonly<Partial<Record<ErrorReason, number>>> = {
  IDEMPOTENCY_KEY_REUSED: 422,
  BODY_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
  ROUTE_NOT_FOUND: 404,
  HOST_NOT_ALLOWED: 421,
  UNSUPPORTED_MEDIA_TYPE: 415,
};

/** google.rpc.Status's `status` in AIP-193 bodies: UNKNOWN for a number that is no code. */
export function codeName(code: number): string {
  return codeNameOf(code) ?? 'UNKNOWN';
}

export interface HttpError {
  status: number;
  code: Code;
  reason: string;
  body: { error: { code: number; message: string; status: string; details: Record<string, unknown>[] } };
}

/** `statusOverride` is for resources whose contract names its own status (the status monitor's 409). */
export function toHttpError(error: unknown, logger: Logger, route: string, statusOverride?: number): HttpError {
  const known =
    error instanceof LongrunError ? error : new LongrunError(Code.INTERNAL, 'internal error', 'INTERNAL', { cause: error });
  if (known !== error) logger.error({ err: error, route }, 'unexpected error while serving an HTTP request');
  const status = statusOverride ?? HTTP_STATUS_OF_REASON[known.reason as ErrorReason] ?? HTTP_STATUS_OF_CODE[known.code] ?? 500;
  return {
    status,
    code: known.code,
    reason: known.reason,
    body: {
      error: {
        code: status,
        message: known.message,
        status: codeName(known.code),
        details: [
          { '@type': `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`, reason: known.reason, domain: known.domain, metadata: { ...known.metadata } },
        ],
      },
    },
  };
}

export function routeNotFound(method: string, path: string): LongrunError {
  return new LongrunError(Code.NOT_FOUND, `no route for ${method} ${path.slice(0, 200)}; see /openapi.json for the routes`, 'ROUTE_NOT_FOUND');
}

export function methodNotAllowed(method: string, allowed: readonly string[]): LongrunError {
  return new LongrunError(Code.UNIMPLEMENTED, `${method} is not allowed here; allowed: ${allowed.join(', ')}`, 'METHOD_NOT_ALLOWED', {
    metadata: { allow: allowed.join(', ') },
  });
}

export function bodyTooLarge(limit: number): LongrunError {
  return new LongrunError(Code.RESOURCE_EXHAUSTED, `the request body is over ${limit} bytes (MAX_BODY_BYTES)`, 'BODY_TOO_LARGE', {
    metadata: { limit: String(limit) },
  });
}

/** The browser-safety refusals (origin-policy.ts): each names the option that would let the request in. */
export function hostNotAllowed(host: string): LongrunError {
  return new LongrunError(
    Code.PERMISSION_DENIED,
    `Host ${host.slice(0, 200)} is not a name this server answers to (a page on another name could be rebinding it to this address); ` +
      'allow the name with --http-allowed-hosts (allowedHosts when embedded), or * behind a proxy that checks Host',
    'HOST_NOT_ALLOWED',
    { metadata: { host: host.slice(0, 200), option: '--http-allowed-hosts' } },
  );
}

export function originNotAllowed(origin: string): LongrunError {
  return new LongrunError(
    Code.PERMISSION_DENIED,
    `requests from pages of ${origin.slice(0, 200)} are refused: it is not this server's origin; ` +
      'allow it with --http-cors-origins (corsOrigins when embedded)',
    'ORIGIN_NOT_ALLOWED',
    { metadata: { origin: origin.slice(0, 200), option: '--http-cors-origins' } },
  );
}

export function unsupportedMediaType(type: string | undefined): LongrunError {
  return new LongrunError(
    Code.INVALID_ARGUMENT,
    `${type === undefined ? 'a body without a Content-Type' : `Content-Type ${type.slice(0, 100)}`} is not accepted: ` +
      'request bodies are JSON and must say so with Content-Type: application/json',
    'UNSUPPORTED_MEDIA_TYPE',
    { metadata: { field: 'Content-Type', ...(type !== undefined && { contentType: type.slice(0, 100) }) } },
  );
}
