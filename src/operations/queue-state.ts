/**
 * Why an unfinished operation is not running, for clients (status monitor, watch stream, console):
 * - `scheduled`: its start time is ahead (`estimatedStart` is that time);
 * - `retry_scheduled`: an attempt failed and the next is due at `estimatedStart`;
 * - `waiting_for_key`: due, but as many operations of its concurrency key as its method allows
 *   (`concurrencyPerKey`) hold it;
 * - `queued`: due, waiting for a runner (`position` 1 is next in line).
 *
 * `queueStateOf` decides from the record alone (it cannot tell `waiting_for_key` from `queued`);
 * `placeInQueue` asks the store, and is called only where a client asks, never on the claim path.
 */
import type { OperationRecord } from '../domain/operation.js';
import type { OperationStore } from '../store/types.js';

export type WaitingReason = 'scheduled' | 'retry_scheduled' | 'waiting_for_key' | 'queued';

export interface QueueState {
  reason: WaitingReason;
  /** When it becomes due (ms since the epoch), where known. */
  estimatedStart?: number;
  /** While `queued`: 1 for next in line; QUEUE_POSITION_CAP means that far back or further. */
  position?: number;
}

/** Positions are counted up to here: a queue this long reads no more than a few thousand rows. */
export const QUEUE_POSITION_CAP = 1000;

/** undefined for running and done operations. */
export function queueStateOf(record: OperationRecord, now: number): QueueState | undefined {
  if (record.done || (record.leaseHolder !== undefined && record.leaseExpiresAt > now)) return undefined;
  if (record.runAfter > now) return { reason: record.attempt > 0 ? 'retry_scheduled' : 'scheduled', estimatedStart: record.runAfter };
  return { reason: 'queued' };
}

/**
 * queueStateOf, with a due operation's place asked of the store: its key held (`keyLimit`
 * operations of it running, its method's `concurrencyPerKey`), or its position.
 */
export async function placeInQueue(
  store: Pick<OperationStore, 'queuePlace'>,
  record: OperationRecord,
  now: number,
  keyLimit: number,
): Promise<QueueState | undefined> {
  const state = queueStateOf(record, now);
  if (state?.reason !== 'queued') return state;
  const place = await store.queuePlace(record.name, now, QUEUE_POSITION_CAP - 1, keyLimit);
  if (place === undefined) return state;
  if (place.keyHeld) return { reason: 'waiting_for_key' };
  return { reason: 'queued', position: Math.min(place.ahead + 1, QUEUE_POSITION_CAP) };
}

/** A position as people read it: `1000+` at the cap. */
export function positionText(position: number): string {
  return position >= QUEUE_POSITION_CAP ? `${QUEUE_POSITION_CAP}+` : String(position);
}
