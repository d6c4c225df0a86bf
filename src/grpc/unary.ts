import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { invalidArgument } from '../domain/errors.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../observe/telemetry.js';
import { startGrpcSpan } from '../observe/tracing.js';
import type { Caller } from '../operations/service.js';
import type { TypeRegistry } from '../protos/registry.js';
import { callContextOf, handlerEnded } from './interceptor.js';
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
 * Adapts an async handler to grpc-js, sending every failure through the one error mapping. The
 * call's record is the interceptor's (see interceptor.ts); this says what the call was about.
 */
export function unary<Request, Reply>(
  deps: HandlerDeps,
  method: string,
  body: (call: ServerUnaryCall<Request, Reply>) => Promise<Reply>,
  operationOf: OperationNameOf<Request, Reply> = requestName,
) {
  return (call: ServerUnaryCall<Request, Reply>, callback: sendUnaryData<Reply>): void => {
    const context = callContextOf(call);
    context.observe(deps.telemetry);
    const span = (context.span = startGrpcSpan(context.method, context.header));
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
        context.operation = operationOf(call.request, reply);
        callback(null, reply);
        // A client that went away (e.g. during WaitOperation) never got the reply.
        handlerEnded(call, call.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.OK);
      },
      (error: unknown) => {
        context.operation = operationOf(call.request, undefined);
        const failure = toServiceError(error, deps.registry, deps.logger, method);
        callback(failure);
        handlerEnded(call, failure.code ?? GrpcStatus.UNKNOWN);
      },
    );
  };
}

