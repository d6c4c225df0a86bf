/** A small promise-based client of google.longrunning.Operations, for the CLI and tests. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  credentials,
  loadPackageDefinition,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type Client,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { longrunSchema } from '../protos/schema.js';
import { packageDefinitionOf } from './definitions.js';
import type { ListOperationsResponse__Output } from '../gen/google/longrunning/ListOperationsResponse.js';
import type { Operation__Output } from '../gen/google/longrunning/Operation.js';
import type { OperationsClient as GeneratedOperationsClient } from '../gen/google/longrunning/Operations.js';
import type { ProtoGrpcType } from '../gen/operations.js';
import type { WatcherClient } from '../gen/longrun/v1/Watcher.js';
import type { WatchOperationResponse__Output } from '../gen/longrun/v1/WatchOperationResponse.js';
import { LOADER_OPTIONS } from '../protos/paths.js';
import { ESTIMATED_COMPLETION_HEADER, PROGRESS_HEADER } from '../protocol/headers.js';

export interface OperationWithProgress {
  operation: Operation__Output;
  progressPercent?: number;
  estimatedCompletion?: Date;
}

export interface ListParams {
  name?: string;
  filter?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface OperationsClientOptions {
  /** Sent as "authorization: Bearer <token>" on every call. */
  token?: string;
  /** TLS, as PEM: `ca` to verify the server (default: the system's roots), `cert` and `key` for mTLS. Default: plaintext. */
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Channel credentials of your own making; overrides `tls`. */
  credentials?: ChannelCredentials;
  /** grpc-js channel options, e.g. `grpc.ssl_target_name_override`. */
  channelOptions?: ChannelOptions;
}

export class OperationsClient {
  private readonly client: GeneratedOperationsClient;
  private readonly token: string | undefined;
  private watcher: WatcherClient | undefined;
  private bulkOperations: Client | undefined;

