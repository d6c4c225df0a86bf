/**
 * `Longrun`: one instance of longrun as an embedding app holds it: declare methods, put the
 * services on a grpc-js server, serve HTTP and metrics, call the Operations API in process, stop.
 * It holds the parts `createLongrun` (app.ts) built and makes none itself.
 */
import type { Server } from '@grpc/grpc-js';
import type { Deliverer } from './callbacks/deliverer.js';
import type { OperationRecord } from './domain/operation.js';
import { addToServer, type AddToServerOptions, type ServedLongrun } from './grpc/server.js';
import type { HttpFront } from './http/front.js';
import type { Logger } from './log.js';
import type { Handler, MethodOptions } from './methods/method.js';
import { pathOf, type MethodRef } from './methods/ref.js';
import type { MethodTable } from './methods/table.js';
import type { Metrics } from './observe/metrics.js';
import { serveMetrics, type MetricsServer } from './observe/metrics-server.js';
import type { Telemetry } from './observe/telemetry.js';
import { policiesFromOptions, type CreatePolicies, type PolicyOptions } from './operations/create-options.js';
import type { OperationEvents } from './operations/events.js';
import { traceContextOption } from './observe/tracing.js';
import type { Caller, OperationsService } from './operations/service.js';
import type { MessageValue, TypeRegistry } from './protos/registry.js';
import type { Runner } from './runner/runner.js';
import type { Sweeper } from './runner/sweeper.js';
import type { OperationStore } from './store/types.js';

/** Options of every in-process call: on whose behalf it is made. */
export interface CallOptions {
  /**
   * Act as this principal, with the RPCs' tenancy: a caller that is not `admin` sees and manages
   * only the operations it created, and creates operations it owns (default: `Longrun.caller`, the
   * app itself, an admin owning what it creates as `LongrunOptions.principal`).
   */
  caller?: Caller;
}

/** Options of `Longrun.create`: what the RPC's headers carry. More may be added; it stays an object. */
export interface CreateOptions extends CallOptions, PolicyOptions {
  /** As the `idempotency-key` header; the request's `request_id` is used otherwise. */
  idempotencyKey?: string;
  /** As the `longrun-callback-url` header: POSTed a signed webhook when the operation ends. */
  callbackUrl?: string;
}

/** Options of `Longrun.wait`. */
export interface InProcessWaitOptions extends CallOptions {
  /** How long to wait at most (default and cap: `waitCapMs`); then the latest state is returned. */
  timeoutMs?: number;
  /** Stops waiting (resolving with the latest state). */
  signal?: AbortSignal;
}

/** Options of `Longrun.watch`. */
export interface InProcessWatchOptions extends CallOptions {
  /** Ends the iteration (breaking out of the loop does too). */
  signal?: AbortSignal;
}

/** ListOperations' request in process (`name` is the collection: `operations` or `<parent>/operations`). */
export interface ListRequest {
  /** The collection (default: "operations", every operation without a parent). */
  name?: string;
  /** AIP-160 filter, as ListOperations takes it (default: none). */
  filter?: string;
  /** Up to 1000 (default: 50). */
  pageSize?: number;
  /** `nextPageToken` of the previous page (default: the first page). */
  pageToken?: string;
}

export interface ListPage {
  operations: OperationRecord[];
  /** Empty on the last page. */
  nextPageToken: string;
}

/** What `createLongrun` builds; the instance only holds them. */
export interface LongrunParts {
  store: OperationStore;
  operations: OperationsService;
  registry: TypeRegistry;
  methods: MethodTable;
  events: OperationEvents;
  runner: Runner;
  sweeper: Sweeper;
  logger: Logger;
  metrics: Metrics;
  telemetry: Telemetry;
  caller: Caller;
  defaultMaxAttempts: number;
  runnerEnabled: boolean;
  deliverer: Deliverer | undefined;
  http: HttpFront;
}

export class Longrun {
  readonly store: OperationStore;
  readonly operations: OperationsService;
  readonly registry: TypeRegistry;
  readonly methods: MethodTable;
  /** WaitOperation's waiters, woken by the store's change feed. */
  readonly events: OperationEvents;
  readonly runner: Runner;
  readonly logger: Logger;
  /** This instance's Prometheus metrics, in a registry of its own (`metrics.registry`). */
  readonly metrics: Metrics;
  /**
   * The REST form (HTTP/JSON from the protos' google.api.http rules): `http.listen({ host, port,
   * tls, auth })`, or `http.handler({ auth })` to mount in your own node:http server.
   */
  readonly http: HttpFront;
  private readonly telemetry: Telemetry;
  private metricsServers: MetricsServer[] = [];
  /** Metrics servers still binding: `stop` waits for them, so none opens after it and stays open. */
  private readonly metricsOpening = new Set<Promise<MetricsServer>>();
  /** The caller used by the in-process helpers below and by unauthenticated RPCs. */
  readonly caller: Caller;
  private readonly sweeper: Sweeper;
  private readonly defaultMaxAttempts: number;
  private readonly runnerEnabled: boolean;
  /** Sends completion callbacks; undefined when callbacks are not configured. */
  readonly deliverer: Deliverer | undefined;
  private served: ServedLongrun[] = [];

