/**
 * A typed client of google.longrunning.Operations for Node apps, for any server that speaks it
 * (longrun or another). Operations come back with their `Any` metadata and response decoded by
 * type URL, and `wait` follows an operation to its end: with WaitOperation, or, on a server that
 * does not implement it, by polling GetOperation with exponential backoff. `watch` (and `wait`
 * with `onProgress`) follow it live with longrun.v1.Watcher/WatchOperation where the server has
 * it, and fall back to those otherwise.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Any__Output } from '../gen/google/protobuf/Any.js';
import type { Operation__Output } from '../gen/google/longrunning/Operation.js';
import { typeNameOf, TypeRegistry } from '../protos/registry.js';
import { OperationsClient, type OperationsClientOptions, type OperationWithProgress } from './client.js';

/** GetOperation polling when WaitOperation is not implemented (defaults: 1 s, x1.5, at most 30 s, jitter 0.2). */
export interface BackoffOptions {
  initialMs: number;
  multiplier: number;
  maxMs: number;
  /** Each delay is shortened by a random part of up to this fraction, so clients spread out. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, multiplier: 1.5, maxMs: 30_000, jitter: 0.2 };

export interface ClientOptions extends OperationsClientOptions {
  /**
   * Your .proto files (relative to `includeDirs`), so their metadata and response types can be
   * decoded. longrun's own (e.g. `longrun/testing/v1/sleeper.proto`) need no include dir.
   */
  protoFiles?: string[];
  includeDirs?: string[];
  backoff?: Partial<BackoffOptions>;
  /** How often `wait` reports progress while the operation runs, when given `onProgress` (default: 1 s). */
  progressIntervalMs?: number;
  /** Waits between polls (default: a timer). Tests inject their own. */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
  /** For the jitter (default: Math.random). */
  random?(): number;
}

/** A google.rpc.Status with its details decoded where their types are known (each with its `@type`). */
export interface OperationStatus {
  code: number;
  message: string;
  details: Record<string, unknown>[];
}

export interface ClientOperation<Metadata = Record<string, unknown>, Response = Record<string, unknown>> {
  name: string;
  done: boolean;
  /** Decoded by its type URL; undefined when absent or of a type this client was not given. */
  metadata?: Metadata;
  response?: Response;
  error?: OperationStatus;
  /** Full message names from the type URLs, e.g. `longrun.testing.v1.SleepResponse`. */
  metadataType?: string;
  responseType?: string;
  /** From the `longrun-progress-percent` header, else a numeric `progressPercent` in the metadata. */
  progressPercent?: number;
  estimatedCompletion?: Date;
  /** The message as received, `Any`s undecoded. */
  wire: Operation__Output;
}

/** An operation's place in its queue and its attempts (see LongrunClient.scheduling). */
export interface Scheduling {
  /** The attempt running or last run: 0 before the first. */
  attempt: number;
  /** While it waits: `scheduled`, `retry_scheduled` or `queued`. */
  waitingReason?: string;
  /** While it waits for its start time or its next attempt: when that is. */
  estimatedStart?: Date;
  /** The error of the last failed attempt, while a retry waits or runs. */
  lastError?: { code: number; message: string };
  /** The operation this one re-runs. */
  rerunOf?: string;
}

export interface ListOptions {
  /** The collection: `operations` (default) or e.g. `projects/p/locations/l`. */
  name?: string;
  filter?: string;
  pageSize?: number;
}

