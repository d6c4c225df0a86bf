/** google.longrunning.Operations over gRPC: decode, call the operations service, encode. */
import { Metadata, type ServerUnaryCall } from '@grpc/grpc-js';
import type { OperationRecord } from '../domain/operation.js';
import type { OperationsHandlers } from '../gen/google/longrunning/Operations.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { progressHeaders } from '../protocol/headers.js';
import { durationToMs, type DurationLike } from '../protocol/time.js';
import { toOperationMessage } from './convert.js';
import { linkToOperation } from '../observe/tracing.js';
import { callContextOf } from './interceptor.js';
import { type HandlerDeps, unary } from './unary.js';

export interface OperationsHandlerDeps extends HandlerDeps {
  service: OperationsService;
  callerOf(call: ServerUnaryCall<unknown, unknown>): Caller;
}

/** Replies to WaitOperation this long before the call's deadline, so the client gets a state, not DEADLINE_EXCEEDED. */
const DEADLINE_MARGIN_MS = 50;

export function operationsHandlers(deps: OperationsHandlerDeps): OperationsHandlers {
  const { service, callerOf } = deps;
  return {
    GetOperation: unary(deps, 'GetOperation', async (call) => {
      const record = await service.get(call.request.name, callerOf(call));
      sendProgress(call, record);
      return toOperationMessage(record);
    }),
    ListOperations: unary(deps, 'ListOperations', async (call) => {
      const { name, filter, pageSize, pageToken, returnPartialSuccess } = call.request;
      const result = await service.list({ name, filter, pageSize, pageToken, returnPartialSuccess }, callerOf(call));
      return {
        operations: result.operations.map(toOperationMessage),
        nextPageToken: result.nextPageToken,
        unreachable: [],
      };
    }, () => undefined), // its `name` is a collection, not an operation
    CancelOperation: unary(deps, 'CancelOperation', async (call) => {
      await service.cancel(call.request.name, callerOf(call));
      return {};
    }),
    DeleteOperation: unary(deps, 'DeleteOperation', async (call) => {
      await service.delete(call.request.name, callerOf(call));
      return {};
    }),
    WaitOperation: unary(deps, 'WaitOperation', async (call) => {
      const client = new AbortController();
      call.once('cancelled', () => client.abort());
      const record = await service.wait(call.request.name, waitBudgetMs(call), client.signal, callerOf(call));
      linkToOperation(record);
      sendProgress(call, record);
      return toOperationMessage(record);
    }),
  };
}

/** The request's timeout, shortened to end before the call's deadline. */
function waitBudgetMs(call: ServerUnaryCall<{ timeout: DurationLike | null }, unknown>): number | undefined {
  const requested = durationToMs(call.request.timeout);
  const deadlineMs = callContextOf(call).deadline;
  if (deadlineMs === undefined) return requested;
  const remaining = Math.max(0, deadlineMs - Date.now() - DEADLINE_MARGIN_MS);
  return requested === undefined ? remaining : Math.min(requested, remaining);
}

/** Progress is not part of google.longrunning.Operation; unfinished operations report it in headers. */
function sendProgress(call: ServerUnaryCall<unknown, unknown>, record: OperationRecord): void {
  if (record.done) return;
  const headers = new Metadata();
  for (const [key, value] of Object.entries(progressHeaders(record))) headers.set(key, value);
  call.sendMetadata(headers);
}
