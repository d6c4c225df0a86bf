/**
 * longrun looks its tracer up once per global tracer provider (observe/tracing.ts), not per call.
 * An app may still register its SDK after longrun has started spans, and may replace its provider:
 * the spans of a call go to whichever provider is registered when the call comes.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { startGrpcSpan } from '../../src/observe/tracing.js';

const GET = '/google.longrunning.Operations/GetOperation';
const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A call from a caller that traces, as the gRPC handlers make it: its span started from the caller's metadata and ended. */
function tracedCall(operation: string, path = GET): void {
  const span = startGrpcSpan(path, (name) => (name === 'traceparent' ? TRACEPARENT : undefined));
  span.run(() => undefined);
  span.end(0, { operation });
}

function register(): InMemorySpanExporter {
  const exporter = new InMemorySpanExporter();
  new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).register();
  return exporter;
}

function unregister(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

describe('the tracer and the app’s provider', { timeout: 10_000 }, () => {
  afterEach(unregister);

  it('uses an SDK registered after longrun has started spans, and a provider that replaced it', () => {
    unregister();
    // No SDK yet: a creation (polls without an SDK get no span at all) has a no-op span, from the tracer of the API's proxy provider.
    tracedCall('operations/before', SLEEP);
    const first = register();
    tracedCall('operations/first');
    assert.deepEqual(
      first.getFinishedSpans().map((span) => [span.name, span.attributes['longrun.operation.name'], span.attributes['rpc.service'], span.attributes['rpc.method']]),
      [['google.longrunning.Operations/GetOperation', 'operations/first', 'google.longrunning.Operations', 'GetOperation']],
    );
    assert.equal(first.getFinishedSpans()[0]!.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');

    unregister();
    const second = register();
    tracedCall('operations/second');
    assert.deepEqual(
      second.getFinishedSpans().map((span) => span.attributes['longrun.operation.name']),
      ['operations/second'],
    );
    assert.equal(first.getFinishedSpans().length, 1, 'the replaced provider got nothing more');
  });
});
