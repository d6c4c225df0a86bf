/**
 * One side of the policies section, run as its own process: longrun loaded from a given build
 * (this checkout's dist, or an earlier commit's), with a no-op handler on the Sleeper's method.
 * The same file drives both builds, so both get the same options, handler and measuring code;
 * only the library differs. It uses only the embedding API both builds have.
 *   policies-side.js <build root> in-process <database>
 *       prints `ready`; for each stdin line `round <count> <window>`: creates <count> operations
 *       with `create`, <window> in flight, and prints `round <ms>` once every one is done; for
 *       `store`, prints `store <json>`: seconds and calls of each store call so far
 *   policies-side.js <build root> grpc <database>
 *       serves gRPC (the Sleeper and google.longrunning.Operations) and prints `listening <port>`
 * <database> is a SQLite file or a PostgreSQL URL. SIGTERM closes and exits.
 */
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { inWindow } from './measure.js';

/** What this file uses of a build's public API: the same in every build it is given. */
interface Library {
  createLongrun(options: { databasePath: string; logger: Logger }): Promise<EmbeddedLongrun>;
  createServer(): unknown;
  listen(server: unknown, host: string, port: number): Promise<number>;
}
interface EmbeddedLongrun {
  method(path: string, handler: () => Promise<Record<string, unknown>>, options: { concurrency: number }): unknown;
  addToServer(server: unknown, options: { reflection: boolean; health: boolean }): unknown;
  start(): unknown;
  create(path: string, request: Record<string, unknown>): Promise<{ name: string; done: boolean }>;
  get(name: string): Promise<{ done: boolean }>;
  events: { onceDone(name: string, listener: () => void): () => void };
  close(graceMs: number): Promise<void>;
  metrics: { storeDuration: { get(): Promise<{ values: { metricName?: string; labels: Record<string, string | number>; value: number }[] }> } };
}
interface Logger {
  info(): void;
  warn(): void;
  error(): void;
  debug(): void;
}

const [buildRoot, mode, database] = process.argv.slice(2);
const library = (await import(pathToFileURL(join(buildRoot!, 'dist', 'src', 'index.js')).href)) as Library;
const { SLEEP_METHOD } = (await import(pathToFileURL(join(buildRoot!, 'dist', 'src', 'sleeper', 'sleeper.js')).href)) as { SLEEP_METHOD: string };
const noop = () => undefined;
const longrun = await library.createLongrun({ databasePath: database!, logger: { info: noop, warn: noop, error: noop, debug: noop } });
// As the in-process and core sections have it: 512 handlers at once in process, 256 behind gRPC.
longrun.method(SLEEP_METHOD, async () => ({}), { concurrency: mode === 'grpc' ? 256 : 512 });

let server: { forceShutdown(): void } | undefined;
if (mode === 'grpc') {
  server = library.createServer() as { forceShutdown(): void };
  longrun.addToServer(server, { reflection: false, health: false });
  const port = await library.listen(server, '127.0.0.1', 0);
  longrun.start();
  process.stdout.write(`listening ${port}\n`);
} else if (mode === 'in-process') {
  longrun.start();
  const lines = createInterface({ input: process.stdin });
  // One round at a time: the bench sends the next line after this one's answer.
  lines.on('line', (line) => {
    if (line === 'store') {
      void storeTimes().then((times) => process.stdout.write(`store ${JSON.stringify(times)}\n`));
      return;
    }
    const [, count, window] = line.split(' ').map(Number);
    void round(count!, window!).then((ms) => process.stdout.write(`round ${ms}\n`));
  });
  process.stdout.write('ready\n');
} else {
  throw new Error(`unknown mode ${mode}`);
}

/** Seconds and calls of each store call so far, from the store-call histogram both builds keep (`longrun_store_call_duration_seconds`). */
async function storeTimes(): Promise<Record<string, { seconds: number; calls: number }>> {
  const { values } = await longrun.metrics.storeDuration.get();
  const times: Record<string, { seconds: number; calls: number }> = {};
  for (const { metricName, labels, value } of values) {
    const call = String(labels.call);
    times[call] ??= { seconds: 0, calls: 0 };
    if (metricName?.endsWith('_sum')) times[call].seconds = value;
    if (metricName?.endsWith('_count')) times[call].calls = value;
  }
  return times;
}

/** Create-to-done of `count` operations, `window` creations in flight: milliseconds from the first create to the last done. */
async function round(count: number, window: number): Promise<number> {
  const pending = new Set<string>();
  let created = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let lastHeard = performance.now();
  const settle = (name: string) => {
    lastHeard = performance.now();
    if (pending.delete(name) && created === count && pending.size === 0) finish();
  };
  // The done event is listened for after `create` returns; one that came before would never be
  // heard. Should the round stall (all created, nothing heard for a second), what is still pending
  // is read from the store. It does not happen as a rule, and costs nothing until it does.
  const sweep = setInterval(() => {
    if (created < count || performance.now() - lastHeard < 1000) return;
    for (const name of pending) void longrun.get(name).then((operation) => operation.done && settle(name));
  }, 1000);
  const t0 = performance.now();
  await inWindow(count, window, async () => {
    const { name } = await longrun.create(SLEEP_METHOD, {});
    pending.add(name);
    longrun.events.onceDone(name, () => settle(name));
  });
  created = count;
  if (pending.size === 0) finish();
  await finished;
  const ms = performance.now() - t0;
  clearInterval(sweep);
  return ms;
}

process.on('SIGTERM', () => {
  server?.forceShutdown();
  void longrun.close(0).then(() => process.exit(0));
});
