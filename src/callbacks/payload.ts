/**
 * What a completion callback POSTs: a Standard Webhooks envelope (`type`, `timestamp`, `data`)
 * whose data is the operation in the status monitor's schema (`id`, `status`, `created_at`,
 * `updated_at`, `result` or `error`, as HTTP pollers read it) plus the AIP-151 Operation as
 * proto3 JSON under `operation`.
 */
import type { AnyMessage, OperationRecord } from '../domain/operation.js';
import { statusMonitor } from '../operations/status-monitor.js';
import type { JsonCodec, JsonValue } from '../protos/json.js';
import { anyInit, operationInit } from '../protos/operation-json.js';

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

/** A type this process cannot describe still goes out, as its type URL and bytes (base64). */
function anyJson(codec: JsonCodec, any: AnyMessage): JsonValue {
  try {
    return codec.toJsonOf('google.protobuf.Any', anyInit(any));
  } catch {
    return { '@type': any.typeUrl, value: Buffer.from(any.value).toString('base64') };
  }
}

/** Built by hand only when a type inside is unknown here, with such types as in anyJson. */
function operationJson(codec: JsonCodec, operation: OperationRecord): JsonValue {
  try {
    return codec.toJsonOf('google.longrunning.Operation', operationInit(operation));
  } catch {
    const json: Record<string, JsonValue> = { name: operation.name, done: operation.done };
    if (operation.metadata !== undefined) json['metadata'] = anyJson(codec, operation.metadata);
    if (operation.response !== undefined) json['response'] = anyJson(codec, operation.response);
    if (operation.error !== undefined) {
      const { code, message, details } = operation.error;
      json['error'] = { code, message, details: details.map((detail) => anyJson(codec, detail)) };
    }
    return json;
  }
}
