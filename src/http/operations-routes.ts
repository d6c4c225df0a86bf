/**
 * The routes of google.longrunning.Operations and of the operation's other resources (its event
 * stream, status monitor and ARM status), over the operations service.
 */
import { LongrunError } from '../domain/errors.js';
import type { AnswerStyle, OperationRecord } from '../domain/operation.js';
import { armOperationStatus, isTerminalArmStatus } from '../operations/arm-status.js';
import { monitorStatusOf, statusMonitor } from '../operations/status-monitor.js';
import type { JsonCodec, JsonValue, ToJsonOptions } from '../protos/json.js';
import { linkToOperation } from '../observe/tracing.js';
import { anyJson, listJson, operationJson } from '../protos/operation-json.js';
import { durationToMs, timestampParts, type DurationLike } from '../protocol/time.js';
import { watchStateOf, type WatchState } from '../protocol/watch.js';
import { armStatusPath, pollHeaders } from './async-answer.js';
import { sendJson } from './answer.js';
import { EVENT_STREAM_HEADERS, streamWatch } from './events.js';
import type { RouteCall, RouteParts } from './route-call.js';

export class OperationsRoutes {
  private readonly watchJson = new WeakMap<OperationRecord, string>();
  private readonly watchJsonIntEnums = new WeakMap<OperationRecord, string>();

  constructor(private readonly parts: RouteParts) {}

  async answer(call: RouteCall): Promise<void> {
    const { service } = this.parts;
    const { route, request, caller, res } = call;
    const name = String(request['name'] ?? '');
    switch (route.action) {
      case 'get': {
        const record = await service.get(name, caller);
        sendJson(res, 200, this.operationJson(record, call), this.pollHeaders(record));
        return;
      }
      case 'wait': {
        const client = new AbortController();
        res.once('close', () => client.abort());
        const record = await service.wait(name, durationToMs(request['timeout'] as DurationLike | undefined), client.signal, caller);
        linkToOperation(record);
        sendJson(res, 200, this.operationJson(record, call), this.pollHeaders(record));
        return;
      }
      case 'watch': {
        if (call.req.method === 'HEAD') {
          // The headers a GET would start with (after the same checks), and no stream to hold open.
          await service.get(name, caller);
          res.writeHead(200, EVENT_STREAM_HEADERS).end();
          return;
        }
        // Watchers of one operation share its records (see OperationsService.watch): encode each once.
        const cache = call.enumAsInteger ? this.watchJsonIntEnums : this.watchJson;
        const toJson = (record: OperationRecord) => {
          linkToOperation(record);
          let json = cache.get(record);
          if (json === undefined) {
            json = JSON.stringify(watchJson(this.parts.codec, watchStateOf(record, this.parts.clock.now()), { enumAsInteger: call.enumAsInteger }));
            cache.set(record, json);
          }
          return json;
        };
        await streamWatch({ service, logger: this.parts.logger, toJson, keepAliveMs: this.parts.keepAliveMs }, name, caller, call.req, res);
        return;
      }
      case 'list': {
        const result = await service.list(
          {
            name,
            filter: String(request['filter'] ?? ''),
            pageSize: Number(request['pageSize'] ?? 0),
            pageToken: String(request['pageToken'] ?? ''),
            returnPartialSuccess: request['returnPartialSuccess'] === true,
          },
          caller,
        );
        const json = listJson(this.parts.codec, result.operations, result.nextPageToken, { enumAsInteger: call.enumAsInteger });
        sendJson(res, 200, json, {});
        return;
      }
      case 'cancel':
        await service.cancel(name, caller);
        sendJson(res, 200, {}, {});
        return;
      case 'delete':
        await service.delete(name, caller);
        sendJson(res, 200, {}, {});
        return;
      case 'status': {
        const record = await service.get(name, caller);
        this.sendMonitor(record, call);
        return;
      }
      case 'status-cancel': {
        await service.cancel(name, caller);
        this.sendMonitor(await service.get(name, caller), call);
        return;
      }
      case 'arm-status': {
        // 200 whatever the operation's outcome: a 4xx or 5xx here means reading the status failed.
        const record = await service.get(name, caller);
        const body = armOperationStatus(record, armStatusPath(record.name), (any) => anyJson(this.parts.codec, any, { enumAsInteger: call.enumAsInteger }));
        // ARM's pollers rely on Retry-After, whatever style the operation was created with.
        sendJson(res, 200, body as unknown as JsonValue, isTerminalArmStatus(body.status) ? {} : this.pollHeaders(record, 'async'));
        return;
      }
      case 'create':
      case 'openapi':
        throw new Error(`${route.action} is not an operations route`);
    }
  }

  private operationJson(record: OperationRecord, call: Pick<RouteCall, 'enumAsInteger'>): JsonValue {
    return operationJson(this.parts.codec, record, { enumAsInteger: call.enumAsInteger });
  }

  private sendMonitor(record: OperationRecord, call: RouteCall): void {
    const monitor = statusMonitor(record, (any) => anyJson(this.parts.codec, any, { enumAsInteger: call.enumAsInteger }));
    const terminal = monitorStatusOf(record) !== 'pending' && monitorStatusOf(record) !== 'running';
    sendJson(call.res, 200, monitor as unknown as JsonValue, terminal ? {} : this.pollHeaders(record));
  }

  /** Progress while the operation runs, and Retry-After when it is answered in the async style. */
  private pollHeaders(record: OperationRecord, style?: AnswerStyle): Record<string, string> {
    return pollHeaders(record, this.parts.clock.now(), this.parts.retryAfterCapMs, style);
  }
}

/** The status monitor's cancel answers 409 Conflict when the operation is already done. */
export function statusCancelOverride(error: unknown): number | undefined {
  return error instanceof LongrunError && error.reason === 'OPERATION_ALREADY_DONE' ? 409 : undefined;
}

/** longrun.v1.WatchOperationResponse as proto3 JSON (the fields gRPC's message has), its operation written as every other one is. */
function watchJson(codec: JsonCodec, state: WatchState, options: ToJsonOptions): JsonValue {
  const init: Record<string, unknown> = { progressPercent: state.progressPercent, attempt: state.attempt };
  if (state.estimatedCompletion !== undefined) init['estimatedCompletionTime'] = timestamp(state.estimatedCompletion);
  if (state.waitingReason !== undefined) init['waitingReason'] = state.waitingReason;
  if (state.estimatedStart !== undefined) init['estimatedStartTime'] = timestamp(state.estimatedStart);
  if (state.lastError !== undefined) init['lastError'] = state.lastError;
  if (state.rerunOf !== undefined) init['rerunOf'] = state.rerunOf;
  return { operation: operationJson(codec, state.record, options), ...(codec.toJsonOf('longrun.v1.WatchOperationResponse', init, options) as object) };
}

/** @bufbuild/protobuf takes an int64 as a bigint. */
function timestamp(ms: number): { seconds: bigint; nanos: number } {
  const { seconds, nanos } = timestampParts(ms);
  return { seconds: BigInt(seconds), nanos };
}
