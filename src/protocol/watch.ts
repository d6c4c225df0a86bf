/**
 * One state of longrun.v1.WatchOperationResponse, decided once for both transports (gRPC's
 * message and the HTTP event stream's proto3 JSON): what each field says, with times in ms.
 */
import type { OperationRecord } from '../domain/operation.js';
import { queueStateOf, type WaitingReason } from '../operations/queue-state.js';

export interface WatchState {
  record: OperationRecord;
  progressPercent: number;
  attempt: number;
  /** While it runs, when the handler expects to finish. */
  estimatedCompletion?: number;
  /** While it waits, why. */
  waitingReason?: WaitingReason;
  /** While it waits for its start time or a retry, when it becomes due. */
  estimatedStart?: number;
  /** While a retry waits or runs, the last failed attempt's error. */
  lastError?: { code: number; message: string };
  /** The operation this one re-runs. */
  rerunOf?: string;
}

export function watchStateOf(record: OperationRecord, now: number): WatchState {
  const state: WatchState = { record, progressPercent: record.progressPercent, attempt: record.attempt };
  if (record.estimatedCompletion !== undefined && !record.done) state.estimatedCompletion = record.estimatedCompletion;
  const waiting = queueStateOf(record, now);
  if (waiting !== undefined) {
    state.waitingReason = waiting.reason;
    if (waiting.estimatedStart !== undefined) state.estimatedStart = waiting.estimatedStart;
  }
  if (record.lastError !== undefined && !record.done) state.lastError = { code: record.lastError.code, message: record.lastError.message };
  if (record.rerunOf !== undefined) state.rerunOf = record.rerunOf;
  return state;
}
