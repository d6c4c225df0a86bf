/**
 * An operation's life as lines with a time each, oldest first, for the console. Built from the
 * record alone (no history table): the store keeps the exact time of creation, of the last write,
 * of the next attempt's due time and of the end. An event whose own time the store does not keep
 * (an earlier attempt's failure, the start of the running attempt, a cancellation request) is
 * dated by the first kept time that is certainly not before it, and marked `by`.
 */
import { Code, codeNameOf } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import { queueStateOf } from './queue-state.js';

export interface TimelineEvent {
  /** RFC 3339. */
  at: string;
  what: string;
  /** The event happened at or before `at` (the store keeps no time of its own for it). */
  by?: true;
  /** `at` is ahead: when the event is due (a start time, a retry). */
  expected?: true;
}

/** Earlier attempts beyond this many are one line, so a method with 100 attempts stays readable. */
const EARLIER_ATTEMPT_LINES = 5;

export function timelineOf(record: OperationRecord, now: number): TimelineEvent[] {
  const iso = (ms: number) => new Date(ms).toISOString();
  const of = (n: number) => `attempt ${n} of ${record.maxAttempts}`;
  const events: TimelineEvent[] = [{ at: iso(record.createTime), what: 'created' }];
  const waiting = queueStateOf(record, now);
  const lastError = record.lastError === undefined ? '' : `: ${codeNameOf(record.lastError.code) ?? record.lastError.code} ${record.lastError.message}`;
  // Every earlier event is no later than the last write (or the end).
  const bound = record.done && record.doneTime !== undefined ? record.doneTime : record.updateTime;

  // Attempts that ran and ended before the one the record is about now.
  // A waiting retry's failed attempt gets its own exact line below, with lastError.
  const retrying = waiting?.reason === 'retry_scheduled';
  const ended = record.done || retrying || (waiting === undefined && record.leaseHolder !== undefined) ? record.attempt - 1 : record.attempt;
  // lastError is the latest failure that was retried: the last of these, unless it is the waiting retry's.
  const plain = record.lastError !== undefined && !retrying ? ended - 1 : ended;
  if (plain > EARLIER_ATTEMPT_LINES) {
    events.push({ at: iso(bound), by: true, what: `attempts 1 to ${plain} of ${record.maxAttempts} failed` });
  } else {
    for (let n = 1; n <= plain; n++) events.push({ at: iso(bound), by: true, what: `${of(n)} failed` });
  }
  if (ended >= 1 && ended > plain) events.push({ at: iso(bound), by: true, what: `${of(ended)} failed${lastError}` });

  if (record.done) {
    const error = record.error;
    const outcome =
      error === undefined
        ? 'succeeded'
        : error.code === Code.CANCELLED
          ? 'cancelled'
          : `failed: ${codeNameOf(error.code) ?? error.code} ${error.message}`;
    const which = record.attempt === 0 ? (error === undefined ? '' : ' before it started') : record.attempt > 1 ? ` (${of(record.attempt)})` : '';
    events.push({ at: iso(record.doneTime ?? record.updateTime), what: `${outcome}${which}` });
    return events;
  }

  if (waiting?.reason === 'retry_scheduled') {
    // The retry statement wrote the failure and the next time together: updateTime is the failure's.
    events.push({ at: iso(record.updateTime), ...(record.cancelRequested && { by: true as const }), what: `${of(record.attempt)} failed${lastError}` });
    events.push({ at: iso(record.runAfter), expected: true, what: `${of(record.attempt + 1)} due (retry)` });
  } else if (waiting?.reason === 'scheduled') {
    events.push({ at: iso(record.runAfter), expected: true, what: `${of(1)} due (start time)` });
  } else if (waiting?.reason === 'queued') {
    const lostLease = record.leaseHolder !== undefined ? record.leaseExpiresAt : 0;
    const dueSince = Math.max(record.createTime, record.runAfter, lostLease);
    const why = lostLease > 0 ? `its lease ran out; ${of(record.attempt + 1)} queued` : `${of(record.attempt + 1)} queued`;
    events.push({ at: iso(dueSince), what: `${why}, waiting for a runner or its concurrency key` });
  } else {
    // Running: the claim wrote updateTime, and so does every progress report since.
    const percent = record.progressPercent > 0 ? `, ${record.progressPercent}% at the last update` : '';
    events.push({ at: iso(record.updateTime), what: `${of(record.attempt)} running${percent}` });
  }
  if (record.cancelRequested) events.push({ at: iso(record.updateTime), by: true, what: 'cancellation requested' });
  return events;
}
