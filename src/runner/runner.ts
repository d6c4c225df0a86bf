/**
 * Executes operations: claims pending (or abandoned) ones with a lease, runs their handlers,
 * heartbeats the leases, relays cancellation as an AbortSignal, and records the outcome with a
 * fenced write. Claims and completions are batched so a busy runner costs few store round trips.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from '../domain/clock.js';
import { Code, LongrunError } from '../domain/errors.js';
import {
  CANCELLED_ERROR,
  checkPayloadSize,
  type Lease,
  type OperationError,
  type OperationOutcome,
  type OperationRecord,
} from '../domain/operation.js';
import type { Logger } from '../log.js';
import type { LongRunningMethod, OperationContext, ProgressChange } from '../methods/method.js';
import type { MethodTable } from '../methods/table.js';
import type { Telemetry } from '../observe/telemetry.js';
import { recordRetryWait, startAttemptSpan, type AttemptSpan } from '../observe/tracing.js';
import { asGeneratedMessage, type MessageValue, type TypeRegistry } from '../protos/registry.js';
import type { Completion, OperationStore, ProgressUpdate } from '../store/types.js';
import { backoffMs, isRetryable } from '../methods/retry-policy.js';
import { retryDelayOf, storedError, withErrorInfo } from './stored-error.js';

export interface RunnerOptions {
  /** Identifies this runner in leases (default: host:pid:random). */
  holder?: string;
  /** How long a claim lasts without a heartbeat (default: 30 s). */
  leaseMs: number;
  /** How often leases are renewed (default: a third of leaseMs). */
  heartbeatMs?: number;
  /** How often the store is checked for work other processes created or abandoned (default: 1 s). */
  pollMs: number;
}

export interface RunnerDeps {
  store: OperationStore;
  methods: MethodTable;
  registry: TypeRegistry;
  clock: Clock;
  logger: Logger;
  telemetry: Telemetry;
}

interface ActiveRun {
  lease: Lease;
  /** Its timeout passed: the signal was aborted and the operation ends DEADLINE_EXCEEDED. */
  timedOut: boolean;
  controller: AbortController;
  cancelRequested: boolean;
  leaseLost: boolean;
  /** Given back at shutdown (not lost): its outcome is dropped without a warning. */
  released: boolean;
  finished: Promise<void>;
  /** Progress the store could not take when it came (disk full, say): written with the next, or the outcome. */
  unsaved?: ProgressUpdate;
}

// Waits between attempts to record an outcome while the store cannot be written.
const RECORD_RETRY_FIRST_MS = 50;
const RECORD_RETRY_MAX_MS = 2_000;

/** A retry's wake-up comes this much after it is due, so the store (whose clock decides) agrees it is. */
const RETRY_WAKE_SLACK_MS = 5;
/** Operations past their start deadline ended per statement. */
const START_DEADLINE_BATCH = 100;

interface PendingCompletion {
  completion: Completion;
  resolve(written: boolean): void;
  reject(error: unknown): void;
}

