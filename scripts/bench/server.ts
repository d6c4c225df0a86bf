/**
 * The server side of the benchmarks, run as its own process so client and server CPU stay apart.
 *   server.js longrun <db> [concurrency] [token file]
 *                                           longrun with a no-op Sleep handler (see below), with
 *                                           bearer-token authentication if a token file is given;
 *                                           also the HTTP gateway (without authentication)
 *   server.js baseline <reply.json>         a no-op grpc-js GetOperation returning a fixed reply
 *   server.js vision <db> <storage root>   longrun serving the Vision sample
 * Prints `listening <port>` (`listening <port> http <port>` in longrun mode); on SIGUSR2 prints `stats <json>` (after a GC if --expose-gc).
 * BENCH_CALLBACK_SECRET (longrun mode) turns on completion callbacks to 127.0.0.1; with
 * BENCH_CALLBACKS_PAUSED=1 nothing is sent (deliveries pile up for the backlog figure).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createLongrun, createServer, listen, TokenTable, type Longrun } from '../../src/index.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { addVision, VISION_PROTO_FILES } from '../../src/vision/index.js';
import { startTraceExport } from '../../src/cli/tracing.js';
import { monotonicMs } from './measure.js';

interface SleepRequest {
  duration: { seconds: string; nanos: number } | null;
  /** 0: return at once; 1: also stamp the return time into the response (wake latency); n >= 2: n progress steps, each stamped. */
  steps: number;
}

const [mode, arg, thirdArg, fourthArg] = process.argv.slice(2);
let longrun: Longrun | undefined;
let server: grpc.Server;

// OTEL_EXPORTER_OTLP_ENDPOINT (the tracing section): traces exported as `longrun serve` exports them.
const traces = await startTraceExport(process.env, silent());

if (mode === 'longrun') {
  // The waits figure holds 10,000 WaitOperation calls from one (anonymous) client: above the
  // per-principal default of 1,000, which is the point of that limit, not of this figure.
  const secret = process.env.BENCH_CALLBACK_SECRET;
  longrun = await createLongrun({
    databasePath: arg!,
    waitCapMs: 120_000,
    maxWaitsPerPrincipal: 20_000,
    maxWatchesPerPrincipal: 20_000,
    logger: silent(),
    ...(secret !== undefined && { callbacks: { secrets: [secret], allow: ['127.0.0.1'] } }),
  });
  longrun.method<SleepRequest, Record<string, unknown>, Record<string, unknown>>(
    SLEEP_METHOD,
    async (request, context) => {
      const ms = request.duration ? Number(request.duration.seconds) * 1000 + request.duration.nanos / 1e6 : 0;
      if (request.steps >= 2) {
        // Progress steps (the watch section): each stamps its write time into the metadata, in one write.
        for (let step = 1; step <= request.steps; step++) {
          await sleep(ms / request.steps, undefined, { signal: context.signal });
          const now = monotonicMs();
          await context.setMetadata({
            progressPercent: Math.round((step * 100) / request.steps),
            estimatedEndTime: { seconds: Math.floor(now / 1000), nanos: Math.round((now % 1000) * 1e6) },
          });
        }
        return {};
      }
      if (ms > 0) await sleep(ms, undefined, { signal: context.signal });
      if (request.steps === 1) {
        // The wake figure starts when the handler returns: the stamp rides in the response (its
        // `slept` field holds the monotonic clock), written by the completion itself. (Until
        // 2026-12-07 it was a metadata write before returning, so the figure included that write.)
        const now = monotonicMs();
        return { slept: { seconds: Math.floor(now / 1000), nanos: Math.round((now % 1000) * 1e6) } };
      }
      return {};
    },
    { concurrency: Number(thirdArg ?? 256) },
  );
  server = createServer();
  const auth = fourthArg === undefined ? {} : { auth: { tokens: TokenTable.load(fourthArg) } };
  longrun.addToServer(server, { reflection: false, health: false, ...auth });
} else if (mode === 'vision') {
  longrun = await createLongrun({ databasePath: arg!, protoFiles: VISION_PROTO_FILES, logger: silent() });
  addVision(longrun, { storageRoot: thirdArg! });
  server = createServer();
  longrun.addToServer(server, { reflection: false, health: false });
} else if (mode === 'baseline') {
  const reply = JSON.parse(readFileSync(arg!, 'utf8'), (key, value) =>
    key === 'value' && typeof value === 'string' ? Buffer.from(value, 'base64') : value,
  ) as unknown;
  const definition = protoLoader.loadSync('google/longrunning/operations.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  server = createServer();
  server.addService(definition['google.longrunning.Operations'] as grpc.ServiceDefinition, {
    GetOperation: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, reply),
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}

const port = await listen(server, '127.0.0.1', 0);
// The longrun server also serves the HTTP gateway, for the http section.
const http = mode === 'longrun' ? await longrun!.http.listen({ host: '127.0.0.1', port: 0 }) : undefined;
longrun?.start();
if (process.env.BENCH_CALLBACKS_PAUSED === '1') await longrun?.deliverer?.stop(0);
// Before the line that says so: the bench may ask for stats the moment it reads it.
process.on('SIGUSR2', () => {
  (globalThis as { gc?: () => void }).gc?.();
  const memory = process.memoryUsage();
  const stats = { rss: memory.rss, heapUsed: memory.heapUsed, waiting: longrun?.events.waitingCount() ?? 0 };
  process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
});
process.stdout.write(`listening ${port}${http === undefined ? '' : ` http ${http.port}`}\n`);
process.on('SIGTERM', () => {
  server.forceShutdown();
  void (longrun?.close(0) ?? Promise.resolve())
    .then(() => traces?.shutdown())
    .then(() => process.exit(0));
});

function silent() {
  const noop = () => undefined;
  return { info: noop, warn: noop, error: noop, debug: noop };
}
