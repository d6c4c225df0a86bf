/**
 * One state of longrun.v1.WatchOperationResponse, decided once for both transports (gRPC's
 * message and the HTTP event stream's proto3 JSON): what each field says, with times in ms.
 */
import type { OperationRecord } from '../domain/operation.js';
import { queueStateOf, type QueueState, type WaitingReason } from '../operations/queue-state.js';

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
  /** While queued, where known: 1 for next in line (see ../operations/queue-state.ts). */
  queuePosition?: number;
  /** While a retry waits or runs, the last failed attempt's error. */
  lastError?: { code: number; message: string };
  /** The operation this one re-runs. */
  rerunOf?: string;
}

/** `queue`: the operation's place where it was asked of the store (OperationsService.queueState). */
export function watchStateOf(record: OperationRecord, now: number, queue: QueueState | undefined = queueStateOf(record, now)): WatchState {
  const state: WatchState = { record, progressPercent: record.progressPercent, attempt: record.attempt };
  if (record.estimatedCompletion !== undefined && !record.done) state.estimatedCompletion = record.estimatedCompletion;
  if (queue !== undefined) {
    state.waitingReason = queue.reason;
    if (queue.estimatedStart !== undefined) state.estimatedStart = queue.estimatedStart;
    if (queue.position !== undefined) state.queuePosition = queue.position;
  }
  if (record.lastError !== undefined && !record.done) state.lastError = { code: record.lastError.code, message: record.lastError.message };
  if (record.rerunOf !== undefined) state.rerunOf = record.rerunOf;
  return state;
}
