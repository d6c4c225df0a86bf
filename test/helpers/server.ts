/** A real longrun on a real SQLite file (or PostgreSQL database), served by a real grpc-js server on a loopback port 0. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import {
  BUNDLED_PROTO_FILES,
  createLongrun,
  createServer,
  listen,
  shutdown,
  OperationsClient,
  type AddToServerOptions,
  type ListenOptions,
  type Longrun,
  type LongrunOptions,
} from '../../src/index.js';
import type { OperationsClientOptions } from '../../src/grpc/client.js';
import type { HttpServeOptions } from '../../src/http/front.js';
import { LOADER_OPTIONS, PROTO_DIR } from '../../src/protos/paths.js';
import { addSleeper } from '../../src/sleeper/sleeper.js';
import { testPostgres } from './postgres.js';
import { tempDir } from './temp.js';
import { within } from './wait.js';

/**
 * Resolves once `name` reports progress above 0 (a Sleeper's first step, which carries its ETA),
 * woken by its change event and re-reading the row, never by a sleep.
 */
export function progressed(longrun: Longrun, name: string, ms = 10_000): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      let stop = () => {};
      const check = () =>
        void longrun.get(name).then((record) => {
          if (record.progressPercent > 0) {
            stop();
            resolve();
          }
        }, reject);
      stop = longrun.events.onChange(name, check);
      check();
    }),
    `${name} to report progress`,
    ms,
  );
}

export interface TestServer {
  longrun: Longrun;
  address: string;
  /** `http://127.0.0.1:PORT` when `http` was given. */
  httpUrl: string;
  databasePath: string;
  client: OperationsClient;
  /** Calls a unary method by path, e.g. '/longrun.testing.v1.Sleeper/Sleep'. */
  call<Reply = Record<string, unknown>>(path: string, request: Record<string, unknown>, metadata?: Record<string, string>): Promise<Reply>;
  close(): Promise<void>;
}

export interface TestServerOptions extends LongrunOptions {
  sleeper?: boolean;
  /** Declare methods before the server starts. */
  setup?(longrun: Longrun): void;
  /** Keep the database folder (e.g. to restart on it). */
  databasePath?: string;
  /** Passed to addToServer (e.g. `auth`). */
  serve?: AddToServerOptions;
  /** Passed to listen (e.g. `tls`). */
  listen?: ListenOptions;
  /** How `client` and `call` connect (e.g. TLS); default plaintext. */
  clientOptions?: OperationsClientOptions;
  /** Also serve the HTTP gateway on a port 0 of its own (see `httpUrl`), with these options. */
  http?: HttpServeOptions;
}

/**
 * Which store test servers use when a test names none: SQLite, or PostgreSQL when
 * LONGRUN_TEST_STORE=postgres (test/postgres/*.test.ts set it to rerun the RPC suites there).
 */
function wantsPostgres(): boolean {
  return process.env.LONGRUN_TEST_STORE === 'postgres';
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const postgres = options.databasePath === undefined && options.store === undefined && wantsPostgres() ? await (await testPostgres()).freshDatabase() : undefined;
  const dir = options.databasePath === undefined && postgres === undefined ? tempDir() : undefined;
  const databasePath = options.databasePath ?? postgres?.url ?? dir!.file('longrun.db');
  const longrun = await createLongrun({ logger: silentLogger, pollMs: 50, ...options, databasePath });
  if (options.sleeper ?? true) addSleeper(longrun);
  options.setup?.(longrun);
  const server = createServer();
  longrun.addToServer(server, options.serve);
  const port = await listen(server, '127.0.0.1', 0, options.listen);
  const http = options.http === undefined ? undefined : await longrun.http.listen({ host: '127.0.0.1', port: 0, ...options.http });
  longrun.start();
  const address = `127.0.0.1:${port}`;
  const client = new OperationsClient(address, options.clientOptions);
  const tls = options.clientOptions?.tls;
  const generic = new GenericCaller(
    address,
    [...BUNDLED_PROTO_FILES, ...(options.protoFiles ?? [])],
    tls === undefined ? undefined : grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null),
  );
  return {
    longrun,
    address,
    httpUrl: http?.url ?? '',
    databasePath,
    client,
    call: (path, request, metadata) => generic.call(path, request, metadata),
    async close() {
      client.close();
      generic.close();
      await Promise.all([shutdown(server, 1000), longrun.stop(1000)]);
      await longrun.close();
      dir?.remove();
      await postgres?.drop();
    },
  };
}

/** Calls any method of the protos longrun loaded, like a generated client would. */
export class GenericCaller {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly definition: protoLoader.PackageDefinition;

  constructor(
    private readonly address: string,
    protoFiles: readonly string[] = BUNDLED_PROTO_FILES,
    private readonly channel: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.definition = protoLoader.loadSync([...protoFiles], { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  }

  call<Reply>(path: string, request: Record<string, unknown>, metadata: Record<string, string> = {}): Promise<Reply> {
    const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(path)!;
    let client = this.clients.get(service!);
    if (client === undefined) {
      const Client = grpc.makeClientConstructor(this.definition[service!] as grpc.ServiceDefinition, service!);
      client = new Client(this.address, this.channel);
      this.clients.set(service!, client);
    }
    const headers = new grpc.Metadata();
    for (const [key, value] of Object.entries(metadata)) headers.set(key, value);
    return new Promise((resolve, reject) =>
      (client as unknown as Record<string, Function>)[method!]!.call(client!, request, headers, (error: Error | null, reply: Reply) =>
        error ? reject(error) : resolve(reply),
      ),
    );
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}

const noop = () => undefined;
export const silentLogger = { info: noop, warn: noop, error: noop, debug: noop };
