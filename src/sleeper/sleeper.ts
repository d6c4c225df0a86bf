/**
 * `longrun.testing.v1.Sleeper/Sleep`: runs for the requested time in steps, reporting progress and
 * metadata after each, and honours cancellation between steps. For tests and demos; written only
 * against longrun's public API, as an embedding app would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Code, LongrunError, invalidArgument, type AnswerStyle, type Longrun } from '../index.js';

export const SLEEP_METHOD = '/longrun.testing.v1.Sleeper/Sleep';
/** `ErrorInfo.domain` of the Sleeper's own errors (an app's reasons live under its own domain). */
export const SLEEPER_ERROR_DOMAIN = 'sleeper.longrun.testing';
export const MAX_SLEEP_MS = 60 * 60 * 1000;
export const MAX_STEPS = 1000;
const DEFAULT_STEPS = 10;

interface Duration {
  seconds: string | number;
  nanos: number;
}
interface SleepRequest {
  duration: Duration | null;
  steps: number;
  failWith: { code: number; message: string; details: { type_url: string; value: Uint8Array }[] } | null;
  requestId: string;
  parent: string;
  failAttempts: number;
}
interface Timestamp {
  seconds: number;
  nanos: number;
}
interface SleepMetadata {
  progressPercent: number;
  startTime: Timestamp;
  estimatedEndTime: Timestamp;
  attempt: number;
}
interface SleepResponse {
  slept: Duration;
  steps: number;
  attempt: number;
}

/** `httpAnswer` as in MethodOptions: the Sleeper answers in the async style unless told otherwise. */
export function addSleeper(longrun: Longrun, options: { httpAnswer?: AnswerStyle } = {}): void {
  longrun.method<SleepRequest, SleepMetadata, SleepResponse>(
    SLEEP_METHOD,
    async (request, context) => {
      const totalMs = durationMs(request.duration);
      const steps = request.steps || DEFAULT_STEPS;
      const start = Date.now();
      const metadata = (percent: number): SleepMetadata => ({
        progressPercent: percent,
        startTime: timestamp(start),
        estimatedEndTime: timestamp(start + totalMs),
        attempt: context.attempt,
      });
      await context.setMetadata(metadata(0));
      for (let step = 1; step <= steps; step++) {
        await sleep(totalMs / steps, undefined, { signal: context.signal });
        const percent = Math.floor((step * 100) / steps);
        // One write: a watcher never sees the percent without the metadata that reports it.
        await context.update({ percent, estimatedCompletion: new Date(start + totalMs), metadata: metadata(percent) });
      }
      if (request.failAttempts > 0) {
        if (context.attempt <= request.failAttempts) {
          const message = request.failWith?.message || `the Sleeper fails attempt ${context.attempt} of the first ${request.failAttempts} (fail_attempts)`;
          throw new LongrunError((request.failWith?.code ?? Code.UNAVAILABLE) as Code, message, 'SLEEP_FAILED', { domain: SLEEPER_ERROR_DOMAIN, details: detailsOf(request) });
        }
      } else if (request.failWith) {
        throw new LongrunError(request.failWith.code as Code, request.failWith.message, 'SLEEP_FAILED', { domain: SLEEPER_ERROR_DOMAIN, details: detailsOf(request) });
      }
      return { slept: { seconds: Math.floor(totalMs / 1000), nanos: (totalMs % 1000) * 1e6 }, steps, attempt: context.attempt };
    },
    {
      ...options,
      // Nothing has run yet: no attempt, no start time.
      initialMetadata: () => ({ progressPercent: 0, attempt: 0 }) as SleepMetadata,
      validate(request) {
        const ms = durationMs(request.duration);
        if (!(ms >= 0 && ms <= MAX_SLEEP_MS)) throw invalidArgument('duration', `must be between 0 and ${MAX_SLEEP_MS / 1000} seconds`);
        if (!(request.steps >= 0 && request.steps <= MAX_STEPS)) throw invalidArgument('steps', `must be between 0 and ${MAX_STEPS}`);
        if (request.failAttempts < 0) throw invalidArgument('fail_attempts', 'must be 0 or more');
        if (request.failWith && !(request.failWith.code > Code.OK && request.failWith.code <= Code.UNAUTHENTICATED)) {
          throw invalidArgument('fail_with.code', 'must be a google.rpc.Code other than OK (1-16)');
        }
      },
    },
  );
}

function detailsOf(request: SleepRequest): { typeUrl: string; value: Uint8Array }[] {
  return (request.failWith?.details ?? []).map((any) => ({ typeUrl: any.type_url, value: any.value }));
}

function durationMs(duration: Duration | null): number {
  return duration === null ? 0 : Number(duration.seconds) * 1000 + Math.floor(duration.nanos / 1e6);
}

function timestamp(ms: number): Timestamp {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}