  constructor(address: string, options: OperationsClientOptions = {}) {
    const definition = packageDefinitionOf(longrunSchema());
    const loaded = loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    const tls = options.tls;
    const channel: ChannelCredentials =
      options.credentials ??
      (tls === undefined ? credentials.createInsecure() : credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null));
    this.client = new loaded.google.longrunning.Operations(address, channel, options.channelOptions ?? {});
    this.token = options.token;
  }

  /** `signal` cancels the call. */
  get(name: string, signal?: AbortSignal): Promise<OperationWithProgress> {
    return this.withProgress((metadata, options, done) => this.client.GetOperation({ name }, metadata, options, done), undefined, signal);
  }

  /** `signal` cancels the call (the server then drops its waiter). */
  wait(name: string, timeoutMs?: number, deadline?: Date, signal?: AbortSignal): Promise<OperationWithProgress> {
    const timeout = timeoutMs === undefined ? null : { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 };
    return this.withProgress(
      (metadata, options, done) => this.client.WaitOperation({ name, timeout }, metadata, options, done),
      deadline,
      signal,
    );
  }

  /**
   * The operation's state as longrun.v1.Watcher/WatchOperation first sends it: with the attempt,
   * why it waits and until when, the last attempt's error and the operation it re-runs.
   */
  async state(name: string): Promise<WatchOperationResponse__Output> {
    const call = this.watcherClient().WatchOperation({ name }, this.metadata());
    try {
      for await (const reply of call as AsyncIterable<WatchOperationResponse__Output>) return reply;
      throw Object.assign(new Error(`the watch of ${name} ended without a state`), { code: 2, details: 'no state' });
    } finally {
      call.cancel();
    }
  }

  /**
   * The operation's states from longrun.v1.Watcher/WatchOperation, as they change, ending after the
   * done one (or earlier, at the server's cap on stream length: watch again). Rejects as the call
   * does (UNIMPLEMENTED from a server without the stream); `signal` cancels it.
   */
  async *watch(name: string, signal?: AbortSignal): AsyncGenerator<OperationWithProgress, void, undefined> {
    const call = this.watcherClient().WatchOperation({ name }, this.metadata());
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const reply of call as AsyncIterable<WatchOperationResponse__Output>) {
        const state: OperationWithProgress = { operation: reply.operation!, progressPercent: reply.progressPercent };
        const eta = reply.estimatedCompletionTime;
        if (eta) state.estimatedCompletion = new Date(Number(eta.seconds) * 1000 + Math.floor(eta.nanos / 1e6));
        yield state;
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      // A consumer that stops early ends the call rather than leaving it open.
      call.cancel();
    }
  }

  list(params: ListParams = {}): Promise<ListOperationsResponse__Output> {
    return new Promise((resolve, reject) =>
      this.client.ListOperations(
        { name: params.name ?? 'operations', filter: params.filter ?? '', pageSize: params.pageSize ?? 0, pageToken: params.pageToken ?? '' },
        this.metadata(),
        (error: ServiceError | null, reply?: ListOperationsResponse__Output) => (error ? reject(error) : resolve(reply!)),
      ),
    );
  }

  cancel(name: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.CancelOperation({ name }, this.metadata(), (error: ServiceError | null) => (error ? reject(error) : resolve())));
  }

  delete(name: string): Promise<void> {
    return new Promise((resolve, reject) => this.client.DeleteOperation({ name }, this.metadata(), (error: ServiceError | null) => (error ? reject(error) : resolve())));
  }

  /**
   * The serialized FileDescriptorProtos of the file that declares `symbol` (a full message name)
   * and of the files it imports, from the server's reflection service (grpc.reflection.v1), over
   * this client's channel and credentials. Empty when the server does not know the symbol.
   */
  fileDescriptorsOf(symbol: string, timeoutMs = 5000): Promise<Uint8Array[]> {
    const reflection = new (reflectionService())(
      'unused', // the channel below is this client's
      credentials.createInsecure(),
      { channelOverride: (this.client as unknown as Client).getChannel() },
    ) as unknown as ReflectionStub;
    return new Promise((resolve, reject) => {
      const call = reflection.ServerReflectionInfo(this.metadata(), { deadline: new Date(Date.now() + timeoutMs) });
      call.on('data', (reply: ReflectionReply) => {
        resolve(reply.fileDescriptorResponse?.fileDescriptorProto.map((file) => new Uint8Array(file)) ?? []);
        call.end();
      });
      call.on('error', reject);
      call.on('end', () => resolve([]));
      call.write({ fileContainingSymbol: symbol });
    });
  }

  close(): void {
    (this.client as unknown as Client).close();
  }

  /**
   * Starts a longrun.v1.BulkOperations call (re-run or cancel by name or filter); the bulk
   * operation it created, to wait on like any other.
   */
  bulk(method: 'RerunOperations' | 'CancelOperations', request: Record<string, unknown>): Promise<Operation__Output> {
    if (this.bulkOperations === undefined) {
      const definition = packageDefinitionOf(longrunSchema());
      const loaded = loadPackageDefinition(definition) as unknown as { longrun: { v1: { BulkOperations: ServiceClientConstructor } } };
      this.bulkOperations = new loaded.longrun.v1.BulkOperations('unused', credentials.createInsecure(), {
        channelOverride: (this.client as unknown as Client).getChannel(),
      });
    }
    const client = this.bulkOperations as unknown as Record<string, (request: unknown, metadata: Metadata, done: (error: ServiceError | null, reply?: Operation__Output) => void) => void>;
    return new Promise((resolve, reject) => client[method]!.call(client, request, this.metadata(), (error, reply) => (error ? reject(error) : resolve(reply!))));
  }

  /** longrun.v1.Watcher on this client's channel, loaded on first use. */
  private watcherClient(): WatcherClient {
    if (this.watcher === undefined) {
      const definition = packageDefinitionOf(longrunSchema());
      const loaded = loadPackageDefinition(definition) as unknown as { longrun: { v1: { Watcher: ServiceClientConstructor } } };
      this.watcher = new loaded.longrun.v1.Watcher('unused', credentials.createInsecure(), {
        channelOverride: (this.client as unknown as Client).getChannel(),
      }) as unknown as WatcherClient;
    }
    return this.watcher;
  }

  private metadata(): Metadata {
    const metadata = new Metadata();
    // Per call rather than as call credentials, which grpc-js sends only over TLS (loopback may be plaintext).
    if (this.token !== undefined) metadata.set('authorization', `Bearer ${this.token}`);
    return metadata;
  }

  private withProgress(
    call: (
      metadata: Metadata,
      options: CallOptions,
      done: (error: ServiceError | null, reply?: Operation__Output) => void,
    ) => { on(event: 'metadata', listener: (metadata: Metadata) => void): unknown; cancel(): void },
    deadline?: Date,
    signal?: AbortSignal,
  ): Promise<OperationWithProgress> {
    return new Promise((resolve, reject) => {
      const result: Partial<OperationWithProgress> = {};
      const onAbort = () => pending.cancel();
      const pending = call(this.metadata(), deadline ? { deadline } : {}, (error, reply) => {
        // Removed, or a long wait of many calls on one signal piles up listeners (MaxListenersExceededWarning).
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve({ ...result, operation: reply! });
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      pending.on('metadata', (headers) => {
        const percent = headers.get(PROGRESS_HEADER)[0];
        const eta = headers.get(ESTIMATED_COMPLETION_HEADER)[0];
        if (percent !== undefined) result.progressPercent = Number(percent);
        if (eta !== undefined) result.estimatedCompletion = new Date(String(eta));
      });
    });
  }
}

interface ReflectionReply {
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] } | null;
}
interface ReflectionStub {
  ServerReflectionInfo(metadata: Metadata, options: CallOptions): {
    write(request: { fileContainingSymbol: string }): void;
    end(): void;
    on(event: 'data', listener: (reply: ReflectionReply) => void): unknown;
    on(event: 'error', listener: (error: Error) => void): unknown;
    on(event: 'end', listener: () => void): unknown;
  };
}

let reflectionConstructor: ServiceClientConstructor | undefined;

/** grpc.reflection.v1 from @grpc/reflection's own proto, loaded once. */
function reflectionService(): ServiceClientConstructor {
  if (reflectionConstructor === undefined) {
    const protoDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build', 'proto');
    const definition = loadSync('grpc/reflection/v1/reflection.proto', { ...LOADER_OPTIONS, includeDirs: [protoDir] });
    const loaded = loadPackageDefinition(definition) as unknown as { grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } } };
    reflectionConstructor = loaded.grpc.reflection.v1.ServerReflection;
  }
  return reflectionConstructor;
}