export interface WaitOptions<Metadata, Response> {
  /** Called with the operation whenever its progress or metadata changed while it runs. */
  onProgress?(operation: ClientOperation<Metadata, Response>): void;
  /** Stops waiting (and cancels the call in flight); `wait` rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Always known: error details (google.rpc) and the well-known types. */
const CLIENT_PROTO_FILES = ['google/longrunning/operations.proto', 'google/rpc/error_details.proto'];

/** Longest single WaitOperation call when nobody wants progress; servers cap it lower (longrun: 60 s). */
const WAIT_CALL_MS = 60_000;
/** Deadline beyond the requested wait, so a slow reply is not cut off. */
const WAIT_DEADLINE_MARGIN_MS = 10_000;

export class LongrunClient {
  readonly registry: TypeRegistry;
  private readonly client: OperationsClient;
  private readonly backoff: BackoffOptions;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly progressIntervalMs: number;
  /** Learnt from an UNIMPLEMENTED reply: this server has no WaitOperation, poll from then on. */
  private waitUnimplemented = false;
  /** Learnt from an UNIMPLEMENTED reply: this server has no longrun.v1.Watcher. */
  private watchUnimplemented = false;

  constructor(address: string, options: ClientOptions = {}) {
    this.client = new OperationsClient(address, options);
    this.registry = new TypeRegistry([...CLIENT_PROTO_FILES, ...(options.protoFiles ?? [])], options.includeDirs ?? []);
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, signal === undefined ? {} : { signal }));
    this.random = options.random ?? Math.random;
    this.progressIntervalMs = options.progressIntervalMs ?? 1000;
  }

  async get<Metadata = Record<string, unknown>, Response = Record<string, unknown>>(
    name: string,
  ): Promise<ClientOperation<Metadata, Response>> {
    return this.typed<Metadata, Response>(await this.client.get(name));
  }

  /**
   * What GetOperation has no fields for, from the Watcher's first message: the attempt, why the
   * operation waits and until when, the last attempt's error, the operation it re-runs.
   * UNIMPLEMENTED from a server without longrun.v1.Watcher.
   */
  async scheduling(name: string): Promise<Scheduling> {
    const reply = await this.client.state(name);
    const time = (t: { seconds: string | number; nanos: number } | null) => (t === null ? undefined : new Date(Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6)));
    const estimatedStart = time(reply.estimatedStartTime);
    return {
      attempt: reply.attempt,
      ...(reply.waitingReason !== '' && { waitingReason: reply.waitingReason }),
      ...(estimatedStart !== undefined && { estimatedStart }),
      ...(reply.lastError !== null && { lastError: { code: reply.lastError.code, message: reply.lastError.message } }),
      ...(reply.rerunOf !== '' && { rerunOf: reply.rerunOf }),
    };
  }

  /** Starts a longrun.v1.BulkOperations call; the bulk operation (see OperationsClient.bulk). */
  async bulk(method: 'RerunOperations' | 'CancelOperations', request: Record<string, unknown>): Promise<ClientOperation> {
    return this.typed({ operation: await this.client.bulk(method, request) });
  }

  /** Every operation of the collection, newest first, fetching pages as the loop needs them. */
  async *list<Metadata = Record<string, unknown>, Response = Record<string, unknown>>(
    options: ListOptions = {},
  ): AsyncGenerator<ClientOperation<Metadata, Response>, void, undefined> {
    let pageToken = '';
    do {
      const page = await this.client.list({ ...options, pageToken });
      for (const operation of page.operations) yield this.typed<Metadata, Response>({ operation });
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
  }

  cancel(name: string): Promise<void> {
    return this.client.cancel(name);
  }

  delete(name: string): Promise<void> {
    return this.client.delete(name);
  }

  /**
   * Resolves with the operation once it is done (whether it succeeded or failed: see `error`).
   * Uses WaitOperation; if the server answers UNIMPLEMENTED, polls GetOperation instead, at once
   * and then after 1 s, 1.5 s, 2.25 s ... up to 30 s between polls (less some jitter).
   */
  async wait<Metadata = Record<string, unknown>, Response = Record<string, unknown>>(
    name: string,
    options: WaitOptions<Metadata, Response> = {},
  ): Promise<ClientOperation<Metadata, Response>> {
    const { signal } = options;
    signal?.throwIfAborted();
    const report = progressReporter(options.onProgress);
    try {
      if (options.onProgress !== undefined && !this.watchUnimplemented) {
        // Live progress from the stream, when the server has one.
        const followed = await this.follow<Metadata, Response>(name, signal, report);
        if (followed !== undefined) return followed;
      }
      if (!this.waitUnimplemented) {
        const timeoutMs = options.onProgress ? this.progressIntervalMs : WAIT_CALL_MS;
        try {
          for (;;) {
            const deadline = new Date(Date.now() + timeoutMs + WAIT_DEADLINE_MARGIN_MS);
            const operation = this.typed<Metadata, Response>(await this.client.wait(name, timeoutMs, deadline, signal));
            if (operation.done) return operation;
            report(operation);
          }
        } catch (error) {
          if ((error as { code?: unknown }).code !== GrpcStatus.UNIMPLEMENTED) throw error;
          this.waitUnimplemented = true;
        }
      }
      return await this.poll(name, signal, report);
    } catch (error) {
      // A call cut short by the signal fails with CANCELLED; the caller asked for the signal's reason.
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  }

  /**
   * The operation's states as they change, ending after the done one: from
   * longrun.v1.Watcher/WatchOperation (watched again when the server's cap on stream length ends
   * a stream early), or, on a server without it, from GetOperation polls with the backoff of
   * `wait`, yielding only states that differ. Breaking out of the loop (or `signal`) ends the call.
   */
  async *watch<Metadata = Record<string, unknown>, Response = Record<string, unknown>>(
    name: string,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ClientOperation<Metadata, Response>, void, undefined> {
    const { signal } = options;
    signal?.throwIfAborted();
    try {
      if (!this.watchUnimplemented) {
        try {
          yield* this.streamed<Metadata, Response>(name, signal);
          return;
        } catch (error) {
          if ((error as { code?: unknown }).code !== GrpcStatus.UNIMPLEMENTED) throw error;
          this.watchUnimplemented = true;
        }
      }
      // Polls yield only what changed, by the same test as `wait`'s onProgress.
      const changed = changeDetector<Metadata, Response>();
      let base = this.backoff.initialMs;
      for (;;) {
        const operation = this.typed<Metadata, Response>(await this.client.get(name, signal));
        if (operation.done) {
          yield operation;
          return;
        }
        if (changed(operation)) yield operation;
        await this.sleep(base * (1 - this.backoff.jitter * this.random()), signal);
        base = Math.min(base * this.backoff.multiplier, this.backoff.maxMs);
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  }

  /** Follows the stream to the done state; undefined when the server has no stream. */
  private async follow<Metadata, Response>(
    name: string,
    signal: AbortSignal | undefined,
    report: (operation: ClientOperation<Metadata, Response>) => void,
  ): Promise<ClientOperation<Metadata, Response> | undefined> {
    try {
      for await (const operation of this.streamed<Metadata, Response>(name, signal)) {
        if (operation.done) return operation;
        report(operation);
      }
    } catch (error) {
      if ((error as { code?: unknown }).code !== GrpcStatus.UNIMPLEMENTED) throw error;
      this.watchUnimplemented = true;
    }
    return undefined;
  }

  /** The stream's states up to the done one, reopened when it ends early; UNIMPLEMENTED from a server without it. */
  private async *streamed<Metadata, Response>(name: string, signal: AbortSignal | undefined): AsyncGenerator<ClientOperation<Metadata, Response>, void, undefined> {
    for (;;) {
      let received = false;
      for await (const state of this.client.watch(name, signal)) {
        received = true;
        const operation = this.typed<Metadata, Response>(state);
        yield operation;
        if (operation.done) return;
      }
      // A stream that ended empty (a server shutting down) is not reopened at once, again and again.
      if (!received) await this.sleep(this.backoff.initialMs, signal);
    }
  }

  /**
   * Decodes an `Any` as `expectedType` (a full message name), refusing one whose type URL names
   * another type.
   */
  unpack<T = Record<string, unknown>>(any: Any__Output, expectedType: string): T {
    const actual = typeNameOf(any.type_url);
    if (actual !== expectedType) throw new TypeError(`expected an Any of ${expectedType}, got ${any.type_url}`);
    return this.registry.unpack<T>({ typeUrl: any.type_url, value: any.value });
  }

  /** Descriptors of the file declaring `typeName` and its imports, by the server's reflection (see OperationsClient). */
  fileDescriptorsOf(typeName: string): Promise<Uint8Array[]> {
    return this.client.fileDescriptorsOf(typeName);
  }

  close(): void {
    this.client.close();
  }

  private async poll<Metadata, Response>(
    name: string,
    signal: AbortSignal | undefined,
    report: (operation: ClientOperation<Metadata, Response>) => void,
  ): Promise<ClientOperation<Metadata, Response>> {
    let base = this.backoff.initialMs;
    for (;;) {
      const operation = this.typed<Metadata, Response>(await this.client.get(name, signal));
      if (operation.done) return operation;
      report(operation);
      await this.sleep(base * (1 - this.backoff.jitter * this.random()), signal);
      base = Math.min(base * this.backoff.multiplier, this.backoff.maxMs);
    }
  }

  private typed<Metadata, Response>(reply: OperationWithProgress): ClientOperation<Metadata, Response> {
    const { operation: wire } = reply;
    const operation: ClientOperation<Metadata, Response> = { name: wire.name, done: wire.done, wire };
    if (wire.metadata) {
      operation.metadataType = typeNameOf(wire.metadata.type_url);
      const metadata = this.decode(wire.metadata);
      if (metadata !== undefined) operation.metadata = metadata as Metadata;
    }
    if (wire.response) {
      operation.responseType = typeNameOf(wire.response.type_url);
      const response = this.decode(wire.response);
      if (response !== undefined) operation.response = response as Response;
    }
    if (wire.error) {
      operation.error = {
        code: wire.error.code,
        message: wire.error.message,
        details: wire.error.details.map((detail) => ({ '@type': detail.type_url, ...this.decode(detail) })),
      };
    }
    const metadataPercent = (operation.metadata as { progressPercent?: unknown } | undefined)?.progressPercent;
    const percent = reply.progressPercent ?? (typeof metadataPercent === 'number' ? metadataPercent : undefined);
    if (percent !== undefined) operation.progressPercent = percent;
    if (reply.estimatedCompletion !== undefined) operation.estimatedCompletion = reply.estimatedCompletion;
    return operation;
  }

  private decode(any: Any__Output): Record<string, unknown> | undefined {
    const type = typeNameOf(any.type_url);
    if (!this.registry.has(type)) return undefined;
    return this.registry.unpack({ typeUrl: any.type_url, value: any.value });
  }
}

/** Calls `onProgress` only when something it can see changed. */
function progressReporter<Metadata, Response>(
  onProgress: ((operation: ClientOperation<Metadata, Response>) => void) | undefined,
): (operation: ClientOperation<Metadata, Response>) => void {
  const changed = changeDetector<Metadata, Response>();
  return (operation) => {
    if (onProgress !== undefined && changed(operation)) onProgress(operation);
  };
}

/** true for the first operation and whenever its progress, estimate or metadata differ from the last one's. */
function changeDetector<Metadata, Response>(): (operation: ClientOperation<Metadata, Response>) => boolean {
  let last: string | undefined;
  return (operation) => {
    const seen = JSON.stringify([
      operation.progressPercent,
      operation.estimatedCompletion?.getTime(),
      operation.wire.metadata?.type_url,
      operation.wire.metadata ? Buffer.from(operation.wire.metadata.value).toString('base64') : undefined,
    ]);
    if (seen === last) return false;
    last = seen;
    return true;
  };
}

/** A typed client of google.longrunning.Operations at `address` (`host:port`). Call `close()` when done. */
export function createClient(address: string, options: ClientOptions = {}): LongrunClient {
  return new LongrunClient(address, options);
}
