/**
 * What a completion callback POSTs: the operation in the status monitor's schema at the top level
 * (`id`, `status`, `created_at`, `updated_at`, `result` or `error`: what a receiver written from the
 * async request-reply documents reads), the AIP-151 Operation as proto3 JSON under `operation`,
 * and Standard Webhooks' `type` and `timestamp` beside them.
 */
import type { OperationRecord } from '../domain/operation.js';
import { statusMonitor } from '../operations/status-monitor.js';
import type { JsonCodec } from '../protos/json.js';
import { anyJson, operationJson } from '../protos/operation-json.js';

/** `operation.succeeded`, `operation.failed` or `operation.cancelled`. */
export function eventType(operation: OperationRecord): string {
  return `operation.${statusMonitor(operation, () => null).status}`;
}

export function callbackBody(operation: OperationRecord, codec: JsonCodec, timestamp: Date): string {
  return JSON.stringify({
    type: eventType(operation),
    timestamp: timestamp.toISOString(),
    ...statusMonitor(operation, (any) => anyJson(codec, any)),
    operation: operationJson(codec, operation),
  });
}
