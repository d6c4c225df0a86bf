/**
 * The callbacks section (`npm run bench -- callbacks`): completion callbacks to a receiver in this
 * process, on SQLite and on PostgreSQL.
 * - Completion to the receiver's 2xx, p50/p99: operations started one window at a time, each
 *   delivery's `data.updated_at` (the outcome's commit, by the server's wall clock, which this
 *   process shares) against its arrival time.
 * - A backlog of 10,000 deliveries (written while the server's deliverer was paused) drained by a
 *   fresh server process, as deliveries per second, against the rate at which that same kind of
 *   process created (and completed) those operations.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { stopTestPostgres, testPostgres } from '../../test/helpers/postgres.js';
import { fmt, inWindow, percentile, scaled } from './measure.js';

export interface CallbacksBenchDeps {
  report(line: string): void;
  work: string;
  startServer(database: string, env: Record<string, string>): Promise<{ create(metadata: grpc.Metadata): Promise<{ name: string }>; stop(): Promise<void> }>;
}

const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
/** One creation every 10 ms: 100 operations a second. */
const INTERVAL_MS = 10;

/** Arrival times and payload times of deliveries, by webhook-id (the first arrival of each). */
class Receiver {
  readonly arrivals = new Map<string, { at: number; doneAt: number }>();
  private waiters: { count: number; resolve(): void }[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const at = Date.now();
        const id = String(req.headers['webhook-id']);
        if (!this.arrivals.has(id)) {
          const payload = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { updated_at: string };
          this.arrivals.set(id, { at, doneAt: Date.parse(payload.updated_at) });
        }
        res.writeHead(204).end();
        for (const waiter of this.waiters.filter((w) => this.arrivals.size >= w.count)) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      });
    });
    this.server.keepAliveTimeout = 0;
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  /** Resolves once `count` distinct deliveries have arrived; fails after `ms`. */
  until(count: number, ms: number): Promise<void> {
    if (this.arrivals.size >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.arrivals.size} of ${count} deliveries within ${ms} ms`)), ms);
      this.waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export async function callbacksBench(deps: CallbacksBenchDeps): Promise<void> {
  if (process.env.BENCH_PG_URL) process.env.LONGRUN_TEST_PG_URL = process.env.BENCH_PG_URL;
  await backend(deps, 'SQLite', () => Promise.resolve(join(deps.work, `callbacks-${Date.now()}.db`)), 100);
  const postgres = await testPostgres();
  try {
    await backend(deps, 'PostgreSQL', async () => (await postgres.freshDatabase()).url, 200);
  } finally {
    await stopTestPostgres();
  }
}

async function backend(deps: CallbacksBenchDeps, label: string, database: () => Promise<string>, targetP99Ms: number): Promise<void> {
  const receiver = new Receiver();
  await receiver.start();
  const metadata = new grpc.Metadata();
  metadata.set('longrun-callback-url', receiver.url);
  try {
    // Latency at a steady rate well below the delivery throughput (measured next): a backlog
    // would measure its own length, not the path from a commit to the receiver.
    const count = scaled(1000, 20);
    const live = await deps.startServer(await database(), { BENCH_CALLBACK_SECRET: SECRET });
    const started = performance.now();
    const creations: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      await sleep(Math.max(0, started + i * INTERVAL_MS - performance.now()));
      creations.push(live.create(metadata));
    }
    await Promise.all(creations);
    await receiver.until(count, 120_000);
    await live.stop();
    const latencies = [...receiver.arrivals.values()].map(({ at, doneAt }) => at - doneAt).sort((a, b) => a - b);
    deps.report(
      `callbacks ${label}: completion to the receiver's 2xx, ${count} operations at ${1000 / INTERVAL_MS}/s: p50 ${fmt(percentile(latencies, 50), 1)} ms, p99 ${fmt(percentile(latencies, 99), 1)} ms (target p99 < ${targetP99Ms} ms)`,
    );

    // Backlog: created and completed with the deliverer paused, then drained by a fresh process.
    receiver.arrivals.clear();
    const backlog = scaled(10_000, 50);
    const url = await database();
    const paused = await deps.startServer(url, { BENCH_CALLBACK_SECRET: SECRET, BENCH_CALLBACKS_PAUSED: '1' });
    const createdFrom = performance.now();
    await inWindow(backlog, 256, () => paused.create(metadata));
    const createSeconds = (performance.now() - createdFrom) / 1000;
    await paused.stop();
    const draining = await deps.startServer(url, { BENCH_CALLBACK_SECRET: SECRET });
    await receiver.until(1, 60_000);
    const firstAt = Math.min(...[...receiver.arrivals.values()].map((a) => a.at));
    await receiver.until(backlog, 600_000);
    const lastAt = Math.max(...[...receiver.arrivals.values()].map((a) => a.at));
    await draining.stop();
    const createRate = backlog / createSeconds;
    const deliverRate = backlog / Math.max(0.001, (lastAt - firstAt) / 1000);
    deps.report(
      `callbacks ${label}: a backlog of ${backlog} deliveries drained at ${fmt(deliverRate, 0)}/s; the same process creates ${fmt(createRate, 0)} operations/s: ratio ${fmt(deliverRate / createRate)}`,
    );
  } finally {
    await receiver.close();
  }
}
