/**
 * The tracing-serve and tracing-request blocks of docs/tracing.md, run as written in a checkout, and
 * the example trace the page shows, checked span by span as a real OTLP/HTTP receiver gets it. Only
 * addresses change: the receiver's endpoint for the collector's, a fresh PostgreSQL database
 * (test/helpers/postgres.ts) for postgres://longrun@db/longrun, free ports (LONGRUN_PORT /
 * LONGRUN_HTTP_PORT) for 50051 and 8080, and a local webhook receiver (allowed with
 * LONGRUN_CALLBACK_ALLOW, as test/docs-rest.test.ts does) for hooks.example.com.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { checkout } from './helpers/checkout.js';
import { runChild, spawnChild, type Child } from './helpers/children.js';
import { blockOf } from './helpers/doc-blocks.js';
import { SpanKindOf, startOtlpReceiver, type ReceivedSpan } from './helpers/otlp.js';
import { stopTestPostgres, testPostgres } from './helpers/postgres.js';
import { startReceiver } from './helpers/receiver.js';

const PAGE = 'docs/tracing.md';
/** The trace and the caller's span of the page's traceparent. */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const METHOD = 'longrun.testing.v1.Sleeper/Sleep';
const STATUS = { ok: 1, error: 2 } as const;

/** A block's shell commands, a command continued with `\` on the next line joined into one. */
const commandsOf = (block: string) =>
  block
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');

