/**
 * The tracing section (`npm run bench -- tracing`): the same longrun server process twice, with
 * tracing off (no SDK: the library's spans are no-ops) and on (OpenTelemetry's SDK, every span
 * sampled, exported over OTLP/HTTP protobuf to a receiver in this process), measured in alternating
 * rounds of the same run:
 * - GetOperation server CPU per call, ratio on/off, target <= 1.1, twice: from a caller that sends
 *   no trace context (polls then get no span), and from one that sends a sampled `traceparent` on
 *   every call (a SERVER span per call, exported);
 * - create-to-done through gRPC (creating span, attempt span, stored trace context), ratio of the
 *   rates on/off, target >= 0.9 (at most 10% slower).
 * The batch processor's queue is made large enough that no span is dropped (its default of 2,048
 * would drop spans at these rates, and make tracing look cheaper than it is); the receiver counts
 * the spans it got.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { OperationsClient } from '../../src/index.js';
import { cpuSecondsOf, fmt, inWindow, percentile, scaled } from './measure.js';

export interface TracingBenchDeps {
  report(line: string): void;
  startServer(env: Record<string, string>): Promise<{ port: number; pid: number; createOne(): Promise<{ name: string }>; stop(): Promise<void> }>;
}

const ROUNDS = 5;

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

/** A stand-in collector: takes every OTLP/HTTP export (and answers success) without decoding it, counting requests and bytes. */
async function startCollector(): Promise<{ endpoint: string; requests: () => number; bytes: () => number; close(): Promise<void> }> {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export async function tracingBench({ report, startServer }: TracingBenchDeps): Promise<void> {
  const collector = await startCollector();
  const off = await startServer({});
  const on = await startServer({
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_SERVICE_NAME: 'longrun-bench',
    OTEL_BSP_MAX_QUEUE_SIZE: '262144',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2048',
    OTEL_BSP_SCHEDULE_DELAY: '500',
  });
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
    for (const caller of ['no trace context', 'a sampled traceparent'] as const) {
      const cpuPerCall = async (i: 0 | 1) => {
        const { server } = sides[i];
        const client = caller === 'no trace context' ? sides[i].client : tracedClients[i]!;
        const cpu0 = cpuSecondsOf(server.pid);
        await inWindow(calls, inFlight, () => client.get(names[i]!));
        return (cpuSecondsOf(server.pid) - cpu0) / calls;
      };
      await cpuPerCall(0); // warm-up
      await cpuPerCall(1);
      const cpu: [number[], number[]] = [[], []];
      for (let round = 0; round < ROUNDS; round++) {
        cpu[0].push(await cpuPerCall(0));
        cpu[1].push(await cpuPerCall(1));
      }
      const cpuRatios = cpu[1].map((value, i) => value / cpu[0][i]!);
      report(
        `Tracing on vs off, GetOperation server CPU, caller sends ${caller}, ${inFlight} in flight: ${fmt(median(cpu[1]) * 1e6, 1)} µs/call vs ${fmt(median(cpu[0]) * 1e6, 1)} µs/call: ` +
          `ratio ${fmt(median(cpuRatios))} (target <= 1.1; rounds ${cpuRatios.map((r) => fmt(r)).join(', ')})`,
      );
    }

    const perRound = scaled(2_000, 16);
    const window = 128;
    const createToDone = async (i: 0 | 1) => {
      const { server, client } = sides[i];
      const t0 = performance.now();
      await inWindow(perRound, window, () => server.createOne());
      while ((await client.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return perRound / ((performance.now() - t0) / 1000);
    };
    await createToDone(0); // warm-up
    await createToDone(1);
    const rates: [number[], number[]] = [[], []];
    for (let round = 0; round < ROUNDS; round++) {
      rates[0].push(await createToDone(0));
      rates[1].push(await createToDone(1));
    }
    const rateRatios = rates[1].map((value, i) => value / rates[0][i]!);
    report(
      `Tracing on vs off, create-to-done through gRPC (no-op handler, ${window} in flight): ${fmt(median(rates[1]), 0)} vs ${fmt(median(rates[0]), 0)} operations/s: ` +
        `ratio ${fmt(median(rateRatios))} (target >= 0.9; rounds ${rateRatios.map((r) => fmt(r)).join(', ')})`,
    );
  } finally {
    for (const side of sides) side.client.close();
    for (const client of tracedClients) client.close();
    await Promise.all([off.stop(), on.stop()]);
    // The traced server flushed its last spans on the way out.
    report(`Tracing on: ${collector.requests()} OTLP/HTTP protobuf exports received, ${fmt(collector.bytes() / 1024 / 1024, 1)} MB`);
    await collector.close();
  }
}
