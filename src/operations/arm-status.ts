/**
 * An operation as Azure Resource Manager's clients read it: the resource an `Azure-AsyncOperation`
 * header points to, in the format of ARM's resource provider contract ("Asynchronous API
 * reference", section "Azure-AsyncOperation Resource format"). Transport-neutral: the HTTP gateway
 * serves it (see http/async-answer.ts for its path) and only gives it the `id` it is served at.
 *
 * The contract's terminal values of `status` are Succeeded, Failed and Canceled; any other value
 * means still running, and longrun says InProgress (pending or leased alike). `error` is required
 * when Failed or Canceled, with an invariant `code` (here the google.rpc.Code name) and `message`.
 * `properties` is the provider's own, only on success: the operation's response.
 */
import { Code, codeNameOf } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { JsonValue } from '../protos/json.js';

export type ArmStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Canceled';

export interface ArmOperationStatus {
  /** The path this resource is read at; its last segment is `name`, as the contract requires. */
  id: string;
  /** The operation's id: the last segment of its resource name. */
  name: string;
  status: ArmStatus;
  /** ISO 8601: when the operation was created. */
  startTime: string;
  /** ISO 8601: when it finished; only once it has. */
  endTime?: string;
  /** 0-100: 100 once Succeeded, else the handler's last report, when it made one above 0. */
  percentComplete?: number;
  /** The response, proto3 JSON with `@type`; only when Succeeded. */
  properties?: JsonValue;
  /** Only when Failed or Canceled. */
  error?: { code: string; message: string };
}

export function armStatusOf(record: Pick<OperationRecord, 'done' | 'error'>): ArmStatus {
  if (!record.done) return 'InProgress';
  if (record.error === undefined) return 'Succeeded';
  return record.error.code === Code.CANCELLED ? 'Canceled' : 'Failed';
}

/** True for the contract's terminal values: a poller stops there. */
export function isTerminalArmStatus(status: ArmStatus): boolean {
  return status !== 'InProgress';
}

/** The operation's id, which is the last segment of its name (`operations/{id}`, `{parent}/operations/{id}`). */
export function operationIdOf(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * `id` is where the resource is served (a path, as ARM's ids are); the gateway passes it because
 * only the transport knows its routes. `anyToJson` renders the response as the transport does.
 */
export function armOperationStatus(
  record: OperationRecord,
  id: string,
  anyToJson: (any: NonNullable<OperationRecord['response']>) => JsonValue,
): ArmOperationStatus {
  const status = armStatusOf(record);
  const body: ArmOperationStatus = {
    id,
    name: operationIdOf(record.name),
    status,
    startTime: new Date(record.createTime).toISOString(),
  };
  if (record.done) body.endTime = new Date(record.doneTime ?? record.updateTime).toISOString();
  // 0 is both "no report yet" and "reported 0": the field is optional, so it is left out then.
  if (status === 'Succeeded') body.percentComplete = 100;
  else if (record.progressPercent > 0) body.percentComplete = record.progressPercent;
  if (status === 'Succeeded' && record.response !== undefined) body.properties = anyToJson(record.response);
  if (record.error !== undefined) body.error = { code: codeNameOf(record.error.code) ?? 'UNKNOWN', message: record.error.message };
  return body;
}
