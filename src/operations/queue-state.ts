/**
 * Why an unfinished operation is not running, for clients (status monitor, watch stream, console):
 * - `scheduled`: its start time is ahead (`estimatedStart` is that time);
 * - `retry_scheduled`: an attempt failed and the next is due at `estimatedStart`;
 * - `queued`: due, waiting for a runner (or for its concurrency key to be free).
 */
import type { OperationRecord } from '../domain/operation.js';

export type WaitingReason = 'scheduled' | 'retry_scheduled' | 'queued';

export interface QueueState {
  reason: WaitingReason;
  /** When it becomes due (ms since the epoch), where known. */
  estimatedStart?: number;
}

/** undefined for running and done operations. */
export function queueStateOf(record: OperationRecord, now: number): QueueState | undefined {
  if (record.done || (record.leaseHolder !== undefined && record.leaseExpiresAt > now)) return undefined;
  if (record.runAfter > now) return { reason: record.attempt > 0 ? 'retry_scheduled' : 'scheduled', estimatedStart: record.runAfter };
  return { reason: 'queued' };
}
