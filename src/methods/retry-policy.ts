/**
 * Which failed runs are tried again, and after how long. Pure functions of the attempt and the
 * error, tested without a clock; the runner keeps only their result (the next attempt's time) in
 * the store, so the wait survives restarts and any process may run the retry.
 *
 * Attempts count every run of an operation, lost leases included (`maxAttempts`, `--max-attempts`).
 */
import { Code } from '../domain/errors.js';

export interface RetryPolicy {
  /** Wait after the first failed attempt (default: 1 s). */
  initialBackoffMs: number;
  /** Longest wait between two attempts (default: 60 s). */
  maxBackoffMs: number;
  /** Each wait is this many times the previous (default: 2). */
  multiplier: number;
  /** Share of each wait drawn at random, 0-1, so failures that came together do not retry together (default: 0.2). */
  jitter: number;
  /** Codes of a handler's LongrunError that are retried; any other code ends the operation at once. Unexpected throws always retry. */
  retryableCodes: readonly Code[];
}

/** Retried by default: the failures that a later attempt may not meet (AIP-194's retryable codes and their kin). */
export const DEFAULT_RETRYABLE_CODES: readonly Code[] = [
  Code.UNAVAILABLE,
  Code.RESOURCE_EXHAUSTED,
  Code.ABORTED,
  Code.DEADLINE_EXCEEDED,
  Code.INTERNAL,
  Code.UNKNOWN,
];

/**
 * The defaults: three attempts of a quick handler end within about 3.6 s (1 s, then 2 s, each at
 * most 20% longer), well inside ten seconds.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  multiplier: 2,
  jitter: 0.2,
  retryableCodes: DEFAULT_RETRYABLE_CODES,
};

/** Never retried, whatever a policy lists: the caller asked to stop. */
const NEVER_RETRIED: ReadonlySet<Code> = new Set([Code.CANCELLED]);

/** Whether a run that ended with `code` (undefined: an unexpected throw) may be retried. */
export function isRetryable(policy: RetryPolicy, code: Code | undefined): boolean {
  if (code === undefined) return true;
  return !NEVER_RETRIED.has(code) && policy.retryableCodes.includes(code);
}

/**
 * The wait before attempt `failedAttempt + 1`: initial x multiplier^(failedAttempt-1), capped, plus
 * up to `jitter` of it at random. A RetryInfo delay from the handler wins (capped too).
 */
export function backoffMs(policy: RetryPolicy, failedAttempt: number, retryInfoMs?: number, random: () => number = Math.random): number {
  if (retryInfoMs !== undefined) return Math.min(Math.max(0, retryInfoMs), policy.maxBackoffMs);
  const base = Math.min(policy.initialBackoffMs * policy.multiplier ** Math.max(0, failedAttempt - 1), policy.maxBackoffMs);
  return Math.round(Math.min(base * (1 + policy.jitter * random()), policy.maxBackoffMs));
}

/** Checks a policy given by an app or the command line; names the rule broken. */
export function checkRetryPolicy(policy: RetryPolicy, where: string): RetryPolicy {
  const fail = (why: string) => {
    throw new RangeError(`${where}: ${why}`);
  };
  if (!(Number.isFinite(policy.initialBackoffMs) && policy.initialBackoffMs >= 0)) fail('initialBackoffMs must be 0 or more');
  if (!(Number.isFinite(policy.maxBackoffMs) && policy.maxBackoffMs >= policy.initialBackoffMs)) fail('maxBackoffMs must be at least initialBackoffMs');
  if (!(Number.isFinite(policy.multiplier) && policy.multiplier >= 1)) fail('multiplier must be 1 or more');
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) fail('jitter must be within 0..1');
  return policy;
}
