/**
 * Composition root: `createLongrun` builds every part (store, registry, operations service, runner,
 * sweeper, deliverer, HTTP front) in one pass, in dependency order, and hands them to a `Longrun`
 * (longrun.ts). It never listens and never reads env or argv.
 */
import { Deliverer } from './callbacks/deliverer.js';
import { CallbackSettings, type CallbackOptions } from './callbacks/settings.js';
import { systemClock, type Clock } from './domain/clock.js';
import { OwnedIds } from './domain/owned-ids.js';
import { PageTokenCodec } from './domain/page-token.js';
import { OPERATIONS_SERVICE } from './grpc/server.js';
import { HttpFront } from './http/front.js';
import { createLogger, type Logger } from './log.js';
import { Longrun } from './longrun.js';
import { DEFAULT_MAX_ATTEMPTS } from './methods/method.js';
import type { RetryPolicy } from './methods/retry-policy.js';
import { checkConcurrencyPerKey, MethodTable } from './methods/table.js';
import { Metrics, timedStore } from './observe/metrics.js';
import { Telemetry } from './observe/telemetry.js';
import { OperationEvents } from './operations/events.js';
import { OperationsService, type Caller } from './operations/service.js';
import { JsonCodec } from './protos/json.js';
import { BUNDLED_PROTO_FILES } from './protos/bundled.js';
import { TypeRegistry } from './protos/registry.js';
import { Schema } from './protos/schema.js';
import { Runner } from './runner/runner.js';
import { Sweeper } from './runner/sweeper.js';
import { openStore } from './store/open.js';
import type { SqliteSynchronous } from './store/sqlite/store.js';
import type { OperationStore } from './store/types.js';
import { DEFAULTS } from './defaults.js';

export { BUNDLED_PROTO_FILES };

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
  /**
   * Default concurrencyPerKey of methods that do not set their own: operations of one concurrency
   * key running at once across every process on the store, 1 to MAX_CONCURRENCY_PER_KEY (default: 1).
   */
  concurrencyPerKey?: number;
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

export async function createLongrun(options: LongrunOptions = {}): Promise<Longrun> {
  const logger = options.logger ?? createLogger();
  const clock = options.clock ?? systemClock;
  const retentionMs = options.retentionMs ?? DEFAULTS.retentionMs;
  const pollMs = options.pollMs ?? DEFAULTS.pollMs;
  // Checked before anything is opened: a bad secret or endpoint fails fast and leaks nothing.
  const callbacks = options.callbacks === undefined ? undefined : new CallbackSettings(options.callbacks);
  if (options.concurrencyPerKey !== undefined) checkConcurrencyPerKey(options.concurrencyPerKey, 'concurrencyPerKey');
  // Counters first: the store reports to them; the gauges that read the store and the runner are added below.
  const metrics = new Metrics();
  const baseStore =
    options.store ??
    (await openStore({
      ...pick(options, 'databasePath', 'pgSchema', 'pgPoolSize', 'pgListenUrl', 'synchronous'),
      retentionMs,
      pollMs,
      logger,
      onListenerReconnected: () => metrics.listenerReconnects.inc(),
    }));
  const protoFiles = [...BUNDLED_PROTO_FILES, ...(options.protoFiles ?? [])];
  const includeDirs = options.includeDirs ?? [];
  // The one schema every runtime is fed from; the app's .proto files are compiled here, once.
  const schema = Schema.load(protoFiles, includeDirs);
  const registry = new TypeRegistry(schema);
  const codec = new JsonCodec(schema);
  const jsonCodec = () => codec;
  const methods = new MethodTable(registry, pick(options, 'retry', 'concurrencyPerKey'));
  const events = new OperationEvents(baseStore.changes);
  const store = timedStore(baseStore, metrics.storeDuration);
  const telemetry = new Telemetry(logger, metrics);
  // The app itself (and a server without authentication) acts for everyone: see Caller.admin.
  const caller: Caller = { principal: options.principal ?? DEFAULTS.principal, admin: true };
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
      waitCapMs: options.waitCapMs ?? DEFAULTS.waitCapMs,
      ...(options.maxWaitsPerPrincipal !== undefined && { maxWaitsPerPrincipal: options.maxWaitsPerPrincipal }),
      ...(options.maxWatchesPerPrincipal !== undefined && { maxWatchesPerPrincipal: options.maxWatchesPerPrincipal }),
      ...(options.watchCapMs !== undefined && { watchCapMs: options.watchCapMs }),
      ...(options.watchIntervalMs !== undefined && { watchIntervalMs: options.watchIntervalMs }),
    },
    telemetry,
    ...(callbacks !== undefined && { callbacks }),
  });
  const runner = new Runner({ store, methods, registry, clock, logger, telemetry }, { leaseMs: options.leaseMs ?? DEFAULTS.leaseMs, pollMs });
  metrics.observe({
    store: baseStore,
    clock,
    running: () => runner.runningPerMethod(),
    waiting: () => events.waitingCount(),
    watching: () => events.watchingCount(),
  });
  const sweeper = new Sweeper(store, clock, logger, options.sweepIntervalMs ?? DEFAULTS.sweepIntervalMs);
  const deliverer =
    callbacks === undefined ? undefined : new Deliverer({ store, settings: callbacks, codec: jsonCodec, clock, logger, metrics }, { pollMs, retentionMs });
  // Read when the first gateway is made, after the app has declared its methods.
  const http = new HttpFront(() => ({
    service: operations,
    registry,
    codec: jsonCodec(),
    logger,
    telemetry,
    clock,
    caller,
    services: [OPERATIONS_SERVICE, ...methods.services()],
    answerStyleOf: (rpc) => methods.get(rpc)?.options.httpAnswer ?? 'async',
  }));
  return new Longrun({
    store,
    operations,
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
    deliverer,
    http,
  });
}

/** The options among `keys` that are set (exactOptionalPropertyTypes: an unset one is left out, not undefined). */
function pick<T extends object, K extends keyof T>(options: T, ...keys: K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const key of keys) if (options[key] !== undefined) picked[key] = options[key];
  return picked;
}
