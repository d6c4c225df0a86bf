/** Records to wire messages (proto-loader object shapes). */
import type { AnyMessage, OperationRecord } from '../domain/operation.js';
import type { Any } from '../gen/google/protobuf/Any.js';
import type { Operation } from '../gen/google/longrunning/Operation.js';

function toAny(any: AnyMessage): Any {
  return { type_url: any.typeUrl, value: Buffer.from(any.value.buffer, any.value.byteOffset, any.value.byteLength) };
}

/**
 * The message of each finished operation, made once and frozen: a finished operation changes no
 * more, the stores hand out one record for it while it is read often, and pollers ask again and
 * again. Frozen, it is also encoded once (see encodedOnce in server.ts).
 */
const finished = new WeakMap<OperationRecord, Operation>();

export function toOperationMessage(record: OperationRecord): Operation {
  if (!record.done) return operationMessage(record);
  let message = finished.get(record);
  if (message === undefined) {
    message = Object.freeze(operationMessage(record));
    finished.set(record, message);
  }
  return message;
}

function operationMessage(record: OperationRecord): Operation {
  const message: Operation = { name: record.name, done: record.done };
  if (record.metadata) message.metadata = toAny(record.metadata);
  if (record.response) message.response = toAny(record.response);
  else if (record.error) {
    message.error = { code: record.error.code, message: record.error.message, details: record.error.details.map(toAny) };
  }
  return message;
}
