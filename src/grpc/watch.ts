/**
 * longrun.v1.Watcher over gRPC: the operations service's watch, one message per state, each sent
 * only once the previous one was written to the connection (so a slow client holds one message,
 * not a queue).
 */
import { status as GrpcStatus, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { invalidArgument } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { WatchOperationRequest__Output } from '../gen/longrun/v1/WatchOperationRequest.js';
import type { WatchOperationResponse } from '../gen/longrun/v1/WatchOperationResponse.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { toOperationMessage } from './convert.js';
import { linkToOperation, startGrpcSpan } from '../observe/tracing.js';
import { callContextOf, handlerEnded } from './interceptor.js';
import { toServiceError } from './status.js';
import { MalformedRequest, type HandlerDeps } from './unary.js';
import { timestampParts } from '../protocol/time.js';
import { watchStateOf } from '../protocol/watch.js';

export const WATCHER_SERVICE = 'longrun.v1.Watcher';

export interface WatchHandlerDeps extends HandlerDeps {
  service: OperationsService;
  callerOf(call: ServerUnaryCall<unknown, unknown>): Caller;
}

type WatchCall = ServerWritableStream<WatchOperationRequest__Output | MalformedRequest, WatchOperationResponse>;

export function watcherHandlers(deps: WatchHandlerDeps): { WatchOperation: (call: WatchCall) => void } {
  // Watchers of one operation share its records (see OperationsService.watch): build each message once.
  const messages = new WeakMap<OperationRecord, WatchOperationResponse>();
  return {
    WatchOperation: (call) => {
      const context = callContextOf(call);
      context.observe(deps.telemetry);
      const span = (context.span = startGrpcSpan(context.method, context.header));
      const client = new AbortController();
      call.once('cancelled', () => client.abort());
      const name = call.request instanceof MalformedRequest ? undefined : call.request.name;
      if (name !== undefined && name !== '') context.operation = name;
      const run = async (): Promise<void> => {
        const caller = deps.callerOf(call as unknown as ServerUnaryCall<unknown, unknown>);
        if (call.request instanceof MalformedRequest) {
          throw invalidArgument('request', 'the request bytes are not a valid WatchOperation request message (protobuf decoding failed)');
        }
        for await (const record of deps.service.watch(call.request.name, caller, client.signal)) {
          if (call.cancelled) return;
          linkToOperation(record);
          let message = messages.get(record);
          if (message === undefined) messages.set(record, (message = toWatchMessage(record)));
          await new Promise<void>((resolve) => call.write(message, () => resolve()));
        }
      };
      span.run(run).then(
        () => {
          if (!call.cancelled) call.end();
          handlerEnded(call, call.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.OK);
        },
        (error: unknown) => {
          const failure = toServiceError(error, deps.registry, deps.logger, 'WatchOperation');
          // Ends the stream with this status (grpc-js's writable server stream).
          if (!call.cancelled) call.emit('error', failure);
          handlerEnded(call, failure.code ?? GrpcStatus.UNKNOWN);
        },
      );
    },
  };
}

export function toWatchMessage(record: OperationRecord, now: number = Date.now()): WatchOperationResponse {
  const state = watchStateOf(record, now);
  const message: WatchOperationResponse = { operation: toOperationMessage(record), progressPercent: state.progressPercent, attempt: state.attempt };
  if (state.estimatedCompletion !== undefined) message.estimatedCompletionTime = timestamp(state.estimatedCompletion);
  if (state.waitingReason !== undefined) message.waitingReason = state.waitingReason;
  if (state.estimatedStart !== undefined) message.estimatedStartTime = timestamp(state.estimatedStart);
  if (state.lastError !== undefined) message.lastError = state.lastError;
  if (state.rerunOf !== undefined) message.rerunOf = state.rerunOf;
  return message;
}

/** proto-loader takes an int64 as a string. */
function timestamp(ms: number): { seconds: string; nanos: number } {
  const { seconds, nanos } = timestampParts(ms);
  return { seconds: String(seconds), nanos };
}
