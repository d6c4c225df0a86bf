/** Records to wire messages (proto-loader object shapes). */
import type { AnyMessage, OperationRecord } from '../domain/operation.js';
import type { Any } from '../gen/google/protobuf/Any.js';
import type { Operation } from '../gen/google/longrunning/Operation.js';

function toAny(any: AnyMessage): Any {
  return { type_url: any.typeUrl, value: Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength) };
}

export function toOperationMessage(record: OperationRecord): Operation {
  const message: Operation = { name: record.name, done: record.done };
  if (record.metadata) message.metadata = toAny(record.metadata);
  if (record.response) message.response = toAny(record.response);
  else if (record.error) {
    message.error = { code: record.error.code, message: record.error.message, details: record.error.details.map(toAny) };
  }
  return message;
}
