import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '../../src/domain/errors.js';
import { backoffMs, checkRetryPolicy, DEFAULT_RETRY_POLICY, isRetryable } from '../../src/methods/retry-policy.js';

describe('retry policy', { timeout: 10_000 }, () => {
  it('grows the wait by the multiplier up to the maximum, with jitter on top', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, initialBackoffMs: 100, maxBackoffMs: 1000, multiplier: 3, jitter: 0.5 };
    assert.deepEqual([1, 2, 3, 4].map((attempt) => backoffMs(policy, attempt, undefined, () => 0)), [100, 300, 900, 1000]);
    assert.equal(backoffMs(policy, 1, undefined, () => 1), 150, 'at most jitter x the wait more');
    assert.equal(backoffMs(policy, 4, undefined, () => 1), 1000, 'never above the maximum');
  });

  it('takes the delay of a RetryInfo, capped by the maximum', () => {
    assert.equal(backoffMs(DEFAULT_RETRY_POLICY, 1, 250, () => 1), 250);
    assert.equal(backoffMs(DEFAULT_RETRY_POLICY, 1, 10 * 60_000), DEFAULT_RETRY_POLICY.maxBackoffMs);
  });

  it('has defaults under which three attempts of a quick handler end within ten seconds', () => {
    const worst = backoffMs(DEFAULT_RETRY_POLICY, 1, undefined, () => 1) + backoffMs(DEFAULT_RETRY_POLICY, 2, undefined, () => 1);
    assert.ok(worst < 10_000, `${worst} ms of waiting`);
  });

  it('retries the listed codes and unexpected throws, never cancellation or the caller-side codes', () => {
    for (const code of [Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.ABORTED, Code.DEADLINE_EXCEEDED, Code.INTERNAL, Code.UNKNOWN]) {
      assert.equal(isRetryable(DEFAULT_RETRY_POLICY, code), true, `code ${code}`);
    }
    for (const code of [Code.INVALID_ARGUMENT, Code.NOT_FOUND, Code.FAILED_PRECONDITION, Code.PERMISSION_DENIED, Code.OUT_OF_RANGE, Code.UNIMPLEMENTED, Code.UNAUTHENTICATED, Code.CANCELLED]) {
      assert.equal(isRetryable(DEFAULT_RETRY_POLICY, code), false, `code ${code}`);
    }
    assert.equal(isRetryable(DEFAULT_RETRY_POLICY, undefined), true, 'an unexpected throw');
    assert.equal(isRetryable({ ...DEFAULT_RETRY_POLICY, retryableCodes: [Code.CANCELLED] }, Code.CANCELLED), false);
  });

  it('refuses nonsense, naming the rule', () => {
    assert.throws(() => checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, multiplier: 0.5 }, 'm'), /m: multiplier must be 1 or more/);
    assert.throws(() => checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, maxBackoffMs: 1 }, 'm'), /maxBackoffMs must be at least initialBackoffMs/);
    assert.throws(() => checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, jitter: 2 }, 'm'), /jitter/);
  });
});
