/**
 * `npm run bench`: every figure is a ratio against a baseline measured in the same run, or an
 * absolute number named as such. Servers run as separate processes; this process is the client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createLongrun, hashToken, OperationsClient } from '../../src/index.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import { TypeRegistry } from '../../src/protos/registry.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { httpBench } from './http.js';
import { callbacksBench } from './callbacks.js';
import { claimsBench } from './claims.js';
import { listBench } from './list.js';
import { peersBench } from './peers.js';
import { policiesBench } from './policies.js';
import { ocrBench, ocrMemoryBench } from './ocr.js';
import { postgresBench } from './postgres.js';
import { visionBench } from './vision.js';
import { tracingBench } from './tracing.js';
import { watchBench } from './watch.js';
import { cpuSecondsOf, fmt, inWindow, MB, percentile, rssOf, monotonicMs, scaled } from './measure.js';

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'longrun-bench-'));
const registry = new TypeRegistry(['google/longrunning/operations.proto', 'longrun/testing/v1/sleeper.proto']);
const sleeperDefinition = protoLoader.loadSync('longrun/testing/v1/sleeper.proto', { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
const SleeperClient = grpc.makeClientConstructor(sleeperDefinition['longrun.testing.v1.Sleeper'] as grpc.ServiceDefinition, 'Sleeper');

interface Stats {
  rss: number;
  heapUsed: number;
  waiting: number;
}

class ServerProcess {
  private lines: string[] = [];
  private listeners: { resolve: (line: string) => void; reject: (error: Error) => void }[] = [];
  /** Set once the server exited: a line awaited after that never comes. */
  private gone: Error | undefined;
  readonly port: Promise<number>;
  /** The HTTP gateway's port (longrun mode only). */
  readonly httpPort: Promise<number | undefined>;

  constructor(
    readonly child: ChildProcess,
  ) {
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const listener = this.listeners.shift();
        if (listener) listener.resolve(line);
        else this.lines.push(line);
      }
    });
    // A server that exits (a port taken, a crash) fails what waits on it at once instead of hanging the run.
    child.once('exit', (code, signal) => {
      this.gone = new Error(`the bench server exited (${code ?? signal})`);
      for (const listener of this.listeners.splice(0)) listener.reject(this.gone);
    });
    const listening = this.nextLine().then((line) => /^listening (\d+)(?: http (\d+))?$/.exec(line)!);
    this.port = listening.then((match) => Number(match[1]));
    this.httpPort = listening.then((match) => (match[2] === undefined ? undefined : Number(match[2])));
  }

  static start(args: string[], nodeFlags: string[] = [], env: Record<string, string> = {}): ServerProcess {
    // BENCH_CPU_PROFILE=dir: a V8 CPU profile of each bench server and its worker threads, into dir.
    const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : [];
    return new ServerProcess(
      spawn(process.execPath, [...profile, ...nodeFlags, SERVER, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } }),
    );
  }

  async stats(): Promise<Stats> {
    this.child.kill('SIGUSR2');
    return JSON.parse((await this.nextLine()).replace(/^stats /, '')) as Stats;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGTERM');
    await once(this.child, 'exit');
  }

  private nextLine(): Promise<string> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.gone !== undefined) return Promise.reject(this.gone);
    return new Promise((resolve, reject) => this.listeners.push({ resolve, reject }));
  }
}

function sleeper(port: number): grpc.Client {
  // A channel of its own, so heavy benchmarks can spread calls over several connections.
  return new SleeperClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
}

function startSleep(client: grpc.Client, ms: number, steps: number, metadata = new grpc.Metadata()): Promise<{ name: string }> {
  const request = { duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps };
  return new Promise((resolve, reject) =>
    (client as unknown as { Sleep: Function }).Sleep(request, metadata, (error: Error | null, reply: { name: string }) =>
      error ? reject(error) : resolve(reply),
    ),
  );
}

/** GetOperation CPU: calls per measured round, and rounds per side. */
const CALLS_PER_ROUND = scaled(8_000, 16);
const ROUNDS = 5;

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

