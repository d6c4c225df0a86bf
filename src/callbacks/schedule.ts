/**
 * When a failed callback is tried again. The schedule lists the waits before each retry, so a
 * schedule of n entries allows 1 + n attempts; after the last the delivery is dead.
 */

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ENTRY = /^(\d{1,9})(ms|s|m|h|d)$/;

/** Longest single wait accepted: a retry further away than a week is a mistake in the schedule. */
export const MAX_RETRY_DELAY_MS = 7 * UNIT_MS.d;

/**
 * The default waits, about 19.6 hours in all over 8 attempts: the early ones ride out a receiver's
 * restart or deploy, the later ones an outage of most of a day. (Standard Webhooks' reference
 * service spreads its retries over about a day, too.)
 */
export const DEFAULT_RETRY_SCHEDULE: readonly number[] = Object.freeze(parseRetrySchedule('5s,30s,2m,10m,1h,6h,12h'));

/** Each wait moves by up to this fraction either way, so failed callbacks do not retry in lockstep. */
export const JITTER = 0.2;

/** `5s,30s,2m,10m,1h,6h` → milliseconds; throws Error naming the bad entry. */
export function parseRetrySchedule(text: string): number[] {
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 1 && entries[0] === '') throw new Error('retry schedule is empty: list waits such as 5s,30s,2m');
  return entries.map((entry) => {
    const match = ENTRY.exec(entry);
    if (match === null) {
      throw new Error(`retry schedule entry ${JSON.stringify(entry)} is not a whole number with a unit (ms, s, m, h, d), e.g. 30s`);
    }
    const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    if (ms <= 0) throw new Error(`retry schedule entry ${JSON.stringify(entry)} must be longer than zero`);
    if (ms > MAX_RETRY_DELAY_MS) throw new Error(`retry schedule entry ${JSON.stringify(entry)} is longer than 7d`);
    return ms;
  });
}

/**
 * Delay before the next attempt after `attemptsMade` failed ones, with jitter; honours Retry-After
 * (never earlier than it, capped sensibly); undefined: the schedule is spent (dead).
 *
 * No failed attempt yet means the first attempt, which is due at once (0). A receiver's
 * Retry-After is obeyed up to the schedule's longest wait, so a receiver cannot park a delivery
 * for longer than the operator's schedule would.
 */
export function nextDelay(
  schedule: readonly number[],
  attemptsMade: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number | undefined {
  if (attemptsMade <= 0) return 0;
  const base = schedule[attemptsMade - 1];
  if (base === undefined) return undefined;
  const jittered = Math.round(base * (1 + JITTER * (2 * random() - 1)));
  if (retryAfterMs === undefined || !(retryAfterMs > 0)) return jittered;
  return Math.max(jittered, Math.ceil(Math.min(retryAfterMs, Math.max(...schedule))));
}
