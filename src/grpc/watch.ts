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
import { toServiceError } from './status.js';
import { MalformedRequest, type HandlerDeps } from './unary.js';
import { queueStateOf } from '../operations/queue-state.js';

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
      const started = performance.now();
      const client = new AbortController();
      call.once('cancelled', () => client.abort());
      let principal: string | undefined;
      const name = call.request instanceof MalformedRequest ? undefined : call.request.name;
      const run = async (): Promise<void> => {
        const caller = deps.callerOf(call as unknown as ServerUnaryCall<unknown, unknown>);
        principal = caller.principal;
        if (call.request instanceof MalformedRequest) {
          throw invalidArgument('request', 'the request bytes are not a valid WatchOperation request message (protobuf decoding failed)');
        }
        for await (const record of deps.service.watch(call.request.name, caller, client.signal)) {
          if (call.cancelled) return;
          let message = messages.get(record);
          if (message === undefined) messages.set(record, (message = toWatchMessage(record)));
          await new Promise<void>((resolve) => call.write(message, () => resolve()));
        }
      };
      const record = (code: number) =>
        deps.telemetry.rpc({
          method: call.getPath(),
          code,
          durationMs: performance.now() - started,
          ...(principal !== undefined && { principal }),
          ...(name !== undefined && name !== '' && { operation: name }),
        });
      run().then(
        () => {
          if (!call.cancelled) call.end();
          record(call.cancelled ? GrpcStatus.CANCELLED : GrpcStatus.OK);
        },
        (error: unknown) => {
          const failure = toServiceError(error, deps.registry, deps.logger, 'WatchOperation');
          // Ends the stream with this status (grpc-js's writable server stream).
          if (!call.cancelled) call.emit('error', failure);
          record(failure.code ?? GrpcStatus.UNKNOWN);
        },
      );
    },
  };
}

export function toWatchMessage(record: OperationRecord, now: number = Date.now()): WatchOperationResponse {
  const message: WatchOperationResponse = { operation: toOperationMessage(record), progressPercent: record.progressPercent, attempt: record.attempt };
  if (record.estimatedCompletion !== undefined && !record.done) message.estimatedCompletionTime = timestamp(record.estimatedCompletion);
  const waiting = queueStateOf(record, now);
  if (waiting !== undefined) {
    message.waitingReason = waiting.reason;
    if (waiting.estimatedStart !== undefined) message.estimatedStartTime = timestamp(waiting.estimatedStart);
  }
  if (record.lastError !== undefined && !record.done) message.lastError = { code: record.lastError.code, message: record.lastError.message };
  if (record.rerunOf !== undefined) message.rerunOf = record.rerunOf;
  return message;
}

function timestamp(ms: number): { seconds: string; nanos: number } {
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}