function report(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A grpc-js server whose GetOperation is a no-op returning a fixed reply: the baseline. */
async function startBaseline(reply: unknown): Promise<{ process: ServerProcess; client: OperationsClient }> {
  const replyFile = join(work, 'reply.json');
  writeFileSync(replyFile, JSON.stringify(reply, (_key, value: unknown) =>
    value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer'
      ? Buffer.from((value as { data: number[] }).data).toString('base64')
      : value,
  ));
  const baseline = ServerProcess.start(['baseline', replyFile]);
  return { process: baseline, client: new OperationsClient(`127.0.0.1:${await baseline.port}`) };
}

async function getOperationCpu(longrunPort: number, longrunPid: number, target = 1.2, label = ''): Promise<Baseline> {
  // The no-op baseline returns exactly the message GetOperation returns for this operation.
  const client = new OperationsClient(`127.0.0.1:${longrunPort}`);
  const { name } = await startSleep(sleeper(longrunPort), 0, 0);
  const { operation } = await client.wait(name, 10_000);
  const baseline = await startBaseline(operation);
  const baselineClient = baseline.client;
  for (const inFlight of [16, 128]) {
    const measure = async (c: OperationsClient, pid: number): Promise<Measured> => {
      const cpu0 = cpuSecondsOf(pid);
      const t0 = performance.now();
      await inWindow(CALLS_PER_ROUND, inFlight, () => c.get(name));
      const seconds = (performance.now() - t0) / 1000;
      return { cpuPerCall: (cpuSecondsOf(pid) - cpu0) / CALLS_PER_ROUND, rate: CALLS_PER_ROUND / seconds };
    };
    await measure(baselineClient, baseline.process.child.pid!); // warm-up
    await measure(client, longrunPid);
    const noop: Measured[] = [];
    const get: Measured[] = [];
    // Alternating rounds, so drift in the machine's load hits both sides alike; medians of each.
    for (let round = 0; round < ROUNDS; round++) {
      noop.push(await measure(baselineClient, baseline.process.child.pid!));
      get.push(await measure(client, longrunPid));
    }
    const noopCpu = median(noop.map((m) => m.cpuPerCall));
    const getCpu = median(get.map((m) => m.cpuPerCall));
    const ratios = get.map((m, i) => m.cpuPerCall / noop[i]!.cpuPerCall);
    report(
      `${label}GetOperation server CPU, ${inFlight} in flight: ${fmt(getCpu * 1e6, 1)} µs/call vs no-op handler ` +
        `${fmt(noopCpu * 1e6, 1)} µs/call: ratio ${fmt(median(ratios))} (target <= ${target}; rounds ${ratios.map((r) => fmt(r)).join(', ')}); ` +
        `calls/s ${fmt(median(get.map((m) => m.rate)), 0)} vs ${fmt(median(noop.map((m) => m.rate)), 0)}`,
    );
  }
  client.close();
  return { ...baseline, name };
}

interface Measured {
  cpuPerCall: number;
  rate: number;
}

interface Baseline {
  process: ServerProcess;
  client: OperationsClient;
  /** The operation whose reply the baseline returns. */
  name: string;
}

async function grpcThroughput(port: number, baseline: Baseline): Promise<void> {
  const perRound = scaled(4_000, 16);
  const window = 128;
  const clients = Array.from({ length: 4 }, () => sleeper(port));
  const operations = new OperationsClient(`127.0.0.1:${port}`);
  const createToDone = async () => {
    const t0 = performance.now();
    await inWindow(perRound, window, (i) => startSleep(clients[i % clients.length]!, 0, 0));
    // Done when no operation is left unfinished (an indexed query, cheap next to the creations).
    while ((await operations.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return perRound / ((performance.now() - t0) / 1000);
  };
  const noopCalls = async () => {
    const t0 = performance.now();
    await inWindow(perRound, window, () => baseline.client.get(baseline.name));
    return perRound / ((performance.now() - t0) / 1000);
  };
  await createToDone(); // warm-up
  const rates: number[] = [];
  const noopRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    noopRates.push(await noopCalls());
    rates.push(await createToDone());
  }
  const ratios = rates.map((rate, i) => rate / noopRates[i]!);
  report(
    `Create-to-done through gRPC (no-op handler, durable creation, ${window} in flight): ${fmt(median(rates), 0)} operations/s ` +
      `vs no-op call rate ${fmt(median(noopRates), 0)}/s: ratio ${fmt(median(ratios))} (target >= 0.9; rounds ${ratios.map((r) => fmt(r)).join(', ')})`,
  );
  for (const client of clients) client.close();
  operations.close();
}

async function inProcessThroughput(): Promise<void> {
  const noop = () => undefined;
  const longrun = await createLongrun({
    databasePath: join(work, 'in-process.db'),
    logger: { info: noop, warn: noop, error: noop, debug: noop },
  });
  longrun.method(SLEEP_METHOD, async () => ({}), { concurrency: 512 });
  longrun.start();
  const [warmUp, measured] = [scaled(2_000), scaled(50_000)];
  for (const total of [warmUp, measured]) {
    let done = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((resolve) => (allDone = resolve));
    const t0 = performance.now();
    await inWindow(total, 1000, async () => {
      const operation = await longrun.create(SLEEP_METHOD, {});
      longrun.events.onceDone(operation.name, () => ++done === total && allDone());
    });
    await finished;
    const rate = total / ((performance.now() - t0) / 1000);
    if (total === measured) {
      report(`Create-to-done in process (embedding API, no-op handler, durable creation): ${fmt(rate, 0)} operations/s (target >= 10,000)`);
    }
  }
  await longrun.close(0);
}

const WAKE_OPERATIONS = scaled(400, 10);

async function wakeLatency(port: number): Promise<void> {
  const client = sleeper(port);
  const operations = new OperationsClient(`127.0.0.1:${port}`);
  for (const inFlight of [1, 8]) {
    const latencies: number[] = [];
    const roundTrips: number[] = [];
    await inWindow(WAKE_OPERATIONS, inFlight, async () => {
      const { name } = await startSleep(client, 20, 1);
      const { operation } = await operations.wait(name, 10_000);
      const replied = monotonicMs();
      if (!operation.done) throw new Error('wait returned before done');
      // The handler's return time, on the monotonic clock (see server.ts).
      const response = registry.unpack<{ slept: { seconds: string; nanos: number } }>({
        typeUrl: operation.response!.type_url,
        value: operation.response!.value,
      });
      latencies.push(replied - (Number(response.slept.seconds) * 1000 + response.slept.nanos / 1e6));
      // Baseline: one plain GetOperation round trip under the same load.
      const t0 = monotonicMs();
      await operations.get(name);
      roundTrips.push(monotonicMs() - t0);
    });
    latencies.sort((a, b) => a - b);
    roundTrips.sort((a, b) => a - b);
    report(
      `WaitOperation wake latency, handler completion to client reply, ${inFlight} in flight (${WAKE_OPERATIONS} operations): ` +
        `p50 ${fmt(percentile(latencies, 50))} ms, p99 ${fmt(percentile(latencies, 99))} ms (target p99 < 10 ms); ` +
        `a GetOperation round trip under the same load: p50 ${fmt(percentile(roundTrips, 50))} ms, p99 ${fmt(percentile(roundTrips, 99))} ms; ` +
        `wake p99 / round-trip p99 ${fmt(percentile(latencies, 99) / percentile(roundTrips, 99))} (target <= 1.0)`,
    );
  }
  client.close();
  operations.close();
}

async function concurrentWaits(): Promise<void> {
  // Even scaled down, more than the default per-principal limit of waits, as the full figure is.
  const count = scaled(10_000, 1_500);
  const server = ServerProcess.start(['longrun', join(work, 'waits.db'), String(count)], ['--expose-gc']);
  const port = await server.port;
  const clients = Array.from({ length: 8 }, () => sleeper(port));
  const names: string[] = [];
  // The sleeps outlast the registration and are then cancelled, so every wait is registered
  // before any operation ends however slow the machine is.
  const runMs = 600_000;
  await inWindow(count, 256, async (i) => names.push((await startSleep(clients[i % clients.length]!, runMs, 0)).name));
  const before = await server.stats();
  const waiters = Array.from({ length: 8 }, () => new OperationsClient(`127.0.0.1:${port}`));
  // A fresh client per channel keeps each connection's streams well below any per-connection cap.
  const waits = names.map((name, i) => waiters[i % waiters.length]!.wait(name, 60_000));
  let during = await server.stats();
  for (let i = 0; i < 200 && during.waiting < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    during = await server.stats();
  }
  const peakRss = rssOf(server.child.pid!);
  await inWindow(count, 256, (i) => waiters[i % waiters.length]!.cancel(names[i]!));
  const replies = await Promise.all(waits);
  const after = await server.stats();
  const allDone = replies.every((reply) => reply.operation.done);
  report(
    `${count} concurrent WaitOperation calls: ${during.waiting} registered, extra RSS ${fmt((Math.max(peakRss, during.rss) - before.rss) / MB, 1)} MB ` +
      `(target < 300 MB); after they finished (all done: ${allDone}): ${after.waiting} waiters left, heap ` +
      `${fmt(before.heapUsed / MB, 1)} MB before, ${fmt(during.heapUsed / MB, 1)} MB during, ${fmt(after.heapUsed / MB, 1)} MB after`,
  );
  for (const client of [...clients]) client.close();
  for (const waiter of waiters) waiter.close();
  await server.stop();
}

/**
 * GetOperation server CPU with bearer-token authentication against the same server without it:
 * the token's hash looked up among a 20-entry token file, the owner tag of the name checked, the
 * owner compared. Both over plaintext loopback, so TLS is not in the figure.
 */
async function authCost(): Promise<void> {
  const tokens = Array.from({ length: 20 }, (_, i) => `bench-token-${i}-${'x'.repeat(32)}`);
  const tokenFile = join(work, 'tokens');
  writeFileSync(tokenFile, tokens.map((token, i) => `${hashToken(token)} principal-${i}\n`).join(''));
  const token = tokens.at(-1)!;
  const off = ServerProcess.start(['longrun', join(work, 'auth-off.db')]);
  const on = ServerProcess.start(['longrun', join(work, 'auth-on.db'), '256', tokenFile]);
  const sides = await Promise.all(
    [
      { server: off, token: undefined },
      { server: on, token },
    ].map(async ({ server, token }) => {
      const port = await server.port;
      const client = new OperationsClient(`127.0.0.1:${port}`, token === undefined ? {} : { token });
      const metadata = new grpc.Metadata();
      if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
      const { name } = await startSleep(sleeper(port), 0, 0, metadata);
      await client.wait(name, 10_000);
      return { client, name, pid: server.child.pid! };
    }),
  );
  const inFlight = 16;
  const measure = async ({ client, name, pid }: (typeof sides)[number]): Promise<Measured> => {
    const cpu0 = cpuSecondsOf(pid);
    const t0 = performance.now();
    await inWindow(CALLS_PER_ROUND, inFlight, () => client.get(name));
    const seconds = (performance.now() - t0) / 1000;
    return { cpuPerCall: (cpuSecondsOf(pid) - cpu0) / CALLS_PER_ROUND, rate: CALLS_PER_ROUND / seconds };
  };
  for (const side of sides) await measure(side); // warm-up
  const offRounds: Measured[] = [];
  const onRounds: Measured[] = [];
  // More rounds than elsewhere: the difference sought (a few µs) is within one round's noise here.
  // The order alternates (off-on, on-off, ...), so whatever favours the first or second of a pair
  // falls on both sides alike.
  for (let round = 0; round < 2 * ROUNDS - 1; round++) {
    if (round % 2 === 0) {
      offRounds.push(await measure(sides[0]!));
      onRounds.push(await measure(sides[1]!));
    } else {
      onRounds.push(await measure(sides[1]!));
      offRounds.push(await measure(sides[0]!));
    }
  }
  const ratios = onRounds.map((m, i) => m.cpuPerCall / offRounds[i]!.cpuPerCall);
  report(
    `GetOperation server CPU with bearer-token authentication (20 tokens), ${inFlight} in flight: ` +
      `${fmt(median(onRounds.map((m) => m.cpuPerCall)) * 1e6, 1)} µs/call vs without ${fmt(median(offRounds.map((m) => m.cpuPerCall)) * 1e6, 1)} µs/call: ` +
      `ratio ${fmt(median(ratios))} (target <= 1.2; rounds ${ratios.map((r) => fmt(r)).join(', ')})`,
  );
  for (const side of sides) side.client.close();
  await Promise.all([off.stop(), on.stop()]);
}

/** Sections by name; `npm run bench -- vision waits` runs only those. */
const SECTIONS: Record<string, () => Promise<void>> = {
  async core() {
    const longrun = ServerProcess.start(['longrun', join(work, 'bench.db')]);
    const port = await longrun.port;
    const baseline = await getOperationCpu(port, longrun.child.pid!);
    await grpcThroughput(port, baseline);
    baseline.client.close();
    await baseline.process.stop();
    await wakeLatency(port);
    await longrun.stop();
  },
  auth: authCost,
  async http() {
    const longrun = ServerProcess.start(['longrun', join(work, 'http.db')]);
    const grpcPort = await longrun.port;
    // Four channels, as in the core section's create-to-done.
    const clients = Array.from({ length: 4 }, () => sleeper(grpcPort));
    let turn = 0;
    await httpBench({
      report,
      server: { grpcPort, httpPort: (await longrun.httpPort)!, pid: longrun.child.pid!, createOverGrpc: () => startSleep(clients[turn++ % 4]!, 0, 0) },
    });
    for (const client of clients) client.close();
    await longrun.stop();
  },
  'in-process': inProcessThroughput,
  peers: () => peersBench({ report, work }),
  waits: concurrentWaits,
  list: () =>
    listBench({
      report,
      work,
      startServer: async (databasePath, tokenFile) => {
        const server = ServerProcess.start(['longrun', databasePath, '256', ...(tokenFile === undefined ? [] : [tokenFile])]);
        const port = await server.port;
        const client = sleeper(port);
        return {
          port,
          createOne: () => startSleep(client, 0, 0),
          stop: async () => {
            client.close();
            await server.stop();
          },
        };
      },
    }),
  postgres: () =>
    postgresBench({
      report,
      async getOperationCpu(databaseUrl) {
        const longrun = ServerProcess.start(['longrun', databaseUrl]);
        const baseline = await getOperationCpu(await longrun.port, longrun.child.pid!, 2.0, 'PostgreSQL ');
        baseline.client.close();
        await baseline.process.stop();
        await longrun.stop();
      },
      async startServer(databaseUrl) {
        const server = ServerProcess.start(['longrun', databaseUrl]);
        return { port: await server.port, pid: server.child.pid!, stop: () => server.stop() };
      },
    }),
  watch: () =>
    watchBench({
      report,
      registry,
      async startServer() {
        const server = ServerProcess.start(['longrun', join(work, 'watch.db')], ['--expose-gc']);
        const client = sleeper(await server.port);
        return {
          port: await server.port,
          httpPort: (await server.httpPort)!,
          stats: () => server.stats(),
          startSleep: (ms, steps) => startSleep(client, ms, steps),
          stop: async () => {
            client.close();
            await server.stop();
          },
        };
      },
    }),
  callbacks: () =>
    callbacksBench({
      report,
      work,
      async startServer(database, env) {
        const server = ServerProcess.start(['longrun', database], [], env);
        const client = sleeper(await server.port);
        return {
          create: (metadata) => startSleep(client, 0, 0, metadata),
          stop: async () => {
            client.close();
            await server.stop();
          },
        };
      },
    }),
  tracing: () =>
    tracingBench({
      report,
      async startServer(env, nodeFlags) {
        const server = ServerProcess.start(['longrun', join(work, `tracing-${env.OTEL_EXPORTER_OTLP_ENDPOINT === undefined ? 'off' : 'on'}.db`)], nodeFlags, env);
        const client = sleeper(await server.port);
        return {
          port: await server.port,
          pid: server.child.pid!,
          createOne: () => startSleep(client, 0, 0),
          stop: async () => {
            client.close();
            await server.stop();
          },
        };
      },
    }),
  vision: () =>
    visionBench({
      report,
      work,
      startServer: async (storage) => {
        const server = ServerProcess.start(['vision', join(work, 'vision.db'), storage]);
        return { port: await server.port, stop: () => server.stop() };
      },
    }),
  claims: () => claimsBench({ report, work }),
  policies: () =>
    policiesBench({
      report,
      work,
      sleeper(port) {
        const client = sleeper(port);
        return { createOne: () => startSleep(client, 0, 0), close: () => client.close() };
      },
    }),
  ocr: () => ocrBench({ report, work, startServer: visionServer('ocr.db') }),
  'ocr-memory': () => ocrMemoryBench({ report, work, startServer: visionServer('ocr-memory.db') }),
};

function visionServer(database: string) {
  return async (storage: string) => {
    const server = ServerProcess.start(['vision', join(work, database), storage]);
    return { port: await server.port, pid: server.child.pid!, stop: () => server.stop() };
  };
}

try {
  const chosen = process.argv.slice(2);
  const unknown = chosen.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0) throw new Error(`unknown section(s) ${unknown.join(', ')}; sections: ${Object.keys(SECTIONS).join(', ')}`);
  process.stdout.write(`longrun benchmarks (node ${process.version}, ${new Date().toISOString()})\n`);
  for (const [name, section] of Object.entries(SECTIONS)) {
    if (chosen.length === 0 || chosen.includes(name)) await section();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
