/** The Retry-After hint the gateway gives pollers of an operation (its status monitor is in ../operations/status-monitor.ts). */
import type { OperationRecord } from '../domain/operation.js';

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