  constructor(parts: LongrunParts) {
    this.store = parts.store;
    this.operations = parts.operations;
    this.registry = parts.registry;
    this.methods = parts.methods;
    this.events = parts.events;
    this.runner = parts.runner;
    this.sweeper = parts.sweeper;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.telemetry = parts.telemetry;
    this.caller = parts.caller;
    this.defaultMaxAttempts = parts.defaultMaxAttempts;
    this.runnerEnabled = parts.runnerEnabled;
    this.deliverer = parts.deliverer;
    this.http = parts.http;
  }

  /**
   * Declares a long-running method (`/package.Service/Method`, returning google.longrunning.Operation)
   * and the handler that does its work. Response and metadata types come from the method's
   * `google.longrunning.operation_info` unless overridden in `options`. Given a `methodRef`, the
   * handler's request, metadata and response are typed from it; given a path, from the type
   * arguments (plain objects by default).
   */
  method<Request, Metadata, Response, Received>(
    method: MethodRef<Request, Metadata, Response, Received>,
    // Inferred from the ref alone: the handler is checked against its types, not widened to fit.
    handler: Handler<NoInfer<Received>, NoInfer<Metadata>, NoInfer<Response>>,
    options?: MethodOptions<NoInfer<Received>, NoInfer<Metadata>>,
  ): this;
  method<Request = Record<string, unknown>, Metadata = Record<string, unknown>, Response = Record<string, unknown>>(
    path: string,
    handler: Handler<Request, Metadata, Response>,
    options?: MethodOptions<Request, Metadata>,
  ): this;
  method(method: string | MethodRef<unknown, unknown, unknown, unknown>, handler: Handler<unknown, unknown, unknown>, options: MethodOptions<unknown, unknown> = {}): this {
    this.methods.define(pathOf(method), handler as Handler<unknown, MessageValue, MessageValue>, {
      maxAttempts: this.defaultMaxAttempts,
      ...(options as MethodOptions<unknown, MessageValue>),
    });
    return this;
  }

  /** Adds google.longrunning.Operations, your declared methods' services, reflection and health. */
  addToServer(server: Server, options: AddToServerOptions = {}): ServedLongrun {
    const served = addToServer(
      server,
      {
        service: this.operations,
        methods: this.methods,
        registry: this.registry,
        logger: this.logger,
        telemetry: this.telemetry,
        caller: this.caller,
      },
      options,
    );
    this.served.push(served);
    return served;
  }

  /**
   * Serves this instance's metrics for Prometheus at `http://host:port/metrics` (port 0: any free
   * port; see `url`). Closed by `stop()`. An app with its own HTTP server can serve
   * `metrics.scrape()` instead.
   */
  async serveMetrics(options: { host?: string; port?: number } = {}): Promise<MetricsServer> {
    const opening = serveMetrics(this.metrics, options.host ?? '127.0.0.1', options.port ?? 0, this.logger);
    this.metricsOpening.add(opening);
    try {
      const server = await opening;
      this.metricsServers.push(server);
      return server;
    } finally {
      this.metricsOpening.delete(opening);
    }
  }

  /** Starts running handlers, sending completion callbacks and sweeping expired operations. */
  start(): this {
    if (this.runnerEnabled) {
      this.runner.start();
      this.deliverer?.start();
    }
    this.sweeper.start();
    return this;
  }

