import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_RETRY_SCHEDULE, JITTER, nextDelay, parseRetrySchedule } from '../../src/callbacks/schedule.js';
import { seededRandom } from '../helpers/random.js';

describe('retry schedule', { timeout: 60_000 }, () => {
  it('parses units into milliseconds', () => {
    assert.deepEqual(parseRetrySchedule('5s,30s,2m,10m,1h,6h'), [5_000, 30_000, 120_000, 600_000, 3_600_000, 21_600_000]);
    assert.deepEqual(parseRetrySchedule(' 250ms , 1d '), [250, 86_400_000]);
    assert.deepEqual(DEFAULT_RETRY_SCHEDULE, [5_000, 30_000, 120_000, 600_000, 3_600_000, 21_600_000, 43_200_000]);
    assert.ok(Object.isFrozen(DEFAULT_RETRY_SCHEDULE));
  });

  it('names the bad entry', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /empty/],
      ['5s,,1m', /entry "" is not/],
      ['5s,10', /entry "10" is not a whole number with a unit/],
      ['5s,1.5m', /entry "1.5m"/],
      ['5s,-1s', /entry "-1s"/],
      ['5 s', /entry "5 s"/],
      ['2w', /entry "2w"/],
      ['0s', /entry "0s" must be longer than zero/],
      ['8d', /entry "8d" is longer than 7d/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseRetrySchedule(text), message, text);
  });

  it('jitters each wait within ±20% and reaches both bounds', () => {
    const schedule = [10_000, 60_000];
    assert.equal(nextDelay(schedule, 1, undefined, () => 0), 10_000 * (1 - JITTER));
    assert.equal(nextDelay(schedule, 1, undefined, () => 0.5), 10_000);
    assert.equal(nextDelay(schedule, 2, undefined, () => 0.999999), Math.round(60_000 * (1 + JITTER * 0.999998)));
    const random = seededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const delay = nextDelay(schedule, 2, undefined, random)!;
      assert.ok(delay >= 48_000 && delay <= 72_000, `${delay} out of bounds`);
      seen.add(delay);
    }
    assert.ok(seen.size > 100, 'jitter spreads the delays');
  });

  it('the first attempt is due at once; the schedule spent means dead', () => {
    assert.equal(nextDelay([1000], 0), 0);
    assert.equal(typeof nextDelay(DEFAULT_RETRY_SCHEDULE, DEFAULT_RETRY_SCHEDULE.length), 'number');
    assert.equal(nextDelay(DEFAULT_RETRY_SCHEDULE, DEFAULT_RETRY_SCHEDULE.length + 1), undefined);
    assert.equal(nextDelay([1000, 2000], 3, 5_000), undefined, 'Retry-After does not revive a spent schedule');
  });

  it('honours Retry-After: never earlier, capped at the longest wait of the schedule', () => {
    const schedule = [5_000, 30_000, 600_000];
    for (const r of [0, 0.5, 0.999]) {
      assert.equal(nextDelay(schedule, 1, 120_000, () => r), 120_000, 'a later Retry-After wins over the schedule');
      assert.ok(nextDelay(schedule, 2, 1_000, () => r)! >= 24_000, 'an earlier Retry-After does not hurry the schedule');
      assert.equal(nextDelay(schedule, 1, 10 * 86_400_000, () => r), 600_000, 'a huge Retry-After is capped');
    }
    assert.equal(nextDelay(schedule, 1, 0, () => 0.5), 5_000);
  });
});
