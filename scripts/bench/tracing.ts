/**
 * The tracing section (`npm run bench -- tracing`): the same longrun server process twice, with
 * tracing off (no SDK: the library's spans are no-ops) and on (OpenTelemetry's SDK, every span
 * sampled, exported over OTLP/HTTP protobuf to a receiver in this process), measured in alternating
 * rounds of the same run:
 * - GetOperation server CPU per call, ratio on/off, target <= 1.1, twice: from a caller that sends
 *   no trace context (polls then get no span), and from one that sends a sampled `traceparent` on
 *   every call (a SERVER span per call, exported);
 * - create-to-done through gRPC (creating span, attempt span, stored trace context), ratio of the
 *   rates on/off, target >= 0.9 (at most 10% slower), and of the server CPU per operation, target
 *   <= 1.1 (on a shared machine the CPU is the steadier of the two);
 * - where a traced call's CPU goes, in process (tracing-parts.ts).
 * The traced server is set up as `longrun serve` is from the documented variables alone
 * (docs/tracing.md): the batch processor keeps OpenTelemetry's published defaults (queue 2,048,
 * batches of 512, 5 s delay). The receiver decodes every export and counts its spans, so a span
 * the processor dropped (which would make tracing look cheaper than it is) shows in the report.
 * Both servers get the same V8 heap settings (see HEAP). Each figure line ends with the load
 * average over its measuring (the machine may be shared).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { OperationsClient } from '../../src/index.js';
import { cpuSecondsOf, fmt, inWindow, percentile, scaled } from './measure.js';

export interface TracingBenchDeps {
  report(line: string): void;
  startServer(env: Record<string, string>, nodeFlags: string[]): Promise<{ port: number; pid: number; createOne(): Promise<{ name: string }>; stop(): Promise<void> }>;
}

/**
 * Both servers start with the same old generation. V8 sizes it from the live heap, and in a server
 * this small the SDK's own code is enough to change that: left alone, the traced server ran a third
 * as many full collections (4 against 9 in 33,000 untraced polls here), which made it look
 * cheaper per call than the server without tracing (untraced polls at 0.78-0.83 of its CPU).
 */
const HEAP = ['--initial-old-space-size=64'];

/** Alternating rounds per figure: odd, so the median is one round's ratio. */
const ROUNDS = 9;

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** The ratios' median and spread: `median (quartiles q1-q3; rounds r1, r2, ...)`. */
function spread(ratios: readonly number[]): string {
  const sorted = [...ratios].sort((a, b) => a - b);
  return `${fmt(median(ratios))} (quartiles ${fmt(percentile(sorted, 25))}-${fmt(percentile(sorted, 75))}; rounds ${ratios.map((r) => fmt(r)).join(', ')})`;
}

/** The 1-minute load average now and at `since`, for the figure's line. */
function loadSince(since: number): string {
  return `load average ${fmt(since, 1)} to ${fmt(loadavg()[0]!, 1)}`;
}

// Just enough of opentelemetry/proto's ExportTraceServiceRequest to count the spans in an export.
const ExportRequest = protobuf
  .parse(
    `syntax = "proto3";
     message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
     message ResourceSpans { repeated ScopeSpans scope_spans = 2; }
     message ScopeSpans { repeated Span spans = 2; }
     message Span {}`,
  )
  .root.lookupType('ExportTraceServiceRequest');

interface Counted {
  resourceSpans: { scopeSpans: { spans: unknown[] }[] }[];
}