  /**
   * Starts an operation in-process, as the method's RPC would: the same checks (the request is
   * checked against its message type as strictly as over the wire: an unknown field or a value of
   * the wrong type is INVALID_ARGUMENT naming the field), idempotency, tenancy and callbacks. With
   * a `methodRef`, `request` is typed from it.
   */
  create<Request>(method: MethodRef<Request, unknown, unknown, unknown>, request: NoInfer<Request>, options?: CreateOptions): Promise<OperationRecord>;
  create(path: string, request: Record<string, unknown>, options?: CreateOptions): Promise<OperationRecord>;
  create(method: string | MethodRef<unknown, unknown, unknown, unknown>, request: unknown, options: CreateOptions = {}): Promise<OperationRecord> {
    const { idempotencyKey, callbackUrl } = options;
    let policies: CreatePolicies;
    try {
      policies = policiesFromOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.operations.create(pathOf(method), request as Record<string, unknown>, this.callerOf(options), {
      policies,
      ...(idempotencyKey !== undefined && { idempotencyKey }),
      ...(callbackUrl !== undefined && { callback: { url: callbackUrl, field: 'callbackUrl' } }),
      ...traceContextOption(), // the app's own span, when it creates from within one
    });
  }

  /**
   * Starts operations of one method, as many `create` calls at once: their rows are written
   * together (one transaction on SQLite, one INSERT on PostgreSQL). In the order given. An
   * invalid request rejects the whole call, but the valid ones are created all the same; a
   * request's own `request_id` makes retrying it safe. (No shared idempotency key: it names one
   * operation.)
   */
  createMany(path: string, requests: readonly Record<string, unknown>[], options: Omit<CreateOptions, 'idempotencyKey'> = {}): Promise<OperationRecord[]> {
    return Promise.all(requests.map((request) => this.create(path, request, options)));
  }

  /** GetOperation: NOT_FOUND for a deleted or expired operation, PERMISSION_DENIED for another principal's. */
  get(name: string, options: CallOptions = {}): Promise<OperationRecord> {
    return this.operations.get(name, this.callerOf(options));
  }

  /**
   * WaitOperation: resolves when the operation is done, or with its latest state after the timeout
   * (capped by `waitCapMs`) or when the signal fires. `wait(name, timeoutMs, signal)` still works.
   */
  wait(name: string, options?: InProcessWaitOptions): Promise<OperationRecord>;
  wait(name: string, timeoutMs?: number, signal?: AbortSignal): Promise<OperationRecord>;
  wait(name: string, timeoutOrOptions?: number | InProcessWaitOptions, signal?: AbortSignal): Promise<OperationRecord> {
    const options = typeof timeoutOrOptions === 'object' ? timeoutOrOptions : { timeoutMs: timeoutOrOptions, signal };
    return this.operations.wait(name, options.timeoutMs, options.signal ?? new AbortController().signal, this.callerOf(options));
  }

  /**
   * CancelOperation: asks the handler to stop (its `context.signal` fires, in whichever process runs
   * it); the operation ends CANCELLED. FAILED_PRECONDITION if it is already done.
   */
  cancel(name: string, options: CallOptions = {}): Promise<void> {
    return this.operations.cancel(name, this.callerOf(options));
  }

  /**
   * Starts a done operation again with its request: a new operation linked to it (`rerunOf`). With
   * `idempotencyKey`, one key re-runs one original once. FAILED_PRECONDITION if it is not done.
   * To re-run (or cancel) every operation a filter matches, see `addBulkOperations`.
   */
  rerun(name: string, options: CallOptions & { idempotencyKey?: string } = {}): Promise<OperationRecord> {
    return this.operations.rerun(name, this.callerOf(options), options.idempotencyKey);
  }

  /** DeleteOperation: forgets a done operation. FAILED_PRECONDITION if it is not done (delete never cancels). */
  delete(name: string, options: CallOptions = {}): Promise<void> {
    return this.operations.delete(name, this.callerOf(options));
  }

  /** ListOperations: one page, newest first; pass `nextPageToken` back for the next. */
  list(request: ListRequest = {}, options: CallOptions = {}): Promise<ListPage> {
    return this.operations.list(
      { name: request.name ?? '', filter: request.filter ?? '', pageSize: request.pageSize ?? 0, pageToken: request.pageToken ?? '', returnPartialSuccess: false },
      this.callerOf(options),
    );
  }

  /**
   * The operation's states as they change, as longrun.v1.Watcher/WatchOperation streams them: the
   * current one at once, then the latest after each change (progress, metadata, state; bursts
   * coalesced to one per `watchIntervalMs`), ending after the done one. Where the RPC ends a stream
   * at `watchCapMs`, this watches again, as the typed client does. Ends early when the signal fires,
   * the loop breaks, or the instance stops; throws as GetOperation does (NOT_FOUND once deleted),
   * and RESOURCE_EXHAUSTED beyond `maxWatchesPerPrincipal` watches at once.
   */
  async *watch(name: string, options: InProcessWatchOptions = {}): AsyncGenerator<OperationRecord, void, undefined> {
    const caller = this.callerOf(options);
    const signal = options.signal ?? new AbortController().signal;
    let last: OperationRecord | undefined;
    while (!signal.aborted && !this.events.stopped) {
      for await (const state of this.operations.watch(name, caller, signal)) {
        // A new stream starts with the current state, which may be the one already given.
        if (last !== undefined && sameState(last, state)) continue;
        last = state;
        yield state;
      }
      if (last?.done) return;
    }
  }

  private callerOf(options: CallOptions): Caller {
    return options.caller ?? this.caller;
  }

  /**
   * Stops taking work: health turns NOT_SERVING, waiting WaitOperation calls return the latest
   * state, handlers get `graceMs` to finish and the leases of the rest are released.
   */
  async stop(graceMs = 10_000): Promise<void> {
    for (const served of this.served) {
      for (const service of ['', ...served.services]) served.health?.setStatus(service, 'NOT_SERVING');
    }
    this.sweeper.stop();
    this.events.releaseWaiters();
    await Promise.all([this.runner.stop(graceMs), this.deliverer?.stop(graceMs)]);
    await Promise.allSettled([...this.metricsOpening]);
    await Promise.all([...this.metricsServers.splice(0).map((server) => server.close()), this.http.close(graceMs)]);
  }

  /** Stops (if not yet stopped) and closes the store. */
  async close(graceMs = 10_000): Promise<void> {
    await this.stop(graceMs);
    this.events.close();
    await this.store.close();
  }
}

function sameState(a: OperationRecord, b: OperationRecord): boolean {
  return a.updateTime === b.updateTime && a.done === b.done && a.progressPercent === b.progressPercent && a.cancelRequested === b.cancelRequested;
}
