/**
 * Re-running one done operation: a new operation of the same method, owner and parent, with the
 * original's request, priority, concurrency key and timeout, linked to it by `rerunOf`. Start time
 * and start deadline are not carried over (both are behind it). Attempts follow the method as this
 * process declares it now (the original's count when it does not declare it).
 *
 * Idempotency: a re-run made with a key is created under a key derived from that key and the
 * original's name, so one key re-runs one original once, whoever asks and however often (the
 * store's unique (owner, idempotency key) decides between racing callers).
 */
import { createHash } from 'node:crypto';
import { Code, LongrunError, operationNotFound } from '../domain/errors.js';
import { formatOperationName } from '../domain/names.js';
import { checkPayloadSize, type OperationRecord } from '../domain/operation.js';
import { typeNameOf, type MessageValue } from '../protos/registry.js';
import type { OperationsServiceDeps } from './service.js';

export async function rerunOperation(deps: OperationsServiceDeps, original: OperationRecord, key: string | undefined): Promise<OperationRecord> {
  const { store, clock, registry } = deps;
  if (!original.done) {
    throw new LongrunError(
      Code.FAILED_PRECONDITION,
      `operation ${original.name} is not done; only done operations are re-run (cancel it first)`,
      'OPERATION_NOT_DONE',
      { metadata: { name: original.name } },
    );
  }
  const now = clock.now();
  const request = await store.getRequest(original.name, now);
  if (request === undefined) throw operationNotFound(original.name);
  const method = deps.methods.get(original.method);
  let metadata = undefined;
  if (method?.info.metadataType !== undefined) {
    const initial = method.options.initialMetadata?.(registry.parseBytes(method.info.requestType, request.value).toObject(), new Date(now)) ?? {};
    metadata = checkPayloadSize('metadata', registry.packChecked(method.info.metadataType, initial as MessageValue, 'metadata'));
  }
  const callbacks = deps.callbacks?.callbacksFor(original.owner, undefined) ?? [];
  const result = await store.create({
    name: formatOperationName(original.parent, deps.ids.newId(original.owner)),
    parent: original.parent,
    method: original.method,
    owner: original.owner,
    request,
    ...(metadata !== undefined && { metadata }),
    ...(key !== undefined && { idempotencyKey: rerunKey(key, original.name), requestFingerprint: registry.fingerprint(registry.parseBytes(typeNameOf(request.typeUrl), request.value)) }),
    maxAttempts: method?.options.maxAttempts ?? original.maxAttempts,
    createTime: now,
    priority: original.priority,
    ...(original.concurrencyKey !== undefined && { concurrencyKey: original.concurrencyKey }),
    ...(original.timeoutMs !== undefined && { timeoutMs: original.timeoutMs }),
    ...(callbacks.length > 0 && { callbacks }),
    ...(original.answerStyle !== undefined && { answerStyle: original.answerStyle }),
    rerunOf: original.name,
  });
  if (result.created) deps.telemetry.created(result.operation.name, original.method, original.owner);
  return result.operation;
}

/** The idempotency key of the re-run of `original` under the caller's `key`: printable, well under the length limit. */
export function rerunKey(key: string, original: string): string {
  return `rerun-${createHash('sha256').update(`${key}\n${original}`).digest('base64url')}`;
}
