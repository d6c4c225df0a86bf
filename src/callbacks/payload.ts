/**
 * What a completion callback POSTs: a Standard Webhooks envelope (`type`, `timestamp`, `data`)
 * whose data is the operation in the status monitor's schema (`id`, `status`, `created_at`,
 * `updated_at`, `result` or `error`, as HTTP pollers read it) plus the AIP-151 Operation as
 * proto3 JSON under `operation`.
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
  const data = {
    ...statusMonitor(operation, (any) => anyJson(codec, any)),
    operation: operationJson(codec, operation),
  };
  return JSON.stringify({ type: eventType(operation), timestamp: timestamp.toISOString(), data });
}