export class Runner {
  readonly holder: string;
  private readonly heartbeatMs: number;
  private readonly active = new Map<string, ActiveRun>();
  private readonly activePerMethod = new Map<string, number>();
  /** Methods that may have claimable work (set by events and polls, cleared by short claims). */
  private readonly mayHaveWork = new Set<string>();
  private readonly unsubscribe: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  /** Wake-ups for retries this runner scheduled (other processes find them by polling). */
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private completions: PendingCompletion[] = [];
  private flushScheduled = false;
  private fillScheduled = false;
  private filling = false;
  private stopping = false;
  private started = false;
  /** The last heartbeat failed: our leases may have run out in the store, though we still hold the work. */
  private leasesStale = false;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly options: RunnerOptions,
  ) {
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.heartbeatMs = options.heartbeatMs ?? Math.max(10, Math.floor(options.leaseMs / 3));
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    // The store tells us of work and cancellations from every process on it.
    this.unsubscribe.push(
      this.deps.store.changes.subscribe((change) => {
        switch (change.kind) {
          case 'available':
            this.mayHaveWork.add(change.method);
            this.scheduleFill();
            return;
          case 'cancel_requested':
            this.abortRun(change.name, 'cancel');
            return;
          case 'resync':
            // Changes may have been missed: look for work, and for cancellations (the heartbeat reads the flags).
            this.poll();
            void this.heartbeat();
            return;
        }
      }),
    );
    this.timers.push(
      setInterval(() => this.poll(), this.options.pollMs),
      setInterval(() => void this.heartbeat(), this.heartbeatMs),
    );
    this.poll();
  }

  /** Number of handlers running now. */
  get runningCount(): number {
    return this.active.size;
  }

  /** Handlers running now, by method path (for metrics). */
  runningPerMethod(): ReadonlyMap<string, number> {
    return this.activePerMethod;
  }

  /**
   * Stops taking work, lets running handlers finish for up to `graceMs`, then aborts the rest and
   * gives their leases back so another runner can take them at once.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    for (const off of this.unsubscribe.splice(0)) off();
    const finished = Promise.all([...this.active.values()].map((run) => run.finished));
    let graceTimer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (graceTimer = setTimeout(resolve, graceMs)));
    await Promise.race([finished, graceOver]);
    clearTimeout(graceTimer);
    const leftover = [...this.active.values()];
    if (leftover.length > 0) {
      for (const run of leftover) {
        run.leaseLost = true; // whatever it produces now is not written
        run.released = true;
        run.controller.abort(new LongrunError(Code.UNAVAILABLE, 'the server is shutting down', 'SHUTTING_DOWN'));
      }
      try {
        await this.deps.store.release(
          leftover.map((run) => run.lease),
          this.deps.clock.now(),
        );
        this.deps.logger.info({ released: leftover.length }, 'released leases of unfinished operations');
      } catch (error) {
        // The store cannot be written (disk full, say): the leases run out instead, and the
        // operations are rerun then. Shutting down goes on.
        this.deps.logger.error({ err: error, unreleased: leftover.length }, 'could not release leases; they will expire');
      }
    }
    await this.flush();
  }

  private poll(): void {
    if (this.stopping) return;
    for (const method of this.deps.methods.all()) this.mayHaveWork.add(method.info.path);
    this.scheduleFill();
    void this.recoverExhausted();
    void this.expireStartDeadlines();
  }

  private scheduleFill(): void {
    if (this.fillScheduled || this.stopping) return;
    this.fillScheduled = true;
    setImmediate(() => {
      this.fillScheduled = false;
      void this.fill();
    });
  }

  /** Claims work for every method with free slots and room in the store. */
  private async fill(): Promise<void> {
    if (this.filling || this.stopping) return;
    this.filling = true;
    try {
      if (!(await this.leasesFresh())) return;
      for (const method of this.deps.methods.all()) {
        const path = method.info.path;
        while (this.mayHaveWork.has(path) && !this.stopping) {
          const free = method.options.concurrency - (this.activePerMethod.get(path) ?? 0);
          if (free <= 0) break;
          const now = this.deps.clock.now();
          const claimed = await this.deps.store.claim({
            holder: this.holder,
            method: path,
            limit: free,
            keyLimit: method.options.concurrencyPerKey,
            leaseMs: this.options.leaseMs,
            now,
          });
          if (claimed.length < free) this.mayHaveWork.delete(path);
          for (const record of claimed) this.launch(method, record);
        }
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'claiming operations failed; retrying at the next poll');
    } finally {
      this.filling = false;
    }
  }

  private launch(method: LongRunningMethod, record: OperationRecord): void {
    const lease: Lease = { name: record.name, holder: this.holder, attempt: record.attempt };
    const run: ActiveRun = {
      lease,
      timedOut: false,
      controller: new AbortController(),
      cancelRequested: record.cancelRequested,
      leaseLost: false,
      released: false,
      finished: Promise.resolve(),
    };
    const path = method.info.path;
    this.active.set(record.name, run);
    this.activePerMethod.set(path, (this.activePerMethod.get(path) ?? 0) + 1);
    run.finished = this.execute(method, record, run)
      .catch((error: unknown) => this.deps.logger.error({ err: error, operation: record.name }, 'recording an outcome failed'))
      .finally(() => {
        this.active.delete(record.name);
        this.activePerMethod.set(path, (this.activePerMethod.get(path) ?? 1) - 1);
        // A slot of its concurrency key is free now: the next operation of that key may be claimable.
        if (record.concurrencyKey !== undefined) this.mayHaveWork.add(path);
        this.scheduleFill();
      });
  }

  /** One attempt, in its span: the handler, its log lines and the outcome's write all happen inside it. */
  private execute(method: LongRunningMethod, record: OperationRecord, run: ActiveRun): Promise<void> {
    const span = startAttemptSpan(record);
    return span.run(() => this.executeIn(span, method, record, run)).catch((error: unknown) => {
      span.end({ code: Code.INTERNAL, message: 'recording the outcome failed', final: false });
      throw error;
    });
  }

  private async executeIn(span: AttemptSpan, method: LongRunningMethod, record: OperationRecord, run: ActiveRun): Promise<void> {
    const { registry, telemetry } = this.deps;
    telemetry.started(record.name, record.method, record.attempt, record.lastError !== undefined);
    let outcome: OperationOutcome;
    let retryable = false;
    if (run.cancelRequested) {
      outcome = { error: CANCELLED_ERROR }; // cancelled while its previous runner was gone
    } else {
      const timeoutMs = record.timeoutMs ?? method.options.timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      try {
        const request = decodeRequest(method, registry, record);
        const running = method.handler(request, this.contextFor(method, record, run, span));
        // A handler that ignores its signal does not hold the outcome back past the timeout.
        const value =
          timeoutMs === undefined
            ? await running
            : await Promise.race([
                running,
                new Promise<never>((_, reject) => {
                  timer = setTimeout(() => {
                    run.timedOut = true;
                    const reason = timeoutError(timeoutMs);
                    run.controller.abort(reason);
                    reject(reason);
                  }, timeoutMs);
                }),
              ]);
        outcome = { response: checkPayloadSize('response', registry.packChecked(method.info.responseType, value, 'response')) };
      } catch (error) {
        outcome = { error: this.operationErrorOf(run.timedOut ? timeoutError(timeoutMs!) : error, run, record) };
        retryable =
          !run.cancelRequested &&
          !run.timedOut &&
          !(error instanceof LongrunError && (error.reason === 'PAYLOAD_TOO_LARGE' || error.reason === 'INVALID_RESPONSE' || error.reason === 'INVALID_METADATA')) &&
          isRetryable(method.options.retry, error instanceof LongrunError ? error.code : undefined);
      } finally {
        clearTimeout(timer);
      }
    }
    if (run.leaseLost) {
      if (!run.released) telemetry.leaseLost(record.name, record.method, record.attempt);
      span.end({ leaseLost: true });
      return;
    }
    if (retryable && outcome.error !== undefined && record.attempt < record.maxAttempts) {
      const delayMs = backoffMs(method.options.retry, record.attempt, retryDelayOf(registry, outcome.error.details));
      const failedAt = Date.now(); // spans keep wall-clock time, whatever clock the runner is given
      const written = await this.writeWhileUnavailable(run, () => this.deps.store.retry(run.lease, outcome.error!, delayMs, this.deps.clock.now()));
      if (written) {
        telemetry.retryScheduled(record.name, record.method, record.attempt, outcome.error.code, delayMs);
        span.retryScheduled(outcome.error.code, delayMs);
        span.end({ code: outcome.error.code, message: outcome.error.message, final: false });
        recordRetryWait(record, span, delayMs, failedAt);
        this.wakeAfter(method.info.path, delayMs);
        return;
      }
      if (!run.released) telemetry.leaseLost(record.name, record.method, record.attempt);
      span.end({ leaseLost: true });
      return;
    }
    const written = await this.record(run, outcome);
    if (written) {
      telemetry.done(record.name, record.method, outcome.error?.code ?? Code.OK, record.attempt);
      span.end({ code: outcome.error?.code ?? Code.OK, ...(outcome.error !== undefined && { message: outcome.error.message }), final: true });
    } else {
      if (!run.released) telemetry.leaseLost(record.name, record.method, record.attempt);
      span.end({ leaseLost: true });
    }
  }

  /** Looks for work of `path` once `delayMs` has passed (a retry this runner scheduled is due). */
  private wakeAfter(path: string, delayMs: number): void {
    if (this.stopping) return;
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.mayHaveWork.add(path);
      this.scheduleFill();
    }, delayMs + RETRY_WAKE_SLACK_MS);
    timer.unref();
    this.retryTimers.add(timer);
  }

  /**
   * Writes the outcome, fenced by the lease. While the store cannot be written (disk full, say)
   * it keeps trying, holding the work, rather than dropping a finished result to be run again;
   * it stops when the lease is lost or given back at shutdown.
   */
  private record(run: ActiveRun, outcome: OperationOutcome): Promise<boolean> {
    return this.writeWhileUnavailable(run, () => this.enqueueCompletion({ lease: run.lease, outcome, metadata: run.unsaved?.metadata }));
  }

  /** Runs a fenced write of a run's end, trying again while the store cannot be written. */
  private async writeWhileUnavailable(run: ActiveRun, write: () => Promise<boolean>): Promise<boolean> {
    for (let wait = RECORD_RETRY_FIRST_MS; ; wait = Math.min(wait * 2, RECORD_RETRY_MAX_MS)) {
      try {
        return await write();
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        this.deps.logger.warn({ err: error, operation: run.lease.name, retryInMs: wait }, 'cannot record an outcome yet; retrying');
      }
      await sleep(wait);
      if (run.leaseLost) return false;
    }
  }

  private contextFor(method: LongRunningMethod, record: OperationRecord, run: ActiveRun, span: AttemptSpan): OperationContext {
    const { store, registry, clock } = this.deps;
    const save = async (update: ProgressUpdate) => {
      if (run.leaseLost) return;
      const pending = { ...run.unsaved, ...update };
      try {
        if (!(await store.saveProgress(run.lease, pending, clock.now()))) this.loseLease(run);
        run.unsaved = undefined;
      } catch (error) {
        if (!isStoreUnavailable(error)) throw error;
        // Progress is advice to callers: a store that cannot be written for now must not fail the work.
        run.unsaved = pending;
        this.deps.logger.warn({ err: error, operation: record.name }, 'cannot save progress yet; it goes with the next update');
      }
    };
    /** Checks and encodes everything first, so a bad part saves nothing; then one store write. */
    const update = async (change: ProgressChange<MessageValue>) => {
      const { percent, estimatedCompletion, metadata } = change;
      if (percent === undefined && estimatedCompletion === undefined && metadata === undefined) return;
      if (percent !== undefined && !(Number.isFinite(percent) && percent >= 0 && percent <= 100)) {
        throw new RangeError(`progress percent must be within 0..100, got ${percent}`);
      }
      if (estimatedCompletion !== undefined && !(estimatedCompletion instanceof Date && Number.isFinite(estimatedCompletion.getTime()))) {
        throw new RangeError(`estimatedCompletion must be a valid Date, got ${String(estimatedCompletion)}`);
      }
      let packed: ProgressUpdate['metadata'];
      if (metadata !== undefined) {
        const type = method.info.metadataType;
        if (type === undefined) throw new Error(`${method.info.path} declares no metadata type`);
        packed = checkPayloadSize('metadata', registry.packChecked(type, metadata, 'metadata'));
      }
      if (percent !== undefined) {
        this.deps.telemetry.progress(record.name, percent);
        span.progress(percent);
      }
      await save({
        ...(percent !== undefined && { progressPercent: percent }),
        ...(estimatedCompletion !== undefined && { estimatedCompletion: estimatedCompletion.getTime() }),
        ...(packed !== undefined && { metadata: packed }),
      });
    };
    return {
      name: record.name,
      createTime: new Date(record.createTime),
      attempt: record.attempt,
      signal: run.controller.signal,
      update,
      progress: (percent: number, estimatedCompletion?: Date) =>
        update({ percent, ...(estimatedCompletion !== undefined && { estimatedCompletion }) }),
      setMetadata: (metadata: MessageValue) => update({ metadata }),
    };
  }

  private operationErrorOf(error: unknown, run: ActiveRun, record: OperationRecord): OperationError {
    const { registry } = this.deps;
    if (run.cancelRequested) {
      return withErrorInfo(registry, CANCELLED_ERROR, 'OPERATION_CANCELLED', { attempts: String(record.attempt) });
    }
    if (!(error instanceof LongrunError && error.code !== Code.OK)) {
      this.deps.logger.error({ err: error, operation: record.name }, 'handler failed');
    }
    return storedError(registry, error, record.attempt);
  }

  private abortRun(name: string, why: 'cancel'): void {
    const run = this.active.get(name);
    if (run === undefined || run.cancelRequested) return;
    run.cancelRequested = why === 'cancel';
    run.controller.abort(new LongrunError(Code.CANCELLED, 'the operation was cancelled', 'OPERATION_CANCELLED'));
  }

  private loseLease(run: ActiveRun): void {
    if (run.leaseLost) return;
    run.leaseLost = true;
    run.controller.abort(new LongrunError(Code.ABORTED, 'this runner lost the lease on the operation', 'LEASE_LOST'));
  }

  private async heartbeat(): Promise<void> {
    const runs = [...this.active.values()].filter((run) => !run.leaseLost);
    if (runs.length === 0) {
      this.leasesStale = false; // no lease left to renew
      return;
    }
    const now = this.deps.clock.now();
    try {
      const result = await this.deps.store.heartbeat(
        runs.map((run) => run.lease),
        this.options.leaseMs,
        now,
      );
      for (const name of result.lost) {
        const run = this.active.get(name);
        if (run) this.loseLease(run);
      }
      for (const name of result.cancelRequested) this.abortRun(name, 'cancel');
      this.leasesStale = false;
    } catch (error) {
      this.leasesStale = true;
      this.deps.logger.error({ err: error }, 'heartbeat failed; leases may expire');
    }
  }

  /**
   * After failed heartbeats our leases may have run out in the store while we still hold the work:
   * renew them before claiming or aborting anything, or this runner would claim (or abort) its own
   * running operations. false while the store still refuses.
   */
  private async leasesFresh(): Promise<boolean> {
    if (this.leasesStale) await this.heartbeat();
    return !this.leasesStale;
  }

  private async recoverExhausted(): Promise<void> {
    if (!(await this.leasesFresh())) return;
    try {
      const aborted = await this.deps.store.abortExhausted(this.deps.clock.now(), (attempts) =>
        withErrorInfo(
          this.deps.registry,
          {
            code: Code.ABORTED,
            message: `the operation was abandoned after ${attempts} attempt${attempts === 1 ? '' : 's'}: each run lost its lease before finishing`,
            details: [],
          },
          'ATTEMPTS_EXHAUSTED',
          { attempts: String(attempts) },
        ),
      );
      for (const record of aborted) {
        this.deps.telemetry.abandoned(record.name, record.method, record.attempt);
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'recovering abandoned operations failed');
    }
  }

  /** Ends operations that were not started by their start deadline, DEADLINE_EXCEEDED (decided on the store's clock). */
  private async expireStartDeadlines(): Promise<void> {
    try {
      const error = withErrorInfo(
        this.deps.registry,
        { code: Code.DEADLINE_EXCEEDED, message: 'the operation was not started before its start deadline', details: [] },
        'START_DEADLINE_EXCEEDED',
        { attempts: '0' },
      );
      for (;;) {
        const ended = await this.deps.store.expireStartDeadlines(this.deps.clock.now(), error, START_DEADLINE_BATCH);
        for (const record of ended) this.deps.telemetry.startDeadlineExceeded(record.name, record.method);
        if (ended.length < START_DEADLINE_BATCH || this.stopping) return;
      }
    } catch (error) {
      this.deps.logger.error({ err: error }, 'ending operations past their start deadline failed');
    }
  }

  /** Completions that arrive in the same tick are written in one transaction. */
  private enqueueCompletion(completion: Completion): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.completions.push({ completion, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.completions;
    if (batch.length === 0) return;
    this.completions = [];
    try {
      const written = await this.deps.store.complete(
        batch.map((pending) => pending.completion),
        this.deps.clock.now(),
      );
      batch.forEach((pending, i) => pending.resolve(written[i] ?? false));
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }
}

function decodeRequest(method: LongRunningMethod, registry: TypeRegistry, record: OperationRecord): unknown {
  if (record.request === undefined) throw new Error(`claimed operation ${record.name} came without its request`);
  const cls = method.options.requestClass;
  return cls ? asGeneratedMessage(record.request.value, cls) : registry.decode(method.info.requestType, record.request.value);
}

/** The store cannot be written for now (disk full, read-only, locked): worth waiting out. */
function isStoreUnavailable(error: unknown): boolean {
  return error instanceof LongrunError && error.reason === 'STORE_UNAVAILABLE';
}

/** What a run's signal aborts with, and the operation ends with, when its timeout passes. */
function timeoutError(timeoutMs: number): LongrunError {
  return new LongrunError(Code.DEADLINE_EXCEEDED, `the operation ran longer than its timeout of ${timeoutMs / 1000}s`, 'TIMEOUT', {
    metadata: { timeout: `${timeoutMs / 1000}s` },
  });
}
