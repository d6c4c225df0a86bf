/**
 * One trace across the async hop, in one process: a curl-style POST carrying a `traceparent` starts
 * an operation whose first attempt fails and is retried; the creating call, both attempts, the
 * retry's wait, a span the handler started itself and the webhook attempt all reach a real OTLP/HTTP
 * receiver (OpenTelemetry's own SDK and JSON exporter, set up as `longrun serve` sets them up) in
 * the caller's trace, and the webhook's receiver gets a `traceparent` of that trace.
 * Before the SDK is registered, the same calls carry nothing and store nothing: the API is a no-op.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { context, propagation, trace } from '@opentelemetry/api';
import { startTraceExport, traceExportOf, type TraceExport } from '../../src/cli/tracing.js';
import { Code, LongrunError } from '../../src/domain/errors.js';
import { ATTR_ATTEMPT, ATTR_OPERATION_NAME } from '../../src/observe/tracing.js';
import { http } from '../helpers/http.js';
import { newTraceparent, SpanKindOf, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';
import { newSecret, startReceiver, type Receiver } from '../helpers/receiver.js';
import { silentLogger, startTestServer, type TestServer } from '../helpers/server.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const WAIT = '/google.longrunning.Operations/WaitOperation';

describe('traces across the async hop (in process, OTLP/HTTP JSON)', { timeout: 120_000 }, () => {
  let otlp: OtlpReceiver;
  let hooks: Receiver;
  let server: TestServer;
  let traces: TraceExport | undefined;

  /** As `longrun serve` does, with the batch processor's delay short so spans arrive while the test waits. */
  const exportTraces = async (env: Record<string, string>) => {
    trace.disable();
    context.disable();
    propagation.disable();
    process.env.OTEL_BSP_SCHEDULE_DELAY = '50';
    traces = await startTraceExport(env, silentLogger);
    assert.ok(traces);
  };

  before(async () => {
    otlp = await startOtlpReceiver();
    hooks = await startReceiver();
    server = await startTestServer({
      http: {},
      sleeper: false,
      callbacks: { secrets: [newSecret()], allow: ['127.0.0.1'] },
      setup: (longrun) =>
        // An app's own method on the Sleeper's path: it starts a span of its own and fails its first `failAttempts` attempts.
        longrun.method<{ failAttempts: number }, Record<string, unknown>, Record<string, unknown>>(
          SLEEP,
          async (request, operation) => {
            await trace.getTracer('the-app').startActiveSpan('app: resize the image', async (span) => {
              span.setAttribute('app.attempt', operation.attempt);
              await operation.progress(50);
              span.end();
            });
            if (operation.attempt <= request.failAttempts) throw new LongrunError(Code.UNAVAILABLE, `attempt ${operation.attempt} fails`, 'RESIZE_FAILED', { domain: 'the-app.example' });
            return { steps: 1, attempt: operation.attempt };
          },
          { retry: { initialBackoffMs: 150, jitter: 0 } },
        ),
    });
  });

  after(async () => {
    await server?.close();
    await traces?.shutdown();
    delete process.env.OTEL_BSP_SCHEDULE_DELAY;
    trace.disable();
    context.disable();
    propagation.disable();
    await hooks?.close();
    await otlp?.close();
  });

  const create = (headers: Record<string, string>, failAttempts = 0) =>
    http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s', failAttempts }, headers: { 'Longrun-Callback-Url': hooks.url, ...headers } });

  it('without an SDK carries nothing: no context is stored and the webhook gets no traceparent', async () => {
    const caller = newTraceparent();
    const created = await create({ traceparent: caller.traceparent });
    assert.equal(created.status, 202, created.text);
    const done = await server.longrun.wait(created.json.name, 10_000);
    assert.equal(done.done, true);
    assert.equal(done.traceContext, undefined, 'nothing kept with the operation');
    const [hook] = await hooks.count(1);
    assert.equal(hook!.headers['traceparent'], undefined);
    assert.equal(otlp.spans.length, 0);
  });

  it('with the SDK and OTLP exporter: one trace from the POST to the webhook, through a retry', async () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'tracing-test' };
    assert.deepEqual(traceExportOf(env), { protocol: 'http/json', url: `${otlp.endpoint}/v1/traces` });
    await exportTraces(env);
    const caller = newTraceparent();
    const created = await create({ traceparent: caller.traceparent, tracestate: 'vendor=abc' }, 1);
    assert.equal(created.status, 202, created.text);
    const name: string = created.json.name;
    const done = await server.longrun.wait(name, 10_000);
    assert.equal(done.done, true);
    assert.equal(done.response !== undefined, true, 'the second attempt answered');
    assert.equal(done.traceContext?.['tracestate'], 'vendor=abc', 'tracestate kept with the operation');
    const hook = (await hooks.count(2))[1]!;

    // The webhook attempt ends last: what ended before it was exported in its batch or an earlier one.
    const webhook = await otlp.waitFor((span) => span.kind === SpanKindOf.client && span.attributes[ATTR_OPERATION_NAME] === name, 'the webhook attempt');
    const inTrace = otlp.spans.filter((span) => span.traceId === caller.traceId);
    const byName = (test: (span: ReceivedSpan) => boolean, what: string) => {
      const found = inTrace.filter(test);
      assert.ok(found.length > 0, `${what} in the caller's trace; got ${inTrace.map((span) => span.name).join(', ')}`);
      return found;
    };

    // The creating call: a SERVER span, child of the caller's span, with the http conventions.
    const [creating] = byName((span) => span.kind === SpanKindOf.server && span.name === 'POST /v1/sleep', 'the creating call');
    assert.equal(creating!.parentSpanId, caller.spanId);
    assert.equal(creating!.attributes['http.request.method'], 'POST');
    assert.equal(creating!.attributes['http.response.status_code'], 202);
    assert.equal(creating!.attributes[ATTR_OPERATION_NAME], name);
    assert.equal(creating!.service, 'tracing-test');
    assert.equal(creating!.contentType, 'application/json');

    // Two attempts: CONSUMER spans under the creating span, linked to it; the first failed, the second succeeded.
    const attempts = byName((span) => span.kind === SpanKindOf.consumer && span.attributes[ATTR_OPERATION_NAME] === name, 'the attempts').sort(
      (a, b) => Number(a.attributes[ATTR_ATTEMPT]) - Number(b.attributes[ATTR_ATTEMPT]),
    );
    assert.deepEqual(attempts.map((span) => span.attributes[ATTR_ATTEMPT]), [1, 2]);
    for (const attempt of attempts) {
      assert.equal(attempt.parentSpanId, creating!.spanId);
      assert.deepEqual(attempt.links.map((link) => link.spanId), [creating!.spanId]);
      assert.equal(attempt.name, 'process longrun.testing.v1.Sleeper/Sleep');
      assert.equal(attempt.attributes['messaging.destination.name'], 'longrun.testing.v1.Sleeper/Sleep');
      assert.deepEqual(attempt.events.filter((event) => event.name === 'progress').map((event) => event.attributes['longrun.progress.percent']), [50]);
    }
    assert.deepEqual(attempts.map((span) => span.status.code), [2, 1], 'error, then ok');
    assert.equal(attempts[0]!.attributes['error.type'], 'UNAVAILABLE');
    assert.equal(attempts[0]!.status.message, 'attempt 1 fails');

    // The retry's wait: from the failure until the retry was due, linked to the failed attempt.
    const [wait] = byName((span) => span.name.startsWith('retry wait'), 'the retry wait');
    assert.equal(wait!.parentSpanId, creating!.spanId);
    assert.equal(wait!.attributes['longrun.retry.delay_ms'], 150);
    assert.deepEqual(wait!.links.map((link) => link.spanId), [attempts[0]!.spanId]);
    assert.equal(wait!.endNs - wait!.startNs, 150_000_000n);
    assert.ok(wait!.startNs >= attempts[0]!.startNs && wait!.endNs <= attempts[1]!.startNs + 50_000_000n, 'the wait lies between the attempts');

    // The handler's own span nests under its attempt: the handler runs in the attempt's context.
    const own = byName((span) => span.name === 'app: resize the image', "the handler's own spans");
    assert.deepEqual(own.map((span) => span.parentSpanId).sort(), attempts.map((span) => span.spanId).sort());
    assert.deepEqual(own.map((span) => span.scope), ['the-app', 'the-app']);

    // The webhook attempt: a CLIENT span in the trace, and the receiver was told so.
    assert.equal(webhook.traceId, caller.traceId);
    assert.equal(webhook.parentSpanId, creating!.spanId);
    assert.equal(webhook.attributes['http.response.status_code'], 204);
    assert.equal(webhook.attributes['server.address'], '127.0.0.1');
    assert.equal(webhook.attributes['longrun.webhook.id'], hook.headers['webhook-id']);
    assert.equal(hook.headers['traceparent'], `00-${caller.traceId}-${webhook.spanId}-01`);
    assert.equal(hook.headers['tracestate'], 'vendor=abc');
  });

  it('links WaitOperation (gRPC) and an HTTP watch to the operation, spans polls only for tracing callers, and gRPC creations continue the metadata traceparent', async () => {
    await exportTraces({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
    const creator = newTraceparent();
    const created = await server.call<{ name: string }>(SLEEP, { duration: { seconds: 0 } }, { traceparent: creator.traceparent });
    const waiter = newTraceparent();
    await server.call(WAIT, { name: created.name, timeout: { seconds: 10 } }, { traceparent: waiter.traceparent });
    // Polls get a span only when the caller traces: one without a context, one with.
    await server.client.get(created.name);
    const poller = newTraceparent();
    await server.call('/google.longrunning.Operations/GetOperation', { name: created.name }, { traceparent: poller.traceparent });
    const watcher = newTraceparent();
    const watch = await http('GET', `${server.httpUrl}/v1/${created.name}:watch`, { headers: { traceparent: watcher.traceparent } });
    assert.equal(watch.status, 200);

    const creating = await otlp.waitFor((span) => span.traceId === creator.traceId && span.kind === SpanKindOf.server, 'the gRPC creating call');
    assert.equal(creating.name, 'longrun.testing.v1.Sleeper/Sleep');
    assert.deepEqual([creating.attributes['rpc.system'], creating.attributes['rpc.service'], creating.attributes['rpc.method'], creating.attributes['rpc.grpc.status_code']], ['grpc', 'longrun.testing.v1.Sleeper', 'Sleep', 0]);
    assert.equal(creating.parentSpanId, creator.spanId);
    await otlp.waitFor((span) => span.traceId === creator.traceId && span.kind === SpanKindOf.consumer && span.parentSpanId === creating.spanId, 'its attempt');

    const wait = await otlp.waitFor((span) => span.traceId === waiter.traceId && span.name === 'google.longrunning.Operations/WaitOperation', 'the WaitOperation call');
    assert.equal(wait.parentSpanId, waiter.spanId, 'in its caller’s trace');
    assert.deepEqual(wait.links.map((link) => [link.traceId, link.spanId]), [[creator.traceId, creating.spanId]], 'linked to the creating span');
    assert.equal(wait.attributes[ATTR_OPERATION_NAME], created.name);

    const watchSpan = await otlp.waitFor((span) => span.traceId === watcher.traceId && span.kind === SpanKindOf.server, 'the HTTP watch');
    assert.deepEqual(watchSpan.links.map((link) => [link.traceId, link.spanId]), [[creator.traceId, creating.spanId]], 'linked once, however many states it sent');
    // Both polls ended before the watch did, so they were exported with it or before.
    const polls = otlp.spans.filter((span) => span.name === 'google.longrunning.Operations/GetOperation');
    assert.deepEqual(polls.map((span) => [span.traceId, span.parentSpanId]), [[poller.traceId, poller.spanId]], 'only the traced poll has a span');
  });

  it('refuses an OTLP protocol it cannot speak, and exports nothing without an endpoint or when disabled', async () => {
    assert.equal(traceExportOf({}), undefined);
    assert.equal(traceExportOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' }), undefined);
    assert.equal(traceExportOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_EXPORTER: 'none' }), undefined);
    assert.deepEqual(traceExportOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1/' }), { protocol: 'http/protobuf', url: 'http://127.0.0.1:1/v1/traces' });
    assert.deepEqual(traceExportOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/custom' }), { protocol: 'http/protobuf', url: 'http://127.0.0.1:1/custom' });
    assert.throws(() => traceExportOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /http\/protobuf or http\/json, not grpc/);
  });
});
