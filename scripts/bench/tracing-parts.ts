/**
 * Where a traced call's cost goes, measured in one process of its own (run by the tracing section
 * as `tracing-parts.js <collector endpoint>`, so that only this work is on its CPU clock). Each
 * call is what a gRPC handler does for a caller that sends a sampled `traceparent`: the trace
 * context read from the call's metadata, its SERVER span started, the handler run in the span's
 * context (here four awaited steps, so the context manager's cost per async step shows), the span
 * ended with its status and operation. The same calls run in alternating rounds of three setups:
 * - no SDK: longrun's code over `@opentelemetry/api` alone, which every call pays when tracing is off;
 * - SDK, nothing exported: `NodeTracerProvider` registered as `longrun serve` registers it (the
 *   AsyncLocalStorage context manager, the W3C propagators), spans recorded but not exported;
 * - SDK, exported: plus the BatchSpanProcessor and the OTLP/HTTP protobuf exporter, to the collector.
 * Each round ends with a flush, so the export of its spans is in its CPU. This loop ends spans far
 * faster than a server does, so the processor's queue is made large enough that it drops none
 * (the CPU an exported span costs does not depend on the queue's size); the collector counts them.
 * Prints `parts <json>`: the calls per round, and for each setup its CPU µs per call in each round.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Metadata } from '@grpc/grpc-js';
import { startGrpcSpan } from '../../src/observe/tracing.js';
import { scaled } from './measure.js';

const SETUPS = ['no SDK', 'SDK, nothing exported', 'SDK, exported'] as const;
type Setup = (typeof SETUPS)[number];
const ROUNDS = 9;

const endpoint = process.argv[2]!;
const calls = scaled(20_000, 100);
const IN_FLIGHT = 16;
const PATH = '/google.longrunning.Operations/GetOperation';
const OPERATION = 'operations/0b5f5d9e-7a53-4e0b-9b2a-1f2a7c3e5d11';

const metadata = new Metadata();
metadata.set('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
// As the gRPC interceptor reads a header (grpc/interceptor.ts).
const header = (name: string): string | undefined => {
  const values = metadata.get(name);
  return values.length === 0 ? undefined : String(values[0]);
};

async function handler(): Promise<void> {
  for (let step = 0; step < 4; step++) await Promise.resolve(step);
}

async function traffic(count: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < count) {
        // A turn of the event loop per call, as calls arrive: the processor's export runs between them.
        await new Promise((resolve) => setImmediate(resolve));
        const span = startGrpcSpan(PATH, header);
        await span.run(handler);
        span.end(0, { operation: OPERATION });
      }
    }),
  );
}

function providerFor(setup: Setup): NodeTracerProvider | undefined {
  if (setup === 'no SDK') return undefined;
  if (setup === 'SDK, nothing exported') return new NodeTracerProvider();
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  return new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 20 })] });
}

/** CPU µs per call of `count` calls under `setup`; the SDK is registered for the round only. */
async function round(setup: Setup, count: number): Promise<number> {
  const provider = providerFor(setup);
  provider?.register();
  const cpu0 = process.cpuUsage();
  await traffic(count);
  await provider?.forceFlush();
  const cpu = process.cpuUsage(cpu0);
  if (provider !== undefined) {
    await provider.shutdown();
    // Unregistered again: the next round may be one without an SDK (and without async hooks).
    trace.disable();
    context.disable();
    propagation.disable();
  }
  return (cpu.user + cpu.system) / count;
}

for (const setup of SETUPS) await round(setup, Math.ceil(calls / 4)); // warm-up
const perCall: Record<Setup, number[]> = { 'no SDK': [], 'SDK, nothing exported': [], 'SDK, exported': [] };
for (let i = 0; i < ROUNDS; i++) {
  for (const setup of i % 2 === 0 ? SETUPS : [...SETUPS].reverse()) perCall[setup].push(await round(setup, calls));
}
process.stdout.write(`parts ${JSON.stringify({ calls, perCall })}\n`);
