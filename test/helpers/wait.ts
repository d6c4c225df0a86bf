/**
 * Bounded waits: a test that waits for a state fails within a bound, naming what it waited for,
 * instead of hanging the run. Wait on an event where one exists; `eventually` is for state that
 * announces nothing (a file appearing, a counter of another process).
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/** Re-checks `condition` until it holds, failing after `ms` with `what` in the message. */
export async function eventually(condition: () => Promise<boolean> | boolean, what: string, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(5);
  }
}

/** `promise`'s outcome, or a failure naming `what` if it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `not within ${ms} ms: ${what}` })), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
