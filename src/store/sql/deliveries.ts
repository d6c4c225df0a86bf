/**
 * The completion-callback outbox as both SQL backends keep it (see DeliveryOutbox in ../types.ts).
 *
 * Deliveries are written by a trigger on `operations` (AFTER UPDATE OF done, when the row becomes
 * done and has `callbacks`), so every terminal write, by any statement present or future, writes
 * them in its own transaction: an outcome is committed with its deliveries or not at all. Each
 * delivery keeps a copy of the operation as it ended, so it outlives the operation's retention.
 */
import { toRecord, type OperationRow } from './rows.js';
import type { DeliveryAttempt, DeliveryRecord, DeliveryState } from '../types.js';

/** Copied from the finished operation by the trigger, in this order. */
export const SNAPSHOT_COLUMNS = `name, parent, method, owner, metadata_type, metadata_value, response_type, response_value,
  error_code, error_message, error_details, progress_percent, create_time, update_time, done_time`;

/** The trigger's INSERT ... SELECT, given the new delivery id expression, the callbacks' table function and the tables. */
export function deliveriesFromTrigger(options: { id: string; urls: string; deliveries: string; gone: string }): string {
  const snapshot = SNAPSHOT_COLUMNS.split(',').map((column) => `NEW.${column.trim()}`).join(', ');
  return `INSERT INTO ${options.deliveries} (id, url, state, next_attempt_at, enqueue_time, state_time, ${SNAPSHOT_COLUMNS})
    SELECT ${options.id}, u.url,
      CASE WHEN EXISTS (SELECT 1 FROM ${options.gone} g WHERE g.url = u.url) THEN 'gone' ELSE 'pending' END,
      NEW.done_time, NEW.done_time, NEW.done_time, ${snapshot}
    FROM ${options.urls} AS u`;
}

export interface DeliveryRow extends Omit<OperationRow, 'done' | 'idempotency_key' | 'request_fingerprint' | 'lease_holder' | 'lease_expires_at' | 'attempt' | 'max_attempts' | 'cancel_requested' | 'estimated_completion' | 'expire_time'> {
  id: string;
  url: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  claim: number;
  lease_holder: string | null;
  lease_expires_at: number;
  enqueue_time: number;
  state_time: number;
  delivered_time: number | null;
  last_status: number | null;
  last_error: string | null;
}

export function toDelivery(row: DeliveryRow): DeliveryRecord {
  const operation = toRecord({
    ...row,
    done: true,
    estimated_completion: null,
    idempotency_key: null,
    request_fingerprint: null,
    lease_holder: null,
    lease_expires_at: 0,
    attempt: 0,
    max_attempts: 0,
    cancel_requested: false,
    expire_time: null,
  });
  const record: DeliveryRecord = {
    id: row.id,
    url: row.url,
    operation,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createTime: row.enqueue_time,
    updateTime: row.state_time,
  };
  if (row.delivered_time !== null) record.deliveredTime = row.delivered_time;
  if (row.last_status !== null) record.lastStatus = row.last_status;
  if (row.last_error !== null) record.lastError = row.last_error;
  return record;
}

/** The columns `finishAttempt` writes for one attempt's result. */
export function attemptColumns(attempt: DeliveryAttempt, now: number) {
  const state: DeliveryState = attempt.kind === 'retry' ? 'pending' : attempt.kind;
  return {
    state,
    nextAttemptAt: attempt.kind === 'retry' ? attempt.nextAttemptAt : now,
    lastStatus: attempt.status ?? null,
    lastError: attempt.kind === 'retry' || attempt.kind === 'dead' ? (attempt.error ?? null) : null,
    deliveredTime: attempt.kind === 'delivered' ? now : null,
    now,
  };
}

/** `callbacks` as stored on the operation row (JSON array text), or null. */
export function callbacksColumn(callbacks: readonly string[] | undefined): string | null {
  return callbacks === undefined || callbacks.length === 0 ? null : JSON.stringify(callbacks);
}
