/**
 * `npm run bench -- http`: the REST form against gRPC on the same server, in the same run.
 * - Server CPU per GetOperation over HTTP/1.1 (keep-alive connections, JSON) against GetOperation
 *   over gRPC (one HTTP/2 channel), alternating rounds; target ratio at most 1.0.
 * - Create-to-done over HTTP (POST /v1/sleep, 202) against the same over gRPC, no-op handler,
 *   durable creation; target ratio at least 0.8.
 */
import { Agent, request } from 'node:http';
import { OperationsClient } from '../../src/index.js';
import { cpuSecondsOf, fmt, inWindow, scaled } from './measure.js';

export interface HttpBenchServer {
  grpcPort: number;
  httpPort: number;
  pid: number;
  /** Starts a no-op Sleep over gRPC. */
  createOverGrpc(): Promise<{ name: string }>;
}

export interface HttpBenchOptions {
  report(line: string): void;
  server: HttpBenchServer;
}

const ROUNDS = 5;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One retry when a kept-alive connection was closed under the request (a race every HTTP/1.1 client has). */
async function httpCall(agent: Agent, port: number, method: string, path: string, body?: string): Promise<number> {
  try {
    return await httpCallOnce(agent, port, method, path, body);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') throw error;
    return httpCallOnce(agent, port, method, path, body);
  }
}

function httpCallOnce(agent: Agent, port: number, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode! < 300 ? resolve(res.statusCode!) : reject(new Error(`${method} ${path}: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function httpBench({ report, server }: HttpBenchOptions): Promise<void> {
  const inFlight = 16;
  const grpc = new OperationsClient(`127.0.0.1:${server.grpcPort}`);
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const { name } = await server.createOverGrpc();
  await grpc.wait(name, 10_000);

  // GetOperation: server CPU per call.
  const calls = scaled(8_000, 16);
  const cpuPerCall = async (call: () => Promise<unknown>) => {
    const cpu0 = cpuSecondsOf(server.pid);
    await inWindow(calls, inFlight, call);
    return (cpuSecondsOf(server.pid) - cpu0) / calls;
  };
  const overHttp = () => httpCall(agent, server.httpPort, 'GET', `/v1/${name}`);
  const overGrpc = () => grpc.get(name);
  await cpuPerCall(overHttp); // warm-up
  await cpuPerCall(overGrpc);
  const httpCpu: number[] = [];
  const grpcCpu: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    grpcCpu.push(await cpuPerCall(overGrpc));
    httpCpu.push(await cpuPerCall(overHttp));
  }
  const cpuRatios = httpCpu.map((cpu, i) => cpu / grpcCpu[i]!);
  report(
    `GetOperation server CPU over HTTP/JSON (keep-alive, ${inFlight} in flight): ${fmt(median(httpCpu) * 1e6, 1)} µs/call vs gRPC ` +
      `${fmt(median(grpcCpu) * 1e6, 1)} µs/call: ratio ${fmt(median(cpuRatios))} (target <= 1.0; rounds ${cpuRatios.map((r) => fmt(r)).join(', ')})`,
  );

  // Create-to-done: creations until none is left unfinished.
  const perRound = scaled(4_000, 16);
  const window = 128;
  const createAgent = new Agent({ keepAlive: true, maxSockets: window });
  const createToDone = async (create: () => Promise<unknown>) => {
    const t0 = performance.now();
    await inWindow(perRound, window, create);
    while ((await grpc.list({ filter: 'done = false', pageSize: 1 })).operations.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return perRound / ((performance.now() - t0) / 1000);
  };
  const createOverHttp = () => httpCall(createAgent, server.httpPort, 'POST', '/v1/sleep', '{}');
  const createOverGrpc = () => server.createOverGrpc();
  await createToDone(createOverHttp); // warm-up
  const httpRates: number[] = [];
  const grpcRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    grpcRates.push(await createToDone(createOverGrpc));
    httpRates.push(await createToDone(createOverHttp));
  }
  const rateRatios = httpRates.map((rate, i) => rate / grpcRates[i]!);
  report(
    `Create-to-done over HTTP/JSON (no-op handler, durable creation, ${window} in flight): ${fmt(median(httpRates), 0)} operations/s ` +
      `vs gRPC ${fmt(median(grpcRates), 0)}/s: ratio ${fmt(median(rateRatios))} (target >= 0.8; rounds ${rateRatios.map((r) => fmt(r)).join(', ')})`,
  );
  agent.destroy();
  createAgent.destroy();
  grpc.close();
}
