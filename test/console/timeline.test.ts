/**
 * The console's timeline (src/operations/timeline.ts), from records alone: every line has a time;
 * each attempt has a line; a waiting retry or start time shows when it is due; an event whose own
 * time the store does not keep is dated by a time it cannot be later than, and says so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '../../src/domain/errors.js';
import type { OperationRecord } from '../../src/domain/operation.js';
import { timelineOf, type TimelineEvent } from '../../src/operations/timeline.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function record(extra: Partial<OperationRecord>): OperationRecord {
  return {
    name: 'operations/a',
    parent: '',
    method: '/m/M',
    owner: 'alice',
    done: false,
    progressPercent: 0,
    leaseExpiresAt: 0,
    attempt: 0,
    maxAttempts: 3,
    cancelRequested: false,
    createTime: NOW - 10_000,
    updateTime: NOW - 10_000,
    runAfter: 0,
    priority: 0,
    ...extra,
  };
}

/** `at what` per line, `by`/`due` marked, for readable comparisons. */
function lines(events: TimelineEvent[]): string[] {
  for (const event of events) assert.ok(Number.isFinite(Date.parse(event.at)), `every line has a time: ${JSON.stringify(event)}`);
  return events.map((event) => `${event.by ? 'by ' : ''}${event.at} ${event.what}${event.expected ? ' [due]' : ''}`);
}

describe('the console timeline', { timeout: 10_000 }, () => {
  it('a scheduled operation: created, then its first attempt due at the start time', () => {
    assert.deepEqual(lines(timelineOf(record({ runAfter: NOW + 5000 }), NOW)), [
      `${iso(NOW - 10_000)} created`,
      `${iso(NOW + 5000)} attempt 1 of 3 due (start time) [due]`,
    ]);
  });

  it('a queued operation: due since its start time (or creation), waiting for a runner', () => {
    assert.deepEqual(lines(timelineOf(record({ runAfter: NOW - 2000 }), NOW)), [
      `${iso(NOW - 10_000)} created`,
      `${iso(NOW - 2000)} attempt 1 of 3 queued, waiting for a runner or its concurrency key`,
    ]);
  });

  it('a waiting retry: the failed attempt at its exact time and the next one due', () => {
    const failedAt = NOW - 3000;
    const waiting = record({ attempt: 2, updateTime: failedAt, runAfter: NOW + 4000, lastError: { code: Code.UNAVAILABLE, message: 'the warehouse is busy' } });
    assert.deepEqual(lines(timelineOf(waiting, NOW)), [
      `${iso(NOW - 10_000)} created`,
      `by ${iso(failedAt)} attempt 1 of 3 failed`,
      `${iso(failedAt)} attempt 2 of 3 failed: UNAVAILABLE the warehouse is busy`,
      `${iso(NOW + 4000)} attempt 3 of 3 due (retry) [due]`,
    ]);
  });

  it('a running retry: the earlier failure with its message, the attempt running since its last write', () => {
    const running = record({
      attempt: 2,
      leaseHolder: 'runner-1',
      leaseExpiresAt: NOW + 30_000,
      updateTime: NOW - 500,
      progressPercent: 40,
      runAfter: NOW - 1000,
      lastError: { code: Code.UNAVAILABLE, message: 'try again' },
      cancelRequested: true,
    });
    assert.deepEqual(lines(timelineOf(running, NOW)), [
      `${iso(NOW - 10_000)} created`,
      `by ${iso(NOW - 500)} attempt 1 of 3 failed: UNAVAILABLE try again`,
      `${iso(NOW - 500)} attempt 2 of 3 running, 40% at the last update`,
      `by ${iso(NOW - 500)} cancellation requested`,
    ]);
  });

  it('a lease that ran out: queued again since it expired', () => {
    const lost = record({ attempt: 1, leaseHolder: 'gone', leaseExpiresAt: NOW - 100, updateTime: NOW - 5000 });
    assert.deepEqual(lines(timelineOf(lost, NOW)), [
      `${iso(NOW - 10_000)} created`,
      `by ${iso(NOW - 5000)} attempt 1 of 3 failed`,
      `${iso(NOW - 100)} its lease ran out; attempt 2 of 3 queued, waiting for a runner or its concurrency key`,
    ]);
  });

  it('done: every attempt, the end at its exact time, and how many attempts it took', () => {
    const done = record({
      done: true,
      attempt: 3,
      doneTime: NOW - 100,
      updateTime: NOW - 100,
      lastError: { code: Code.UNAVAILABLE, message: 'flaky' },
      response: { typeUrl: 'type.googleapis.com/x.Y', value: new Uint8Array() },
    });
    assert.deepEqual(lines(timelineOf(done, NOW)), [
      `${iso(NOW - 10_000)} created`,
      `by ${iso(NOW - 100)} attempt 1 of 3 failed`,
      `by ${iso(NOW - 100)} attempt 2 of 3 failed: UNAVAILABLE flaky`,
      `${iso(NOW - 100)} succeeded (attempt 3 of 3)`,
    ]);
    const failed = record({ done: true, attempt: 1, doneTime: NOW, error: { code: Code.NOT_FOUND, message: 'no such bucket', details: [] } });
    assert.deepEqual(lines(timelineOf(failed, NOW)).slice(1), [`${iso(NOW)} failed: NOT_FOUND no such bucket`]);
    const cancelled = record({ done: true, attempt: 0, doneTime: NOW, error: { code: Code.CANCELLED, message: 'cancelled', details: [] } });
    assert.deepEqual(lines(timelineOf(cancelled, NOW)).slice(1), [`${iso(NOW)} cancelled before it started`]);
  });

  it('many earlier attempts are one line', () => {
    const many = record({ maxAttempts: 50, attempt: 40, leaseHolder: 'r', leaseExpiresAt: NOW + 1000, updateTime: NOW - 1 });
    const shown = lines(timelineOf(many, NOW));
    assert.deepEqual(shown, [`${iso(NOW - 10_000)} created`, `by ${iso(NOW - 1)} attempts 1 to 39 of 50 failed`, `${iso(NOW - 1)} attempt 40 of 50 running`]);
  });
});
