/**
 * google.longrunning.Operation and its `Any`s as proto3 JSON, the one way every surface writes them
 * (HTTP replies, the watch stream, the status monitor, the console, callbacks and the CLI):
 * - `"@type"` first in each `Any`, as `buf curl` and grpcurl print it (@bufbuild/protobuf puts it last);
 * - an `Any` whose type this process does not know (a rolling deploy, a removed method, a shared
 *   schema) as its type URL and base64 bytes, so one such operation never fails a reply or a list.
 */
import type { AnyMessage, OperationRecord } from '../domain/operation.js';
import type { JsonCodec, JsonValue, ToJsonOptions } from './json.js';

type JsonObject = { [key: string]: JsonValue };

export function anyInit(any: AnyMessage): Record<string, unknown> {
  return { typeUrl: any.typeUrl, value: any.value };
}

/** The message init of an Operation, for JsonCodec.toJsonOf (when every type inside is known). */
export function operationInit(record: OperationRecord): Record<string, unknown> {
  const init: Record<string, unknown> = { name: record.name, done: record.done };
  if (record.metadata !== undefined) init['metadata'] = anyInit(record.metadata);
  if (record.response !== undefined) init['result'] = { case: 'response', value: anyInit(record.response) };
  else if (record.error !== undefined) {
    init['result'] = {
      case: 'error',
      value: { code: record.error.code, message: record.error.message, details: record.error.details.map(anyInit) },
    };
  }
  return init;
}

export function anyJson(codec: JsonCodec, any: AnyMessage, options: ToJsonOptions = {}): JsonValue {
  let json: JsonObject;
  try {
    json = codec.toJsonOf('google.protobuf.Any', anyInit(any), options) as JsonObject;
  } catch {
    // Its type (or a type inside it) is in no descriptor set this process has.
    return { '@type': any.typeUrl, value: Buffer.from(any.value).toString('base64') };
  }
  const { '@type': type, ...fields } = json;
  return { '@type': type!, ...fields };
}

/** Fields in number order and defaults omitted, as proto3 JSON has them. */
export function operationJson(codec: JsonCodec, record: OperationRecord, options: ToJsonOptions = {}): JsonObject {
  const json: JsonObject = { name: record.name };
  if (record.metadata !== undefined) json['metadata'] = anyJson(codec, record.metadata, options);
  if (record.done) json['done'] = true;
  if (record.error !== undefined) {
    const { code, message, details } = record.error;
    json['error'] = {
      code,
      ...(message !== '' && { message }),
      ...(details.length > 0 && { details: details.map((detail) => anyJson(codec, detail, options)) }),
    };
  } else if (record.response !== undefined) {
    json['response'] = anyJson(codec, record.response, options);
  }
  return json;
}

export function listJson(codec: JsonCodec, records: readonly OperationRecord[], nextPageToken: string, options: ToJsonOptions = {}): JsonObject {
  return {
    ...(records.length > 0 && { operations: records.map((record) => operationJson(codec, record, options)) }),
    ...(nextPageToken !== '' && { nextPageToken }),
  };
}
