/**
 * Composition root: builds the store, registry, operations service, runner and sweeper, and wires
 * them onto a grpc-js server on request. It never listens and never reads env or argv.
 */
import type { Server } from '@grpc/grpc-js';
import { Deliverer } from './callbacks/deliverer.js';
import { CallbackSettings, type CallbackOptions } from './callbacks/settings.js';
import { systemClock, type Clock } from './domain/clock.js';
import { OwnedIds } from './domain/owned-ids.js';
import { PageTokenCodec } from './domain/page-token.js';
import { MIN_IDEMPOTENCY_KEY_LIFETIME_MS, type OperationRecord } from './domain/operation.js';
import { addToServer, OPERATIONS_SERVICE, type AddToServerOptions, type ServedLongrun } from './grpc/server.js';
import { HttpFront } from './http/front.js';
import { createLogger, type Logger } from './log.js';
import { DEFAULT_MAX_ATTEMPTS, type Handler, type MethodOptions } from './methods/method.js';
import type { RetryPolicy } from './methods/retry-policy.js';
import { policiesFromOptions, type CreatePolicies, type PolicyOptions } from './operations/create-options.js';
import { MethodTable } from './methods/table.js';
import { Metrics, timedStore } from './observe/metrics.js';
import { serveMetrics, type MetricsServer } from './observe/metrics-server.js';
import { Telemetry } from './observe/telemetry.js';
import { OperationEvents } from './operations/events.js';
import { OperationsService, type Caller } from './operations/service.js';
import { pathOf, type MethodRef } from './methods/ref.js';
import type { MessageValue } from './protos/registry.js';
import { JsonCodec } from './protos/json.js';
import { TypeRegistry } from './protos/registry.js';
import { Schema } from './protos/schema.js';
import { Runner } from './runner/runner.js';
import { Sweeper } from './runner/sweeper.js';
import { isPostgresUrl, PostgresOperationStore } from './store/postgres/store.js';
import { SqliteOperationStore, type SqliteSynchronous } from './store/sqlite/store.js';
import type { OperationStore, SubscriberErrorHandler } from './store/types.js';

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

export const BUNDLED_PROTO_FILES = [
  'google/longrunning/operations.proto',
  'google/rpc/error_details.proto',
  'longrun/testing/v1/sleeper.proto',
  'longrun/v1/watcher.proto',
];

export interface LongrunOptions {
  /**
   * The store: a SQLite database file, or a postgres:// / postgresql:// URL (default:
   * ./data/longrun.db). Ignored when `store` is given.
   */
  databasePath?: string;
  /** PostgreSQL schema of longrun's tables (default: longrun). */
  pgSchema?: string;
  /** PostgreSQL pool size of this process (default: 10). */
  pgPoolSize?: number;
  /** PostgreSQL URL for the LISTEN connection when `databasePath` is a transaction-mode pooler (default: databasePath). */
  pgListenUrl?: string;
  /** SQLite synchronous mode (default: NORMAL; see SqliteSynchronous). */
  synchronous?: SqliteSynchronous;
  /** A store of your own making (e.g. shared by several Longrun instances in tests). */
  store?: OperationStore;
  /** Your .proto files declaring the long-running methods, relative to `includeDirs`. */
  protoFiles?: string[];
  includeDirs?: string[];
  /** How long finished operations stay readable (default: 30 days). */
  retentionMs?: number;
  /** Cap on WaitOperation (default: 60 s). */
  waitCapMs?: number;
  /** WaitOperation calls one principal may have in progress at once (default: 1000); more get RESOURCE_EXHAUSTED. */
  maxWaitsPerPrincipal?: number;
  /** Watch streams (gRPC WatchOperation, HTTP event streams) one principal may have open at once (default: 1000). */
  maxWatchesPerPrincipal?: number;
  /** Longest a watch stream stays open before it ends and the client watches again (default: 1 h). */
  watchCapMs?: number;
  /** Shortest time between two states sent to one watcher; progress bursts are coalesced (default: 100 ms). */
  watchIntervalMs?: number;
  /** Runner lease (default: 30 s); heartbeats every third of it. */
  leaseMs?: number;
  /** Store poll for work from other processes (default: 1 s). */
  pollMs?: number;
  /** Retention sweep interval (default: 60 s). */
  sweepIntervalMs?: number;
  /** Default maxAttempts of methods that do not set their own: runs in all, retries and lost leases included (default: 3). */
  maxAttempts?: number;
  /** Default retry policy of methods that do not set their own (default: DEFAULT_RETRY_POLICY). */
  retry?: Partial<RetryPolicy>;
  /** Whether this process runs handlers (default: true); false for API-only servers. */
  runner?: boolean;
  /** Owner of operations created without authentication (default: "default"). */
  principal?: string;
  /**
   * Completion callbacks (signed webhooks). Without them a callback URL is refused at creation
   * with FAILED_PRECONDITION. Deliveries are sent where the runner runs (`runner` not false).
   */
  callbacks?: CallbackOptions;
  logger?: Logger;
  clock?: Clock;
}

const DAY_MS = 86_400_000;

export class Longrun {
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
  private readonly jsonCodec: () => JsonCodec;

