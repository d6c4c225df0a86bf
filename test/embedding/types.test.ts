/**
 * Compile-time checks of the embedding API's types: `npm run typecheck` fails if a line marked
 * `@ts-expect-error` compiles (the mistake went unnoticed) or an unmarked one does not. The
 * functions are never called; the one runtime test checks what `methodRef` is.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { methodRef, type Longrun } from '../../src/index.js';
import type { SleepMetadata } from '../../src/gen/longrun/testing/v1/SleepMetadata.js';
import type { SleepRequest, SleepRequest__Output } from '../../src/gen/longrun/testing/v1/SleepRequest.js';
import type { SleepResponse } from '../../src/gen/longrun/testing/v1/SleepResponse.js';

/** With the types generated from the protos (proto-loader-gen-types). */
const SLEEP = methodRef<SleepRequest, SleepMetadata, SleepResponse, SleepRequest__Output>('/longrun.testing.v1.Sleeper/Sleep');

/** With an app's own interfaces. */
interface ReportRequest {
  title: string;
  pages: number;
}
interface ReportMetadata {
  pagesDone: number;
}
interface Report {
  title: string;
  pages: number;
}
const REPORT = methodRef<ReportRequest, ReportMetadata, Report>('/example.reports.v1.Reports/GenerateReport');

export function typedHandlers(longrun: Longrun): void {
  longrun.method(SLEEP, async (request, context) => {
    const steps: number = request.steps; // __Output: every field present
    await context.setMetadata({ progressPercent: 10, attempt: context.attempt });
    await context.update({ percent: 10, metadata: { progressPercent: 10 } });
    // @ts-expect-error a misspelt metadata field
    await context.setMetadata({ progressPercnt: 10 });
    // @ts-expect-error a metadata value of the wrong type
    await context.update({ metadata: { progressPercent: 'ten' } });
    // @ts-expect-error a request field that does not exist
    void request.stepz;
    return { steps, attempt: context.attempt };
  });
  // @ts-expect-error a misspelt response field
  longrun.method(SLEEP, async () => ({ stepz: 1 }));

  longrun.method(REPORT, async (request, context) => {
    await context.setMetadata({ pagesDone: request.pages });
    // @ts-expect-error the request's pages is a number
    const title: number = request.title;
    void title;
    return { title: request.title, pages: request.pages };
  });
  // @ts-expect-error the response misses `pages`
  longrun.method(REPORT, async (request) => ({ title: request.title }));

  // A path and explicit type arguments, as before methodRef.
  longrun.method<ReportRequest, ReportMetadata, Report>('/example.reports.v1.Reports/GenerateReport', async (request) => ({ ...request }));
  // A bare path: plain objects.
  longrun.method('/example.reports.v1.Reports/GenerateReport', async (request) => ({ title: String(request['title']) }));
}

export async function typedCreates(longrun: Longrun): Promise<void> {
  await longrun.create(SLEEP, { steps: 3, duration: { seconds: 1 } }, { idempotencyKey: 'k', caller: { principal: 'alice' } });
  // @ts-expect-error a misspelt request field
  await longrun.create(SLEEP, { stepz: 3 });
  // @ts-expect-error a string for an int32
  await longrun.create(SLEEP, { steps: 'abc' });
  await longrun.create(REPORT, { title: 'Q3', pages: 3 });
  // @ts-expect-error `pages` is required by the app's own type
  await longrun.create(REPORT, { title: 'Q3' });
  // @ts-expect-error unknown option
  await longrun.create(REPORT, { title: 'Q3', pages: 3 }, { idempotencyKy: 'k' });
  // A bare path takes any plain object: it is checked at run time only.
  await longrun.create('/example.reports.v1.Reports/GenerateReport', { title: 'Q3', pages: 'three' });
}

describe('methodRef', { timeout: 10_000 }, () => {
  it('is the path, frozen; the types exist for the compiler only', () => {
    assert.deepEqual({ ...REPORT }, { path: '/example.reports.v1.Reports/GenerateReport' });
    assert.ok(Object.isFrozen(SLEEP));
  });
});
