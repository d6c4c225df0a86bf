/**
 * The status monitor: an operation as generic HTTP pollers read it (the Microsoft REST guidelines'
 * shape, which Azure's pollers follow). The HTTP gateway serves it at `/v1/{name}/status`, and
 * completion callbacks carry it.
 */
import { Code, codeNameOf } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { JsonValue } from '../protos/json.js';
import { queueStateOf, type WaitingReason } from './queue-state.js';

export type MonitorStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface StatusMonitor {
  /** The operation's resource name. */
  id: string;
  status: MonitorStatus;
  created_at: string;
  updated_at: string;
  /** 0-100. */
  progress: number;
  estimated_completion?: string;
  /** The response, proto3 JSON with `@type`, once succeeded. */
  result?: JsonValue;
  error?: { code: number; message: string; status: string };
  /** The operation's metadata, proto3 JSON with `@type`, when it has any. */
  metadata?: JsonValue;
  /** The attempt running or last run (0 before the first), of `max_attempts`. */
  attempt: number;
  max_attempts: number;
  /** While pending: why it waits (see ./queue-state.ts). */
  waiting?: WaitingReason;
  /** While pending for a start time or a retry: when it becomes due. */
  estimated_start?: string;
  /** The error of the last failed attempt, while a retry waits or runs. */
  last_error?: { code: number; message: string; status: string };
  priority?: number;
  concurrency_key?: string;
  /** The operation this one re-runs, when it is a re-run. */
  rerun_of?: string;
}

export function monitorStatusOf(record: OperationRecord): MonitorStatus {
  if (!record.done) return record.leaseHolder === undefined ? 'pending' : 'running';
  if (record.error === undefined) return 'succeeded';
  return record.error.code === Code.CANCELLED ? 'cancelled' : 'failed';
}

export function statusMonitor(
  record: OperationRecord,
  anyToJson: (any: NonNullable<OperationRecord['metadata']>) => JsonValue,
  now: number = Date.now(),
): StatusMonitor {
  const monitor: StatusMonitor = {
    id: record.name,
    status: monitorStatusOf(record),
    created_at: new Date(record.createTime).toISOString(),
    updated_at: new Date(record.updateTime).toISOString(),
    progress: record.done && record.error === undefined ? 100 : record.progressPercent,
    attempt: record.attempt,
    max_attempts: record.maxAttempts,
  };
  const waiting = queueStateOf(record, now);
  if (waiting !== undefined) {
    monitor.waiting = waiting.reason;
    if (waiting.estimatedStart !== undefined) monitor.estimated_start = new Date(waiting.estimatedStart).toISOString();
  }
  if (record.lastError !== undefined && !record.done) {
    monitor.last_error = { ...record.lastError, status: codeNameOf(record.lastError.code) ?? 'UNKNOWN' };
  }
  if (record.priority !== 0) monitor.priority = record.priority;
  if (record.concurrencyKey !== undefined) monitor.concurrency_key = record.concurrencyKey;
  if (record.rerunOf !== undefined) monitor.rerun_of = record.rerunOf;
  if (!record.done && record.estimatedCompletion !== undefined) monitor.estimated_completion = new Date(record.estimatedCompletion).toISOString();
  if (record.response !== undefined) monitor.result = anyToJson(record.response);
  if (record.error !== undefined) monitor.error = { code: record.error.code, message: record.error.message, status: codeNameOf(record.error.code) ?? 'UNKNOWN' };
  if (record.metadata !== undefined) monitor.metadata = anyToJson(record.metadata);
  return monitor;
}
