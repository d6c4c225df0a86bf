/**
 * One trace across processes on PostgreSQL: `longrun serve --no-runner` (A) creates the operation
 * from a curl-style POST carrying a `traceparent`, `longrun runner` (C) runs it (a failed first
 * attempt, a retry) and sends its webhook; both export with OpenTelemetry's SDK over OTLP/HTTP
 * protobuf (the default protocol) to one real receiver, and what arrives is one trace. The runner's
 * log lines carry the attempt's trace and span ids, and server A's line of each call (over HTTP and
 * over gRPC) the ids of the call's span.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { OperationsClient } from '../../src/index.js';
import { ATTR_ATTEMPT, ATTR_OPERATION_NAME } from '../../src/observe/tracing.js';
import { http } from '../helpers/http.js';
import { newTraceparent, SpanKindOf, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';
import { httpAddressOf, spawnRunner, spawnServer, type ServerProcess } from '../helpers/process.js';
import { stopTestPostgres, testPostgres, type TestDatabase } from '../helpers/postgres.js';
import { newSecret, startReceiver, type Receiver } from '../helpers/receiver.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';

describe('traces across processes (PostgreSQL, OTLP/HTTP protobuf)', { timeout: 180_000 }, () => {
  const processes: ServerProcess[] = [];
  let otlp: OtlpReceiver | undefined;
  let hooks: Receiver | undefined;
  let database: TestDatabase | undefined;
  after(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL').catch(() => undefined)));
    await hooks?.close();
    await otlp?.close();
    await database?.drop();
    await stopTestPostgres();
  });

  it('joins the creating call on server A, the attempts, retry wait and webhook on runner C into one trace', async () => {
    otlp = await startOtlpReceiver();
    hooks = await startReceiver();
    database = await (await testPostgres()).freshDatabase();
    const dir = tempDir();
    const secretFile = dir.file('callback-secrets');
    writeFileSync(secretFile, `${newSecret()}\n`);
    const common = ['--enable-sleeper', '--no-vision', '--callback-secret-file', secretFile, '--callback-allow', '127.0.0.1', '--poll', '200ms', '--log-level', 'info', '--log-format', 'json'];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
    const serverA = await spawnServer(database.url, ['--no-runner', ...common], { ...env, OTEL_SERVICE_NAME: 'longrun-api' });
    processes.push(serverA);
    const runnerC = await spawnRunner(database.url, [...common, '--retry-backoff', '200ms'], { ...env, OTEL_SERVICE_NAME: 'longrun-runner' });
    processes.push(runnerC);

    const caller = newTraceparent();
    const created = await http('POST', `${await httpAddressOf(serverA)}/v1/sleep`, {
      body: { duration: '0.05s', steps: 1, failAttempts: 1 },
      headers: { traceparent: caller.traceparent, 'Longrun-Callback-Url': hooks.url },
    });
    assert.equal(created.status, 202, created.text);
    const name: string = created.json.name;
    const [hook] = await hooks.count(1, 30_000);
    const webhook = await otlp.waitFor((span) => span.kind === SpanKindOf.client && span.attributes[ATTR_OPERATION_NAME] === name, 'the webhook attempt', 30_000);
    const creating = await otlp.waitFor((span) => span.traceId === caller.traceId && span.kind === SpanKindOf.server, 'the creating call');

    assert.equal(creating.service, 'longrun-api');
    assert.equal(creating.parentSpanId, caller.spanId);
    assert.equal(creating.name, 'POST /v1/sleep');
    assert.match(creating.contentType, /protobuf/);

    const attempts = otlp.spans
      .filter((span) => span.traceId === caller.traceId && span.kind === SpanKindOf.consumer)
      .sort((a, b) => Number(a.attributes[ATTR_ATTEMPT]) - Number(b.attributes[ATTR_ATTEMPT]));
    assert.deepEqual(attempts.map((span) => [span.service, span.attributes[ATTR_ATTEMPT], span.status.code, span.parentSpanId]), [
      ['longrun-runner', 1, 2, creating.spanId],
      ['longrun-runner', 2, 1, creating.spanId],
    ]);
    for (const attempt of attempts) assert.deepEqual(attempt.links.map((link) => [link.traceId, link.spanId]), [[caller.traceId, creating.spanId]]);
    assert.ok(attempts[1]!.events.some((event) => event.name === 'progress' && event.attributes['longrun.progress.percent'] === 100), 'progress as events');

    const wait = otlp.spans.find((span) => span.traceId === caller.traceId && span.name === 'retry wait longrun.testing.v1.Sleeper/Sleep');
    assert.ok(wait, 'the retry wait');
    assert.deepEqual([wait.service, wait.parentSpanId, wait.links[0]?.spanId], ['longrun-runner', creating.spanId, attempts[0]!.spanId]);

    assert.deepEqual([webhook.traceId, webhook.parentSpanId, webhook.service], [caller.traceId, creating.spanId, 'longrun-runner']);
    assert.equal(hook!.headers['traceparent'], `00-${caller.traceId}-${webhook.spanId}-01`);

    // The runner's log lines inside an attempt carry its ids.
    await eventually(() => runnerC.stderr().includes('"operation done"'), "the runner's log line of the outcome");
    const lines = runnerC
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; operation?: string; attempt?: number; trace_id?: string; span_id?: string });
    const started = lines.filter((line) => line.msg === 'operation started' && line.operation === name);
    assert.deepEqual(started.map((line) => [line.attempt, line.trace_id, line.span_id]), attempts.map((span) => [span.attributes[ATTR_ATTEMPT], caller.traceId, span.spanId]));
    const idle = lines.find((line) => line.msg === 'running');
    assert.ok(idle !== undefined && idle.trace_id === undefined, 'a line outside any span has no trace id');

    // Server A's line of each call carries the ids of the call's span: the POST, and a poll over gRPC from a caller that traces.
    const poll = newTraceparent();
    const withTraceparent: Interceptor = (options, nextCall) =>
      new InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          metadata.set('traceparent', poll.traceparent);
          next(metadata, listener);
        },
      });
    const poller = new OperationsClient(serverA.address, { channelOptions: { interceptors: [withTraceparent] } });
    try {
      await poller.get(name);
    } finally {
      poller.close();
    }
    const polled = await otlp.waitFor((span) => span.traceId === poll.traceId && span.kind === SpanKindOf.server, 'the traced poll');
    assert.equal(polled.parentSpanId, poll.spanId);
    const callLines = async () => {
      await eventually(() => serverA.stderr().includes('"rpc":"/google.longrunning.Operations/GetOperation"'), "server A's line of the poll");
      return serverA
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; rpc?: string; operation?: string; trace_id?: string; span_id?: string })
        .filter((line) => line.msg === 'rpc' && line.operation === name);
    };
    assert.deepEqual(
      (await callLines()).map((line) => [line.rpc, line.trace_id, line.span_id]),
      [
        ['/longrun.testing.v1.Sleeper/Sleep', caller.traceId, creating.spanId],
        ['/google.longrunning.Operations/GetOperation', poll.traceId, polled.spanId],
      ],
    );
  });
});
