import type { Metadata, sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import type { TypeRegistry } from '../protos/registry.js';
import { toServiceError } from './status.js';

export interface HandlerDeps {
  registry: TypeRegistry;
  logger: Logger;
}

/** Adapts an async handler to grpc-js, sending every failure through the one error mapping. */
export function unary<Request, Reply>(
  deps: HandlerDeps,
  method: string,
  body: (call: ServerUnaryCall<Request, Reply>) => Promise<Reply>,
) {
  return (call: ServerUnaryCall<Request, Reply>, callback: sendUnaryData<Reply>): void => {
    body(call).then(
      (reply) => callback(null, reply),
      (error: unknown) => callback(toServiceError(error, deps.registry, deps.logger, method)),
    );
  };
}

/** A single-valued request header, or undefined. */
export function header(metadata: Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  return values.length === 0 ? undefined : String(values[0]);
}
