import { status as GrpcStatus, type Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { invalidArgument } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../observe/telemetry.js';
import { startGrpcSpan } from '../observe/tracing.js';
import type { Caller } from '../operations/service.js';
import type { TypeRegistry } from '../protos/registry.js';
import { toServiceError } from './status.js';

export interface HandlerDeps {
  registry: TypeRegistry;
  logger: Logger;
  telemetry: Telemetry;
  /** Who is calling; the same function the handlers use. May throw (e.g. unauthenticated). */
  callerOf(call: ServerUnaryCall<unknown, unknown>): Caller | Promise<Caller>;
}

/** A request whose bytes did not decode as its message type (see tolerantDefinition in server.ts). */
export class MalformedRequest {
  constructor(
    readonly path: string,
    /** Kept for logs only. */
    readonly cause: unknown,
  ) {}
}

/** Which operation an RPC is about, for its log line: by default the request's `name`. */
export type OperationNameOf<Request, Reply> = (request: Request, reply: Reply | undefined) => string | undefined;

const requestName = (request: unknown): string | undefined => {
  const name = (request as { name?: unknown } | null)?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
};

/**
 * Adapts an async handler to grpc-js, sending every failure through the one error mapping, and
 * records one log line and the metrics of every call.
 */
export function unary<Request, Reply>(
  deps: HandlerDeps,
  method: string,
  body: (call: ServerUnaryCall<Request, Reply>) => Promise<Reply>,
  operationOf: OperationNameOf<Request, Reply> = requestName,
) {
  return (call: ServerUnaryCall<Request, Reply>, callback: sendUnaryData<Reply>): void => {
    const started = performance.now();
    const span = startGrpcSpan(call.getPath(), (key) => header(call.metadata, key));
    const finish = async (code: number, reply?: Reply): Promise<void> => {
      const durationMs = performance.now() - started;
      const operation = operationOf(call.request, reply);
      span.end(code, operation === undefined ? {} : { operation });
      const principal = await principalOf(deps, call);
      deps.telemetry.rpc({
        method: call.getPath(),
        code,
        durationMs,
        ...(principal !== undefined && { principal }),
        ...(operation !== undefined && { operation }),
      });
    };
    const reply = span.run(() =>
      call.request instanceof MalformedRequest
        ? // Authenticated first, like every call: an unknown caller learns nothing about the request.
          Promise.resolve()
            .then(() => deps.callerOf(call))
            .then(() => {
              throw invalidArgument('request', `the request bytes are not a valid ${method} request message (protobuf decoding failed)`);
            })
        : body(call),
    );
    reply.then(
      (reply) => {
        callback(null, reply);
        // A client that went away (e.g. during WaitOperation) never got the reply.
        void finish(call.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.OK, reply);
      },
      (error: unknown) => {
        const failure = toServiceError(error, deps.registry, deps.logger, method);
        callback(failure);
        void finish(failure.code ?? GrpcStatus.UNKNOWN);
      },
    );
  };
}

/** The caller's principal for the log, or undefined when it cannot be established. */
async function principalOf(deps: HandlerDeps, call: ServerUnaryCall<unknown, unknown>): Promise<string | undefined> {
  try {
    return (await deps.callerOf(call)).principal;
  } catch {
    return undefined;
  }
}

/** A single-valued request header, or undefined. */
export function header(metadata: Metadata, key: string): string | undefined {
  const values = metadata.get(key);
  return values.length === 0 ? undefined : String(values[0]);
}