/** A stand-in collector: takes every OTLP/HTTP protobuf export (and answers success), counting requests, bytes and spans. */
async function startCollector(): Promise<{ endpoint: string; requests: () => number; bytes: () => number; spans: () => number; close(): Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests++;
      bytes += body.length;
      const request = ExportRequest.toObject(ExportRequest.decode(body), { arrays: true }) as Counted;
      for (const resource of request.resourceSpans) for (const scope of resource.scopeSpans) spans += scope.spans.length;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    bytes: () => bytes,
    spans: () => spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function tracingBench({ report, startServer }: TracingBenchDeps): Promise<void> {
  const collector = await startCollector();
  const off = await startServer({}, HEAP);
  const on = await startServer(
    { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_SERVICE_NAME: 'longrun-bench' },
    HEAP,
  );
  // A caller that traces: a sampled traceparent on every call, as an instrumented client sends.
  const traced: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('traceparent', `00-${'4bf92f3577b34da6a3ce929d0e0e4736'}-${'00f067aa0ba902b7'}-01`);
        next(metadata, listener);
      },
    });
  const sides = [
    { name: 'off', server: off, client: new OperationsClient(`127.0.0.1:${off.port}`) },
    { name: 'on', server: on, client: new OperationsClient(`127.0.0.1:${on.port}`) },
  ] as const;
  const tracedClients = [
    new OperationsClient(`127.0.0.1:${off.port}`, { channelOptions: { interceptors: [traced] } as grpc.ChannelOptions }),
    new OperationsClient(`127.0.0.1:${on.port}`, { channelOptions: { interceptors: [traced] } as grpc.ChannelOptions }),
  ];
  // Spans the traced server ends: the first operation's creating call, its attempt and the wait for it...
  let expectedSpans = 3;
  try {
    const calls = scaled(8_000, 16);
    const inFlight = 16;
    const names = await Promise.all(
      sides.map(async ({ server, client }) => {
        const { name } = await server.createOne();
        await client.wait(name, 10_000);
        return name;
      }),
    );
    /** Runs `measure` for both sides in alternating rounds (the side that goes first alternates too), after a warm-up each. */
    const alternate = async <T>(measure: (i: 0 | 1) => Promise<T>): Promise<[T[], T[]]> => {
      await measure(0);
      await measure(1);
      const figures: [T[], T[]] = [[], []];
      for (let round = 0; round < ROUNDS; round++) {
        for (const i of round % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)) figures[i].push(await measure(i));
      }
      return figures;
    };
    for (const caller of ['no trace context', 'a sampled traceparent'] as const) {
      const load = loadavg()[0]!;
      const cpu = await alternate(async (i) => {
        const { server } = sides[i];
        const client = caller === 'no trace context' ? sides[i].client : tracedClients[i]!;
        const cpu0 = cpuSecondsOf(server.pid);
        await inWindow(calls, inFlight, () => client.get(names[i]!));
        return (cpuSecondsOf(server.pid) - cpu0) / calls;
      });
      // ...a SERVER span per traced poll...
      if (caller === 'a sampled traceparent') expectedSpans += (ROUNDS + 1) * calls;
      report(
        `Tracing on vs off, GetOperation server CPU, caller sends ${caller}, ${inFlight} in flight: ${fmt(median(cpu[1]) * 1e6, 1)} µs/call vs ${fmt(median(cpu[0]) * 1e6, 1)} µs/call: ` +
          `ratio ${spread(cpu[1].map((value, i) => value / cpu[0][i]!))} (target <= 1.1; ${loadSince(load)})`,
      );
    }

    const perRound = scaled(2_000, 16);
    const window = 128;
    const load = loadavg()[0]!;
    const rounds = await alternate(async (i) => {
      const { server, client } = sides[i];
      const t0 = performance.now();
      const cpu0 = cpuSecondsOf(server.pid);
      await inWindow(perRound, window, () => server.createOne());
      while ((await client.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return { rate: perRound / ((performance.now() - t0) / 1000), cpu: (cpuSecondsOf(server.pid) - cpu0) / perRound };
    });
    // ...and a creating call's span and an attempt's per operation.
    expectedSpans += (ROUNDS + 1) * perRound * 2;
    const [rates, cpu] = [rounds.map((side) => side.map((r) => r.rate)), rounds.map((side) => side.map((r) => r.cpu))] as const;
    report(
      `Tracing on vs off, create-to-done through gRPC (no-op handler, ${window} in flight): ${fmt(median(rates[1]!), 0)} vs ${fmt(median(rates[0]!), 0)} operations/s: ` +
        `ratio ${spread(rates[1]!.map((value, i) => value / rates[0]![i]!))} (target >= 0.9); ` +
        `server CPU ${fmt(median(cpu[1]!) * 1e6, 0)} vs ${fmt(median(cpu[0]!) * 1e6, 0)} µs/operation: ratio ${spread(cpu[1]!.map((value, i) => value / cpu[0]![i]!))} (target <= 1.1; ${loadSince(load)})`,
    );
    await partsFigure(report);
  } finally {
    for (const side of sides) side.client.close();
    for (const client of tracedClients) client.close();
    await Promise.all([off.stop(), on.stop()]);
    // The traced server flushed its last spans on the way out.
    const missing = expectedSpans - collector.spans();
    report(
      `Tracing on: ${collector.requests()} OTLP/HTTP protobuf exports received, ${fmt(collector.bytes() / 1024 / 1024, 1)} MB, ${collector.spans()} spans ` +
        `(${missing > 0 ? `${missing} of the ${expectedSpans} ended were dropped` : `all ${expectedSpans} ended`})`,
    );
    await collector.close();
  }
}

/** The in-process attribution (tracing-parts.ts), in a process of its own with a collector of its own. */
async function partsFigure(report: (line: string) => void): Promise<void> {
  const collector = await startCollector();
  try {
    const load = loadavg()[0]!;
    const child = spawn(process.execPath, [fileURLToPath(new URL('./tracing-parts.js', import.meta.url)), collector.endpoint], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const [code] = (await once(child, 'exit')) as [number | null];
    const line = /^parts (.*)$/m.exec(out);
    if (code !== 0 || line === null) throw new Error(`tracing-parts exited with ${code}: ${out}`);
    // Each setup's CPU µs per call, by round; every round ran `calls` calls, and the warm-up a quarter of that.
    const { calls, perCall } = JSON.parse(line[1]!) as { calls: number; perCall: Record<string, number[]> };
    const setups = Object.entries(perCall);
    const rounds = setups[0]![1].length;
    const exported = rounds * calls + Math.ceil(calls / 4);
    const describe = ([setup, values]: [string, number[]]) => {
      const sorted = [...values].sort((a, b) => a - b);
      return `${setup} ${fmt(median(sorted), 1)} µs (${fmt(sorted[0]!, 1)}-${fmt(sorted.at(-1)!, 1)})`;
    };
    report(
      `Tracing parts in process, CPU per traced call (its span, its context over a handler of 4 awaits; median and range of ${rounds} alternating rounds of ${calls}): ` +
        `${setups.map(describe).join('; ')}; ${collector.spans()} of ${exported} exported spans received (${loadSince(load)})`,
    );
  } finally {
    await collector.close();
  }
}
