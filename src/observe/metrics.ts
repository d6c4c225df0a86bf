/**
 * Prometheus metrics of one Longrun instance, in a registry of its own (not prom-client's global
 * one), so several instances in one process never collide. The only file that imports prom-client.
 *
 * Counters and histograms move as things happen; gauges that describe the store or the runner
 * (operations by state, queue depth, handlers running, waiters) are read when scraped.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { OperationCounts, OperationStore } from '../store/types.js';

/** What scrape-time gauges read. */
export interface MetricsSources {
  store: Pick<OperationStore, 'countByState' | 'countDeliveries'>;
  clock: { now(): number };
  /** Handlers running now, by method path. */
  running(): ReadonlyMap<string, number>;
  /** WaitOperation calls (and in-process waits) waiting for an operation to finish. */
  waiting(): number;
  /** Watch streams (gRPC WatchOperation, HTTP :watch) open now. */
  watching?(): number;
}

/** Latency buckets in seconds: RPCs and store calls are mostly well under a second; WaitOperation runs to the wait cap. */
const RPC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export class Metrics {
  readonly registry = new Registry();
  readonly rpcs: Counter<'method' | 'code'>;
  readonly rpcDuration: Histogram<'method'>;
  readonly created: Counter<'method'>;
  readonly finished: Counter<'method' | 'code'>;
  readonly reruns: Counter<'method'>;
  readonly retries: Counter<'method' | 'code'>;
  readonly startDeadlines: Counter<'method'>;
  readonly leaseExpirations: Counter<'outcome'>;
  readonly leasesLost: Counter<'method'>;
  readonly storeDuration: Histogram<'call'>;
  readonly listenerReconnects: Counter;
  readonly callbackAttempts: Counter<'outcome'>;
  readonly callbackLatency: Histogram;
  private counting: Promise<OperationCounts> | undefined;

  /**
   * Counters and histograms at once; the scrape-time gauges when `sources` are given, or later by
   * `observe` (the composition root makes the metrics before the parts the gauges read).
   */
  constructor(sources?: MetricsSources) {
    const registers = [this.registry];
    this.rpcs = new Counter({
      name: 'longrun_rpcs_total',
      help: 'RPCs handled, by full method and gRPC status code name.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.rpcDuration = new Histogram({
      name: 'longrun_rpc_duration_seconds',
      help: 'Time from receiving an RPC to sending its status, by full method.',
      labelNames: ['method'],
      buckets: RPC_BUCKETS,
      registers,
    });
    this.created = new Counter({
      name: 'longrun_operations_created_total',
      help: 'Operations created (idempotent replays not counted), by method.',
      labelNames: ['method'],
      registers,
    });
    this.finished = new Counter({
      name: 'longrun_operations_finished_total',
      help: 'Operations that ended, by method and result code name (OK for a response).',
      labelNames: ['method', 'code'],
      registers,
    });
    this.reruns = new Counter({
      name: 'longrun_operation_reruns_total',
      help: 'Runs started after an earlier run lost its lease (attempt > 1), by method.',
      labelNames: ['method'],
      registers,
    });
    this.retries = new Counter({
      name: 'longrun_operation_retries_total',
      help: 'Failed runs that will be retried after a backoff, by method and the code they failed with.',
      labelNames: ['method', 'code'],
      registers,
    });
    this.startDeadlines = new Counter({
      name: 'longrun_operation_start_deadlines_exceeded_total',
      help: 'Operations ended DEADLINE_EXCEEDED because they had not started by their start deadline, by method.',
      labelNames: ['method'],
      registers,
    });
    this.leaseExpirations = new Counter({
      name: 'longrun_lease_expirations_total',
      help: 'Expired leases found: "rerun" when the operation was claimed again, "aborted" when it had no attempts left.',
      labelNames: ['outcome'],
      registers,
    });
    this.leasesLost = new Counter({
      name: 'longrun_leases_lost_total',
      help: "Leases this process's runner lost while its handler ran (expired or taken over); the outcome is discarded.",
      labelNames: ['method'],
      registers,
    });
    this.listenerReconnects = new Counter({
      name: 'longrun_store_listener_reconnects_total',
      help: "Times the store's change listener (PostgreSQL LISTEN connection) was lost and opened again.",
      registers,
    });
    this.storeDuration = new Histogram({
      name: 'longrun_store_duration_seconds',
      help: 'Latency of store calls, by call (create includes waiting for its group commit).',
      labelNames: ['call'],
      buckets: STORE_BUCKETS,
      registers,
    });
    this.callbackAttempts = new Counter({
      name: 'longrun_callback_attempts_total',
      help: 'Completion-callback POSTs, by outcome: sent (a 2xx), failed (to be retried), dead (the retry schedule ran out), gone (a 410).',
      labelNames: ['outcome'],
      registers,
    });
    this.callbackLatency = new Histogram({
      name: 'longrun_callback_latency_seconds',
      help: "Time from an operation's end (its outcome committed) to its callback receiver's 2xx, retries included.",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 120, 600, 3600, 21600, 86400],
      registers,
    });
    if (sources !== undefined) this.observe(sources);
  }

  /** Adds the gauges read at scrape time from the store, the runner and the waiters; once. */
  observe(sources: MetricsSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'longrun_callback_deliveries',
      help: 'Completion-callback deliveries in the store by state (read at scrape time): pending, delivered, dead, gone.',
      labelNames: ['state'],
      registers,
      async collect() {
        const deliveries = await sources.store.countDeliveries();
        for (const [state, count] of Object.entries(deliveries)) this.set({ state }, count);
      },
    });
    const counts = () => this.countOnce(sources);
    new Gauge({
      name: 'longrun_operations',
      help: 'Operations in the store by state (read at scrape time; PENDING includes operations whose lease expired).',
      labelNames: ['state'],
      registers,
      async collect() {
        const { pending, running, done } = await counts();
        this.set({ state: 'PENDING' }, pending);
        this.set({ state: 'RUNNING' }, running);
        this.set({ state: 'DONE' }, done);
      },
    });
    new Gauge({
      name: 'longrun_runner_queue_depth',
      help: 'Operations waiting to be claimed by a runner (pending, or lease expired).',
      registers,
      async collect() {
        this.set((await counts()).pending);
      },
    });
    new Gauge({
      name: 'longrun_runner_running',
      help: "Handlers this process's runner is running now, by method.",
      labelNames: ['method'],
      registers,
      collect() {
        this.reset();
        for (const [method, count] of sources.running()) this.set({ method }, count);
      },
    });
    new Gauge({
      name: 'longrun_wait_operation_in_flight',
      help: 'WaitOperation calls (and in-process waits) now waiting for an operation to finish.',
      registers,
      collect() {
        this.set(sources.waiting());
      },
    });
    new Gauge({
      name: 'longrun_watch_streams_open',
      help: 'Watch streams (gRPC WatchOperation and HTTP :watch events) open now.',
      registers,
      collect() {
        this.set(sources.watching?.() ?? 0);
      },
    });
  }

  /** Node process metrics (CPU, memory, event loop lag): for a process that serves one Longrun. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text, and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Both state gauges of one scrape share a single store query. */
  private countOnce(sources: MetricsSources): Promise<OperationCounts> {
    this.counting ??= sources.store.countByState(sources.clock.now()).finally(() => (this.counting = undefined));
    return this.counting;
  }
}