describe('docs/tracing.md: the example trace, from its blocks', { timeout: 240_000 }, () => {
  after(() => stopTestPostgres());

  it('tracing-serve and tracing-request: one trace from the POST on server A through the runner\'s attempts, retry wait and webhook', { timeout: 200_000 }, async (t) => {
    const otlp = await startOtlpReceiver();
    const hooks = await startReceiver();
    const database = await (await testPostgres()).freshDatabase();
    const dir = checkout();
    const children: Child[] = [];
    try {
      const env = { ...process.env, LONGRUN_PORT: '0', LONGRUN_HTTP_PORT: '0', LONGRUN_CALLBACK_ALLOW: '127.0.0.1' };
      const commands = commandsOf(blockOf(PAGE, 'tracing-serve').replaceAll('http://127.0.0.1:4318', otlp.endpoint).replaceAll('postgres://longrun@db/longrun', database.url));
      const [serveLine, runnerLine] = commands.filter((command) => /longrun (serve|runner) /.test(command));
      assert.match(serveLine!, /^OTEL_EXPORTER_OTLP_ENDPOINT=\S+ OTEL_SERVICE_NAME=longrun-api +npx longrun serve .*--no-runner/);
      assert.match(runnerLine!, /^OTEL_EXPORTER_OTLP_ENDPOINT=\S+ OTEL_SERVICE_NAME=longrun-runner +npx longrun runner /);
      // The one-shot lines (the signing secret) first, then each process as one of its own.
      for (const command of commands.filter((command) => command !== serveLine && command !== runnerLine)) {
        const run = await runChild('sh', ['-e', '-c', command], { cwd: dir.path, env, timeoutMs: 30_000 });
        assert.equal(run.code, 0, `${command}\n${run.stdout}\n${run.stderr}`);
      }
      const start = (line: string) => {
        const child = spawnChild('sh', ['-e', '-c', line], { cwd: dir.path, env, t });
        children.push(child);
        return child;
      };
      const serverA = start(serveLine!);
      const runnerC = start(runnerLine!);
      const base = (await serverA.waitFor(/longrun http on (http:\/\/\S+)/, 'longrun serve to print its HTTP address', 60_000))[1]!;
      await runnerC.waitFor(/longrun runner ready \(\S+\)/, 'longrun runner to be ready', 60_000);
      for (const child of [serverA, runnerC]) assert.match(child.stderr(), /exporting traces/, 'each process says it exports');

      const request = blockOf(PAGE, 'tracing-request').replaceAll('http://a:8080', base).replaceAll('https://hooks.example.com/longrun', hooks.url);
      assert.ok(request.includes(`traceparent: 00-${TRACE_ID}-${CALLER_SPAN_ID}-01`), 'the request carries the page\'s traceparent');
      const posted = await runChild('sh', ['-e', '-c', request], { cwd: dir.path, timeoutMs: 30_000 });
      assert.equal(posted.code, 0, `${posted.stdout}\n${posted.stderr}\nserver:\n${serverA.output()}`);
      const name = /"name":\s*"(operations\/[\w-]{27})"/.exec(posted.stdout)?.[1];
      assert.ok(name, `curl printed the operation: ${posted.stdout}`);

      const [hook] = await hooks.count(1, 60_000);
      const inTrace = (kind: number, test: (span: ReceivedSpan) => boolean = () => true) => (span: ReceivedSpan) => span.traceId === TRACE_ID && span.kind === kind && test(span);
      const webhook = await otlp.waitFor(inTrace(SpanKindOf.client), 'the webhook attempt', 60_000);
      const creating = await otlp.waitFor(inTrace(SpanKindOf.server), 'the creating POST', 60_000);
      const attemptNumber = (n: number) => inTrace(SpanKindOf.consumer, (span) => span.attributes['longrun.attempt'] === n);
      const attempts = [await otlp.waitFor(attemptNumber(1), 'attempt 1', 60_000), await otlp.waitFor(attemptNumber(2), 'attempt 2', 60_000)];
      const wait = await otlp.waitFor(inTrace(SpanKindOf.internal, (span) => span.name === `retry wait ${METHOD}`), 'the retry wait', 60_000);

      // POST /v1/sleep, SERVER on longrun-api, under the caller's span, answered 202.
      assert.deepEqual(
        [creating.name, creating.service, creating.parentSpanId, creating.attributes['http.response.status_code'], creating.attributes['longrun.operation.name']],
        ['POST /v1/sleep', 'longrun-api', CALLER_SPAN_ID, 202, name],
      );
      // Two attempts, CONSUMER on longrun-runner, under and linked to the POST: ERROR UNAVAILABLE, then OK.
      assert.deepEqual(
        attempts.map((span) => [span.name, span.service, span.parentSpanId, span.status.code]),
        [
          [`process ${METHOD}`, 'longrun-runner', creating.spanId, STATUS.error],
          [`process ${METHOD}`, 'longrun-runner', creating.spanId, STATUS.ok],
        ],
      );
      assert.equal(attempts[0]!.attributes['error.type'], 'UNAVAILABLE');
      for (const attempt of attempts) {
        assert.deepEqual(attempt.links.map((link) => [link.traceId, link.spanId]), [[TRACE_ID, creating.spanId]], 'each attempt links back to the POST');
        assert.ok(attempt.events.some((event) => event.name === 'progress' && event.attributes['longrun.progress.percent'] === 100), 'events: progress 100');
      }
      // The retry wait, between the two attempts, linked to the failed one.
      assert.deepEqual([wait.service, wait.parentSpanId, wait.links.map((link) => link.spanId)], ['longrun-runner', creating.spanId, [attempts[0]!.spanId]]);
      assert.ok(wait.startNs >= attempts[0]!.startNs && wait.endNs <= attempts[1]!.startNs, 'the wait runs from the failure to the retry');
      // The webhook: CLIENT on longrun-runner, under the POST, 204; the receiver got a traceparent of this span.
      assert.deepEqual(
        [webhook.name, webhook.service, webhook.parentSpanId, webhook.attributes['http.response.status_code'], webhook.attributes['server.address']],
        ['POST', 'longrun-runner', creating.spanId, 204, '127.0.0.1'],
      );
      assert.equal(hook!.headers['traceparent'], `00-${TRACE_ID}-${webhook.spanId}-01`);
      // One trace: every span of the operation is in it.
      const ofOperation = otlp.spans.filter((span) => span.attributes['longrun.operation.name'] === name || span.attributes['messaging.message.id'] === name);
      assert.ok(ofOperation.length >= 5, `the operation's spans: ${ofOperation.map((span) => span.name).join(', ')}`);
      assert.deepEqual(new Set(ofOperation.map((span) => span.traceId)), new Set([TRACE_ID]));

      const at = (ns: bigint) => `${Number((ns - creating.startNs) / 1_000_000n)} ms`;
      for (const span of [creating, attempts[0]!, wait, attempts[1]!, webhook]) t.diagnostic(`${span.name} ${span.service} ${at(span.startNs)} - ${at(span.endNs)}`);
    } finally {
      await Promise.all(children.map((child) => child.kill()));
      await hooks.close();
      await otlp.close();
      dir.remove();
      await database.drop();
    }
  });
});
