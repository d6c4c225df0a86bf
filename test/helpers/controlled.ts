/**
 * A handler the test drives by hand: each run is announced when it starts and ends when the
 * test says so, so tests wait on events, never on the clock.
 */
import assert from 'node:assert/strict';
import type { Handler, OperationContext } from '../../src/index.js';

export interface ControlledRun<Request = Record<string, unknown>> {
  request: Request;
  context: OperationContext;
  finish(response: Record<string, unknown>): void;
  fail(error: unknown): void;
  /** Resolves when the run's AbortSignal fires. */
  aborted: Promise<unknown>;
}

export class Controlled<Request = Record<string, unknown>> {
  private readonly queued: ControlledRun<Request>[] = [];
  private readonly waiting: ((run: ControlledRun<Request>) => void)[] = [];
  started = 0;

  readonly handler: Handler<Request, Record<string, unknown>, Record<string, unknown>> = (request, context) =>
    new Promise((resolve, reject) => {
      this.started++;
      const run: ControlledRun<Request> = {
        request,
        context,
        finish: resolve,
        fail: reject,
        aborted: new Promise((fired) =>
          context.signal.aborted ? fired(context.signal.reason) : context.signal.addEventListener('abort', () => fired(context.signal.reason)),
        ),
      };
      const waiter = this.waiting.shift();
      if (waiter) waiter(run);
      else this.queued.push(run);
    });

  /** The next run to start (already started ones first); fails if none starts within `ms`. */
  next(ms = 30_000): Promise<ControlledRun<Request>> {
    const run = this.queued.shift();
    if (run) return Promise.resolve(run);
    return new Promise((resolve, reject) => {
      const waiter = (started: ControlledRun<Request>) => {
        clearTimeout(timer);
        resolve(started);
      };
      const timer = setTimeout(() => {
        // Gone from the queue, so a run starting later is not handed to a test that has failed.
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(new assert.AssertionError({ message: `not within ${ms} ms: a run of the controlled handler to start` }));
      }, ms);
      this.waiting.push(waiter);
    });
  }
}

export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