  constructor(
    readonly store: OperationStore,
    readonly operations: OperationsService,
    parts: {
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
      clock: Clock;
      callbacks: CallbackSettings | undefined;
      retentionMs: number;
      pollMs: number;
      jsonCodec: () => JsonCodec;
    },
  ) {
    this.jsonCodec = parts.jsonCodec;
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
    this.deliverer =
      parts.callbacks === undefined
        ? undefined
        : new Deliverer(
            { store, settings: parts.callbacks, codec: () => this.jsonCodec(), clock: parts.clock, logger: parts.logger, metrics: parts.metrics },
            { pollMs: parts.pollMs, retentionMs: parts.retentionMs },
          );
    this.http = new HttpFront(() => {
      return {
        service: this.operations,
        registry: this.registry,
        codec: this.jsonCodec(),
        logger: this.logger,
        telemetry: this.telemetry,
        clock: parts.clock,
        caller: this.caller,
        services: [OPERATIONS_SERVICE, ...this.methods.services()],
        answerStyleOf: (rpc) => this.methods.get(rpc)?.options.httpAnswer ?? 'async',
      };
    });
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

/** The store at `databasePath` on its own, for operator commands (`longrun deliveries`). */
export function openOperationStore(databasePath: string, options: { pgSchema?: string } = {}): Promise<OperationStore> {
  return openStore({ databasePath, ...options, pgPoolSize: 2 }, 30 * DAY_MS, createLogger('warn'), () => undefined);
}

/** SQLite for a path, PostgreSQL for a postgres:// or postgresql:// URL. */
async function openStore(options: LongrunOptions, retentionMs: number, logger: Logger, metrics: () => Metrics | undefined): Promise<OperationStore> {
  const database = options.databasePath ?? './data/longrun.db';
  const retention = { retentionMs, keyedRetentionMs: MIN_IDEMPOTENCY_KEY_LIFETIME_MS };
  const onSubscriberError: SubscriberErrorHandler = (error, change) => logger.error({ err: error, change: change.kind }, 'a store change-feed subscriber threw');
  if (!isPostgresUrl(database)) {
    return new SqliteOperationStore({ path: database, synchronous: options.synchronous ?? 'NORMAL', ...retention, onSubscriberError });
  }
  return PostgresOperationStore.open({
    url: database,
    ...retention,
    ...(options.pgSchema !== undefined && { schema: options.pgSchema }),
    ...(options.pgPoolSize !== undefined && { poolSize: options.pgPoolSize }),
    ...(options.pgListenUrl !== undefined && { listenUrl: options.pgListenUrl }),
    pollMs: options.pollMs ?? 1000,
    onSubscriberError,
    listenerEvents: {
      listenerLost: (error) => logger.warn({ err: error }, 'the PostgreSQL LISTEN connection was lost; reconnecting (waits fall back to polling)'),
      listenerReconnected: () => {
        metrics()?.listenerReconnects.inc();
        logger.info('the PostgreSQL LISTEN connection is back');
      },
    },
  });
}

export async function createLongrun(options: LongrunOptions = {}): Promise<Longrun> {
  const logger = options.logger ?? createLogger();
  const clock = options.clock ?? systemClock;
  const retentionMs = options.retentionMs ?? 30 * DAY_MS;
  // Checked before anything is opened: a bad secret or endpoint fails fast and leaks nothing.
  const callbacks = options.callbacks === undefined ? undefined : new CallbackSettings(options.callbacks);
  // Made below; the store's listener reports to them once they exist.
  let metrics: Metrics | undefined;
  const baseStore = options.store ?? (await openStore(options, retentionMs, logger, () => metrics));
  const protoFiles = [...BUNDLED_PROTO_FILES, ...(options.protoFiles ?? [])];
  const includeDirs = options.includeDirs ?? [];
  // The one schema every runtime is fed from; the app's .proto files are compiled here, once.
  const schema = Schema.load(protoFiles, includeDirs);
  const registry = new TypeRegistry(schema);
  const codec = new JsonCodec(schema);
  const jsonCodec = () => codec;
  const methods = new MethodTable(registry, options.retry);
  const events = new OperationEvents(baseStore.changes);
  // Scrape-time gauges read the runner, made below.
  let runner: Runner | undefined;
  metrics = new Metrics({
    store: baseStore,
    clock,
    running: () => runner?.runningPerMethod() ?? new Map(),
    waiting: () => events.waitingCount(),
    watching: () => events.watchingCount(),
  });
  const store = timedStore(baseStore, metrics.storeDuration);
  const telemetry = new Telemetry(logger, metrics);
  // The app itself (and a server without authentication) acts for everyone: see Caller.admin.
  const caller: Caller = { principal: options.principal ?? 'default', admin: true };
  const signingKey = await store.signingKey();
  const operations = new OperationsService({
    store,
    registry,
    methods,
    events,
    clock,
    pageTokens: new PageTokenCodec(signingKey),
    ids: new OwnedIds(signingKey),
    options: {
      waitCapMs: options.waitCapMs ?? 60_000,
      ...(options.maxWaitsPerPrincipal !== undefined && { maxWaitsPerPrincipal: options.maxWaitsPerPrincipal }),
      ...(options.maxWatchesPerPrincipal !== undefined && { maxWatchesPerPrincipal: options.maxWatchesPerPrincipal }),
      ...(options.watchCapMs !== undefined && { watchCapMs: options.watchCapMs }),
      ...(options.watchIntervalMs !== undefined && { watchIntervalMs: options.watchIntervalMs }),
    },
    telemetry,
    ...(callbacks !== undefined && { callbacks }),
  });
  runner = new Runner(
    { store, methods, registry, clock, logger, telemetry },
    { leaseMs: options.leaseMs ?? 30_000, pollMs: options.pollMs ?? 1000 },
  );
  const sweeper = new Sweeper(store, clock, logger, options.sweepIntervalMs ?? 60_000);
  return new Longrun(store, operations, {
    registry,
    methods,
    events,
    runner,
    sweeper,
    logger,
    metrics,
    telemetry,
    caller,
    defaultMaxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    runnerEnabled: options.runner ?? true,
    clock,
    callbacks,
    retentionMs,
    pollMs: options.pollMs ?? 1000,
    jsonCodec,
  });
}
