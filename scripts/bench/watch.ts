/**
 * The watch section: many concurrent watchers (half gRPC WatchOperation, half HTTP Server-Sent
 * Events) on one server while operations report progress. Figures: the server's extra memory with
 * every watcher open (RSS and heap after a GC, against the same server before), and the time from
 * a progress write (stamped into the metadata by the handler, on the machine's monotonic clock)
 * to a watcher receiving it. Steps are spaced beyond the coalescing interval (100 ms), so the
 * latency is the feed and the transport, not the coalescing wait.
 */
import { request } from 'node:http';
import { OperationsClient } from '../../src/index.js';
import type { TypeRegistry } from '../../src/protos/registry.js';
import { fmt, MB, monotonicMs, percentile, scaled } from './measure.js';

export interface WatchBenchDeps {
  report(line: string): void;
  registry: TypeRegistry;
  startServer(): Promise<{
    port: number;
    httpPort: number;
    stats(): Promise<{ rss: number; heapUsed: number }>;
    startSleep(ms: number, steps: number): Promise<{ name: string }>;
    stop(): Promise<void>;
  }>;
}

interface Stamp {
  seconds: string | number;
  nanos: number;
}

export async function watchBench(deps: WatchBenchDeps): Promise<void> {
  const watchers = scaled(1000, 4);
  const operations = scaled(50, 2);
  const steps = scaled(20, 4);
  const durationMs = steps * 500; // 500 ms between steps, at any scale
  const server = await deps.startServer();
  const clients = Array.from({ length: 4 }, () => new OperationsClient(`127.0.0.1:${server.port}`));
  const before = await server.stats();
  const names = await Promise.all(Array.from({ length: operations }, () => server.startSleep(durationMs, steps).then((reply) => reply.name)));
  const latencies: number[] = [];
  let opened = 0;
  let allOpen!: () => void;
  const everyoneOpen = new Promise<void>((resolve) => (allOpen = resolve));
  const onOpen = () => {
    if (++opened === watchers) allOpen();
  };
  let measuredFrom = Infinity;
  const received = (stamp: number | undefined) => {
    if (stamp !== undefined && stamp >= measuredFrom) latencies.push(monotonicMs() - stamp);
  };
  const t0 = monotonicMs();
  const done = Array.from({ length: watchers }, (_, i) => {
    const name = names[i % operations]!;
    return i % 2 === 0 ? grpcWatcher(clients[i % clients.length]!, deps.registry, name, onOpen, received) : sseWatcher(server.httpPort, name, onOpen, received);
  });
  await everyoneOpen;
  const openMs = monotonicMs() - t0;
  // Only writes made after everyone is open count, so connecting is not in the figure.
  measuredFrom = monotonicMs();
  const open = await server.stats();
  const results = await Promise.all(done);
  for (const client of clients) client.close();
  await server.stop();
  const sorted = latencies.sort((a, b) => a - b);
  deps.report(
    `${watchers} concurrent watchers (${Math.ceil(watchers / 2)} gRPC, ${Math.floor(watchers / 2)} SSE) on ${operations} operations, ` +
      `${steps} progress steps each ${durationMs / steps} ms apart: extra memory with all open ${fmt((open.rss - before.rss) / MB, 1)} MB RSS, ` +
      `${fmt((open.heapUsed - before.heapUsed) / MB, 1)} MB heap (target < 100 MB); write-to-receive latency over ${sorted.length} deliveries ` +
      `p50 ${fmt(percentile(sorted, 50), 1)} ms p99 ${fmt(percentile(sorted, 99), 1)} ms (target p99 < 50 ms); all opened in ${fmt(openMs, 0)} ms; ` +
      `all saw done: ${results.every(Boolean)}`,
  );
}

function stampMs(stamp: Stamp | string | undefined): number | undefined {
  if (stamp === undefined) return undefined;
  if (typeof stamp === 'string') {
    // RFC 3339 with up to nanoseconds; Date.parse keeps milliseconds, the fraction below is added back.
    const fraction = /\.(\d+)Z$/.exec(stamp)?.[1] ?? '';
    return Date.parse(stamp) - Number(`0.${fraction.slice(0, 3) || '0'}`) * 1000 + Number(`0.${fraction || '0'}`) * 1000;
  }
  return Number(stamp.seconds) * 1000 + stamp.nanos / 1e6;
}

async function grpcWatcher(client: OperationsClient, registry: TypeRegistry, name: string, onOpen: () => void, received: (stamp: number | undefined) => void): Promise<boolean> {
  let first = true;
  for await (const state of client.watch(name)) {
    if (first) {
      first = false;
      onOpen();
      continue;
    }
    const metadata = state.operation.metadata;
    if (metadata && !state.operation.done) {
      const decoded = registry.unpack<{ estimatedEndTime?: Stamp | null }>({ typeUrl: metadata.type_url, value: metadata.value });
      received(stampMs(decoded.estimatedEndTime ?? undefined));
    }
    if (state.operation.done) return true;
  }
  return false;
}

function sseWatcher(port: number, name: string, onOpen: () => void, received: (stamp: number | undefined) => void): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/v1/${name}:watch`, agent: false }, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      let first = true;
      let sawDone = false;
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!/^event: operation$/m.test(block) || data === undefined) continue;
          if (first) {
            first = false;
            onOpen();
            continue;
          }
          const state = JSON.parse(data) as { operation: { done?: boolean; metadata?: { estimatedEndTime?: string } } };
          if (state.operation.done) sawDone = true;
          else received(stampMs(state.operation.metadata?.estimatedEndTime));
        }
      });
      res.on('end', () => resolve(sawDone));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
