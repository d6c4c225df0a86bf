/**
 * The one mapping from longrun errors to gRPC statuses. Every status carries a google.rpc.Status
 * with a google.rpc.ErrorInfo in `grpc-status-details-bin` (AIP-193). Anything that is not a
 * LongrunError is a bug or an outage: it is logged with its cause and the client sees a generic
 * INTERNAL, never internals.
 */
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Code, LongrunError } from '../domain/errors.js';
import type { Logger } from '../log.js';
import { TYPE_URL_PREFIX, type TypeRegistry } from '../protos/registry.js';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** Our codes are google.rpc.Code, which gRPC shares number for number. */
function grpcCodeOf(code: Code): GrpcStatus {
  return code as number as GrpcStatus;
}

export function toServiceError(error: unknown, registry: TypeRegistry, logger: Logger, method: string): Partial<ServiceError> {
  try {
    return withDetails(error, registry, logger, method);
  } catch (failure) {
    // The error path itself must never take the server down.
    logger.error({ err: failure, method }, 'could not encode an error status');
    return { code: GrpcStatus.INTERNAL, details: 'internal error' };
  }
}

function withDetails(error: unknown, registry: TypeRegistry, logger: Logger, method: string): Partial<ServiceError> {
  const known =
    error instanceof LongrunError
      ? error
      : new LongrunError(Code.INTERNAL, 'internal error', 'INTERNAL', { cause: error });
  if (known !== error) logger.error({ err: error, method }, 'unexpected error while serving a call');
  const message = wellFormed(known.message);
  const metadata = new Metadata();
  const errorInfo = registry.encode('google.rpc.ErrorInfo', {
    reason: known.reason,
    domain: known.domain,
    metadata: known.metadata,
  });
  const status = registry.encode('google.rpc.Status', {
    code: known.code,
    message,
    details: [{ type_url: `${TYPE_URL_PREFIX}google.rpc.ErrorInfo`, value: errorInfo }],
  });
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(status));
  return { code: grpcCodeOf(known.code), details: message, metadata };
}

/**
 * `message` with lone UTF-16 surrogates replaced by U+FFFD. Messages may quote the client's input
 * (cut to a length, which can split a surrogate pair), and grpc-js puts the message through
 * encodeURI, which throws on a lone surrogate: outside any handler, so the process would exit.
 */
function wellFormed(message: string): string {
  return message.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
