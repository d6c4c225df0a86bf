/** google.longrunning.Operation from an OperationRecord, as the message init JsonCodec.toJsonOf takes. */
import type { AnyMessage, OperationRecord } from '../domain/operation.js';

export function anyInit(any: AnyMessage): Record<string, unknown> {
  return { typeUrl: any.typeUrl, value: any.value };
}

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