/** The same store, with the latency of each call observed. Every member is listed, so a new one is not missed. */
export function timedStore(store: OperationStore, histogram: Histogram<'call'>): OperationStore {
  const time =
    <Args extends unknown[], Result>(call: string, method: (...args: Args) => Promise<Result>) =>
    (...args: Args): Promise<Result> => {
      const end = histogram.startTimer({ call });
      return method.apply(store, args).finally(() => end());
    };
  return {
    changes: store.changes,
    create: time('create', store.create),
    get: time('get', store.get),
    getRequest: time('getRequest', store.getRequest),
    list: time('list', store.list),
    requestCancel: time('requestCancel', store.requestCancel),
    delete: time('delete', store.delete),
    claim: time('claim', store.claim),
    abortExhausted: time('abortExhausted', store.abortExhausted),
    retry: time('retry', store.retry),
    expireStartDeadlines: time('expireStartDeadlines', store.expireStartDeadlines),
    heartbeat: time('heartbeat', store.heartbeat),
    saveProgress: time('saveProgress', store.saveProgress),
    complete: time('complete', store.complete),
    release: time('release', store.release),
    sweepExpired: time('sweepExpired', store.sweepExpired),
    countByState: time('countByState', store.countByState),
    claimDeliveries: time('claimDeliveries', store.claimDeliveries),
    finishAttempt: time('finishAttempt', store.finishAttempt),
    listDeliveries: time('listDeliveries', store.listDeliveries),
    getDelivery: time('getDelivery', store.getDelivery),
    retryDelivery: time('retryDelivery', store.retryDelivery),
    nextDeliveryDue: time('nextDeliveryDue', store.nextDeliveryDue),
    countDeliveries: time('countDeliveries', store.countDeliveries),
    sweepDeliveries: time('sweepDeliveries', store.sweepDeliveries),
    signingKey: () => store.signingKey(),
    close: () => store.close(),
  };
}
