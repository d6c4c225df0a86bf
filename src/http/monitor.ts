/**
 * What the gateway says about an operation besides the AIP-151 Operation: the status monitor
 * resource that generic HTTP pollers read (the Microsoft REST guidelines' shape, which Azure's
 * pollers follow), and the Retry-After hint.
 */
import { Code } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { JsonValue } from '../protos/json.js';
import { codeName } from './errors.js';

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
}

export function monitorStatusOf(record: OperationRecord): MonitorStatus {
  if (!record.done) return record.leaseHolder === undefined ? 'pending' : 'running';
  if (record.error === undefined) return 'succeeded';
  return record.error.code === Code.CANCELLED ? 'cancelled' : 'failed';
}

export function statusMonitor(record: OperationRecord, anyToJson: (any: NonNullable<OperationRecord['metadata']>) => JsonValue): StatusMonitor {
  const monitor: StatusMonitor = {
    id: record.name,
    status: monitorStatusOf(record),
    created_at: new Date(record.createTime).toISOString(),
    updated_at: new Date(record.updateTime).toISOString(),
    progress: record.done && record.error === undefined ? 100 : record.progressPercent,
  };
  if (!record.done && record.estimatedCompletion !== undefined) monitor.estimated_completion = new Date(record.estimatedCompletion).toISOString();
  if (record.response !== undefined) monitor.result = anyToJson(record.response);
  if (record.error !== undefined) monitor.error = { code: record.error.code, message: record.error.message, status: codeName(record.error.code) };
  if (record.metadata !== undefined) monitor.metadata = anyToJson(record.metadata);
  return monitor;
}

/** Default cap on Retry-After: a client never waits longer than this between polls. */
export const DEFAULT_RETRY_AFTER_CAP_MS = 30_000;

/**
 * Seconds until polling is worth it: until the estimated completion when the handler gave one,
 * else the time the remaining progress would take at the rate so far, else 1; at least 1 and at
 * most the cap.
 */
export function retryAfterSeconds(record: OperationRecord, now: number, capMs: number): number {
  const cap = Math.max(1, Math.floor(capMs / 1000));
  let seconds = 1;
  if (record.estimatedCompletion !== undefined) {
    seconds = Math.ceil((record.estimatedCompletion - now) / 1000);
  } else if (record.progressPercent > 0 && record.progressPercent < 100) {
    const elapsed = Math.max(0, now - record.createTime);
    seconds = Math.ceil((elapsed * (100 - record.progressPercent)) / record.progressPercent / 1000);
  }
  return Math.min(cap, Math.max(1, Number.isFinite(seconds) ? seconds : 1));
}
