/**
 * google.longrunning.Operations over the store, in plain objects: what the RPCs mean, with no
 * transport. gRPC (and later HTTP) handlers translate to and from this and nothing else.
 */
import type { Clock } from '../domain/clock.js';
import { Code, LongrunError, invalidArgument, operationNotFound, operationNotOwned } from '../domain/errors.js';
import { parseFilter } from '../domain/filter.js';
import { checkParent, formatOperationName, parseCollection, parseOperationName } from '../domain/names.js';
import { CANCELLED_ERROR, checkPayloadSize, type AnswerStyle, type OperationRecord, type TraceCarrier } from '../domain/operation.js';
import type { OwnedIds } from '../domain/owned-ids.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { DEFAULT_CONCURRENCY_PER_KEY } from '../methods/method.js';
import type { MethodTable } from '../methods/table.js';
import type { Telemetry } from '../observe/telemetry.js';
import type { MessageValue, ParsedMessage, TypeRegistry } from '../protos/registry.js';
import type { OperationStore } from '../store/types.js';
import type { CallbackRegistrar, RequestedCallback } from './callbacks.js';
import type { OperationEvents } from './events.js';
import { effectiveTimeout, type CreatePolicies } from './create-options.js';
import { placeInQueue, type QueueState } from './queue-state.js';
import { rerunOperation } from './rerun.js';

/** Who is calling: operations belong to the principal that created them. */
export interface Caller {
  principal: string;
  /**
   * Sees and manages every principal's operations (default: false). The single caller of a server
   * without authentication is one, as is the embedding app's own `Longrun.caller`.
   */
  admin?: boolean;
}

export interface ListRequest {
  name: string;
  filter: string;
  pageSize: number;
  pageToken: string;
  returnPartialSuccess: boolean;
}

export interface ListResult {
  operations: OperationRecord[];
  nextPageToken: string;
}

export interface CreateOptions {
  /** From the `idempotency-key` request header; the request's AIP-155 `request_id` is used otherwise. */
  idempotencyKey?: string;
  /** From the `Longrun-Callback-Url` header or `longrun-callback-url` metadata; the request's `callback_url` field is used otherwise. */
  callback?: RequestedCallback;
  /** How HTTP answers this operation; the method's `httpAnswer` otherwise. */
  answerStyle?: AnswerStyle;
  /** Start time, priority, concurrency key, timeout, start deadline (see ./create-options.ts), already checked. */
  policies?: CreatePolicies;
  /** The creating call's trace context, kept with the operation (the transports take it from the call's span). */
  traceContext?: TraceCarrier;
}

export interface OperationsServiceOptions {
  /** Longest a WaitOperation call may wait (default: 60 s). */
  waitCapMs: number;
  /** WaitOperation calls one principal may have in progress at once (default: DEFAULT_MAX_WAITS_PER_PRINCIPAL). */
  maxWaitsPerPrincipal?: number;
  /** Watch streams one principal may have open at once (default: DEFAULT_MAX_WATCHES_PER_PRINCIPAL). */
  maxWatchesPerPrincipal?: number;
  /** Longest a watch stream stays open; it then ends and the client watches again (default: DEFAULT_WATCH_CAP_MS). */
  watchCapMs?: number;
  /** Shortest time between two states sent to one watcher: bursts of progress are coalesced to the latest (default: DEFAULT_WATCH_INTERVAL_MS). */
  watchIntervalMs?: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
/** Each waiting call holds a listener and a timer; this bounds what one principal can pin. */
export const DEFAULT_MAX_WAITS_PER_PRINCIPAL = 1000;
/** Each watch stream holds a listener, a timer and a transport stream. */
export const DEFAULT_MAX_WATCHES_PER_PRINCIPAL = 1000;
export const DEFAULT_WATCH_CAP_MS = 60 * 60 * 1000;
/** At most ten states a second per watcher, however often a handler reports progress. */
export const DEFAULT_WATCH_INTERVAL_MS = 100;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]+$/;

export interface OperationsServiceDeps {
  store: OperationStore;
  registry: TypeRegistry;
  methods: MethodTable;
  events: OperationEvents;
  clock: Clock;
  pageTokens: PageTokenCodec;
  ids: OwnedIds;
  options: OperationsServiceOptions;
  telemetry: Telemetry;
  /** Completion callbacks; without it a requested callback is refused FAILED_PRECONDITION. */
  callbacks?: CallbackRegistrar;
}

export class OperationsService {
  /** WaitOperation calls in progress, per principal. */
  private readonly waits = new Map<string, number>();
  /** Watch streams open, per principal. */
  private readonly watches = new Map<string, number>();
  /**
   * Store reads in flight for watchers, per name: a change wakes every watcher of it at once, and
   * one read serves them all. `startedAt` is `changeSeq` when it began: a watcher told of a later
   * change must not take it (it may predate that change) and reads again.
   */
  private readonly watchReads = new Map<string, { startedAt: number; reading: Promise<OperationRecord | undefined> }>();
  /** Counts changes told to watchers. */
  private changeSeq = 0;

  constructor(private readonly deps: OperationsServiceDeps) {}

  /**
   * Why `record` waits and where it stands (see ./queue-state.ts): one store read for a due,
   * unleased operation, none otherwise. For clients that asked (status monitor, watch).
   */
  queueState(record: OperationRecord): Promise<QueueState | undefined> {
    // A method this process does not declare: its default limit, one per key.
    const keyLimit = this.deps.methods.get(record.method)?.options.concurrencyPerKey ?? DEFAULT_CONCURRENCY_PER_KEY;
    return placeInQueue(this.deps.store, record, this.deps.clock.now(), keyLimit);
  }

  /**
   * Starts an operation of a declared method; the reply of the method's RPC. The request is a
   * plain object or generated message (checked strictly here), or a message a transport already
   * parsed (the HTTP gateway's JSON): it is encoded once for the store either way.
   */
  async create(path: string, given: Record<string, unknown> | ParsedMessage, caller: Caller, options: CreateOptions = {}): Promise<OperationRecord> {
    const { registry, methods, store, clock } = this.deps;
    const method = methods.get(path);
    if (method === undefined) {
      throw new LongrunError(Code.UNIMPLEMENTED, `${path} is not implemented by this server`, 'METHOD_NOT_IMPLEMENTED');
    }
    const parsed = registry.parse(method.info.requestType, given as MessageValue | ParsedMessage, 'request');
    const requestAny = parsed.toAny();
    // Validate what the handler will see: the decoded request, with defaults, however it arrived.
    const request = parsed.toObject();
    await method.options.validate?.(request);
    method.options.authorize?.(request, caller);
    const idempotencyKey = checkIdempotencyKey(options.idempotencyKey ?? requestIdOf(request));
    const parent = checkParent(method.options.parentOf?.(request) ?? stringField(request, 'parent') ?? '', 'parent');
    const callbacks = this.callbacksFor(caller.principal, options.callback ?? callbackFieldOf(request));
    const policies = options.policies ?? { fields: {} };
    const timeoutMs = policies.timeoutMs === undefined ? undefined : effectiveTimeout(policies, method.options.timeoutMs);
    const now = clock.now();
    // AIP-151: the creating reply already carries metadata of the declared type (empty unless the method says more).
    const initial = method.options.initialMetadata?.(request, new Date(now)) ?? {};
    const result = await store.create({
      name: formatOperationName(parent, this.deps.ids.newId(caller.principal)),
      parent,
      method: method.info.path,
      owner: caller.principal,
      request: requestAny,
      ...(method.info.metadataType !== undefined && { metadata: checkPayloadSize('metadata', registry.packChecked(method.info.metadataType, initial as MessageValue, 'metadata')) }),
      ...(idempotencyKey !== undefined && {
        idempotencyKey,
        // Requests equal in meaning match (an explicit zero and an absent field alike), and keys
        // stored by an earlier version still recognize their retries.
        requestFingerprint: registry.fingerprint(parsed),
      }),
      maxAttempts: method.options.maxAttempts,
      createTime: now,
      ...(policies.startTime !== undefined && { runAfter: policies.startTime }),
      ...(policies.priority !== undefined && { priority: policies.priority }),
      ...(policies.concurrencyKey !== undefined && { concurrencyKey: policies.concurrencyKey }),
      ...(timeoutMs !== undefined && { timeoutMs }),
      ...(policies.startDeadline !== undefined && { startDeadline: policies.startDeadline }),
      ...(callbacks.length > 0 && { callbacks }),
      answerStyle: options.answerStyle ?? method.options.httpAnswer ?? 'async',
      ...(options.traceContext !== undefined && { traceContext: options.traceContext }),
    });
    if (result.created) {
      this.deps.telemetry.created(result.operation.name, method.info.path, caller.principal);
    }
    return result.operation;
  }

  private callbacksFor(owner: string, requested: RequestedCallback | undefined): string[] {
    const registrar = this.deps.callbacks;
    if (registrar !== undefined) return registrar.callbacksFor(owner, requested);
    if (requested === undefined) return [];
    throw new LongrunError(
      Code.FAILED_PRECONDITION,
      `${requested.field}: completion callbacks are not configured on this server (start it with --callback-secret-file)`,
      'CALLBACKS_NOT_CONFIGURED',
      { metadata: { field: requested.field } },
    );
  }

  async get(name: string, caller: Caller, read: (name: string) => Promise<OperationRecord | undefined> = (n) => this.deps.store.get(n, this.deps.clock.now())): Promise<OperationRecord> {
    const { id } = parseOperationName(name);
    // Decided from the name alone, before the store is read: someone else's operation and a name
    // that never existed get the same PERMISSION_DENIED. NOT_FOUND is only for the caller's own
    // names (deleted or expired).
    if (!caller.admin && !this.deps.ids.isOwnedBy(id, caller.principal)) throw operationNotOwned(name);
    const operation = await read(name);
    if (operation === undefined) throw operationNotFound(name);
    // A tag that verifies for another owner too (a 2^-32 chance) must not open their operation.
    if (!caller.admin && operation.owner !== caller.principal) throw operationNotOwned(name);
    return operation;
  }

  async list(request: ListRequest, caller: Caller): Promise<ListResult> {
    if (request.returnPartialSuccess) {
      throw new LongrunError(
        Code.UNIMPLEMENTED,
        'return_partial_success: every operation lives in one store, so there are no partial results to allow',
        'PARTIAL_SUCCESS_UNSUPPORTED',
        { metadata: { field: 'return_partial_success' } },
      );
    }
    const parent = parseCollection(request.name);
    const pageSize = pageSizeOf(request.pageSize);
    const filter = parseFilter(request.filter);
    // A token is bound to whose operations it pages through: one caller's cannot show another's.
    const binding = { collection: parent, filter: request.filter, owner: caller.admin ? '*' : caller.principal };
    const after = request.pageToken === '' ? undefined : this.deps.pageTokens.decode(request.pageToken, binding);
    const rows = await this.deps.store.list({
      ...(!caller.admin && { owner: caller.principal }),
      parent,
      ...(filter !== undefined && { filter }),
      ...(after !== undefined && { after }),
      limit: pageSize + 1,
      now: this.deps.clock.now(),
    });
    const operations = rows.slice(0, pageSize);
    const last = operations[operations.length - 1];
    const nextPageToken =
      rows.length > pageSize && last !== undefined
        ? this.deps.pageTokens.encode(binding, { createTime: last.createTime, name: last.name })
        : '';
    return { operations, nextPageToken };
  }

  async cancel(name: string, caller: Caller): Promise<void> {
    await this.get(name, caller);
    const outcome = await this.deps.store.requestCancel(name, this.deps.clock.now(), CANCELLED_ERROR);
    switch (outcome.kind) {
      case 'not_found':
        throw operationNotFound(name);
      case 'already_done':
        throw new LongrunError(
          Code.FAILED_PRECONDITION,
          `operation ${name} is already done; its result stays as it is`,
          'OPERATION_ALREADY_DONE',
          { metadata: { name } },
        );
      case 'cancelled':
        this.deps.telemetry.done(name, outcome.operation.method, Code.CANCELLED, outcome.operation.attempt);
        return;
      case 'requested':
        this.deps.telemetry.cancelRequested(name);
        return;
    }
  }

  /**
   * Starts a done operation again with its request (see ./rerun.ts); the new operation. Tenancy as
   * GetOperation. One `key` re-runs one original once.
   */
  async rerun(name: string, caller: Caller, key?: string): Promise<OperationRecord> {
    return rerunOperation(this.deps, await this.get(name, caller), key === undefined ? undefined : checkIdempotencyKey(key));
  }

  async delete(name: string, caller: Caller): Promise<void> {
    await this.get(name, caller);
    const outcome = await this.deps.store.delete(name, this.deps.clock.now());
    if (outcome === 'not_found') throw operationNotFound(name);
    if (outcome === 'not_done') {
      throw new LongrunError(
        Code.FAILED_PRECONDITION,
        `operation ${name} is not done; cancel it first (delete never cancels)`,
        'OPERATION_NOT_DONE',
        { metadata: { name } },
      );
    }
  }

  /**
   * Resolves as soon as the operation is done, or with its latest state after `timeoutMs` (capped
   * by the server maximum), or when `signal` fires (the client went away).
   */
  async wait(name: string, timeoutMs: number | undefined, signal: AbortSignal, caller: Caller): Promise<OperationRecord> {
    if (timeoutMs !== undefined && timeoutMs < 0) throw invalidArgument('timeout', 'must not be negative');
    const limit = Math.min(timeoutMs ?? this.deps.options.waitCapMs, this.deps.options.waitCapMs);
    const release = this.holdWait(caller.principal);
    const deadline = Date.now() + limit;
    try {
      for (;;) {
        let wake!: () => void;
        const woken = new Promise<void>((resolve) => (wake = resolve));
        // Subscribe before reading, so a completion between the read and the wait is not missed.
        // Woken by the feed's `finished`/`deleted` for this name, or its `resync`: then re-read.
        const unsubscribe = this.deps.events.onceDone(name, () => wake());
        let timer: NodeJS.Timeout | undefined;
        try {
          const current = await this.get(name, caller);
          const left = deadline - Date.now();
          if (current.done || left <= 0 || signal.aborted || this.deps.events.stopped) return current;
          timer = setTimeout(wake, left);
          signal.addEventListener('abort', wake, { once: true });
          await woken;
          signal.removeEventListener('abort', wake);
        } finally {
          clearTimeout(timer);
          unsubscribe();
        }
      }
    } finally {
      release();
    }
  }

  /**
   * The operation's states as they change: the current one at once, then the latest after each
   * change the feed tells of (progress, metadata, state), at most one per `watchIntervalMs`, ending
   * after the done state, when `signal` fires, at the server's cap on stream length, or at shutdown.
   * The consumer pulls: while it is busy sending, changes only mark the operation as changed, so a
   * slow consumer holds one state, never a queue, and never slows the handler or other watchers.
   * Auth, tenancy and errors as GetOperation; a deleted operation ends the stream with NOT_FOUND.
   */
  async *watch(name: string, caller: Caller, signal: AbortSignal): AsyncGenerator<OperationRecord, void, undefined> {
    const { options, events, clock } = this.deps;
    const intervalMs = options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    const release = this.holdWatch(caller.principal);
    // The cap is wall time (the server's clock); coalescing below is on the monotonic clock.
    const deadline = clock.now() + (options.watchCapMs ?? DEFAULT_WATCH_CAP_MS);
    let changed = true;
    /** The read must begin at or after this change count to show what this watcher was told of. */
    let needed = this.changeSeq;
    let wake: (() => void) | undefined;
    // Subscribed before the first read, so a change between the read and the wait is not missed.
    const unsubscribe = events.onChange(name, () => {
      changed = true;
      needed = ++this.changeSeq;
      wake?.();
    });
    const onAbort = () => wake?.();
    signal.addEventListener('abort', onAbort);
    /** Resolves after `ms`, or earlier on a change (when `untilChange`), abort or shutdown. */
    const pause = async (ms: number, untilChange: boolean) => {
      if (ms <= 0) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        wake = untilChange ? resolve : () => (signal.aborted || events.stopped ? resolve() : undefined);
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
      wake = undefined;
    };
    let last: OperationRecord | undefined;
    let lastSentAt = -Infinity;
    try {
      for (;;) {
        if (signal.aborted || events.stopped || clock.now() >= deadline) return;
        if (!changed) {
          await pause(deadline - clock.now(), true);
          continue;
        }
        // Coalescing: whatever changes meanwhile is read once, as the latest state.
        await pause(lastSentAt + intervalMs - performance.now(), false);
        if (signal.aborted || events.stopped) return;
        changed = false;
        const current = await this.get(name, caller, (n) => this.sharedRead(n, needed));
        if (last === undefined || differs(last, current)) {
          last = current;
          lastSentAt = performance.now();
          yield current;
        }
        if (current.done) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe();
      release();
    }
  }

  /** store.get, shared by the watchers that read the same operation at the same moment, if it began after change `needed`. */
  private sharedRead(name: string, needed: number): Promise<OperationRecord | undefined> {
    const shared = this.watchReads.get(name);
    if (shared !== undefined && shared.startedAt >= needed) return shared.reading;
    const read = { startedAt: this.changeSeq, reading: this.deps.store.get(name, this.deps.clock.now()) };
    this.watchReads.set(name, read);
    const forget = () => {
      if (this.watchReads.get(name) === read) this.watchReads.delete(name);
    };
    read.reading.then(forget, forget);
    return read.reading;
  }

  /** Counts one WaitOperation call of `principal`; RESOURCE_EXHAUSTED naming the limit when at it. */
  private holdWait(principal: string): () => void {
    const max = this.deps.options.maxWaitsPerPrincipal ?? DEFAULT_MAX_WAITS_PER_PRINCIPAL;
    return hold(this.waits, principal, max, (held) =>
      new LongrunError(
        Code.RESOURCE_EXHAUSTED,
        `this principal already has ${held} WaitOperation calls in progress; the limit is ${max} (--max-waits-per-principal). ` +
          'Wait for fewer operations at once, or poll with GetOperation',
        'TOO_MANY_WAITS',
        { metadata: { limit: String(max) } },
      ),
    );
  }

  /** Counts one watch stream of `principal`; RESOURCE_EXHAUSTED naming the limit when at it. */
  private holdWatch(principal: string): () => void {
    const max = this.deps.options.maxWatchesPerPrincipal ?? DEFAULT_MAX_WATCHES_PER_PRINCIPAL;
    return hold(this.watches, principal, max, (held) =>
      new LongrunError(
        Code.RESOURCE_EXHAUSTED,
        `this principal already has ${held} watch streams open; the limit is ${max} (--max-watches-per-principal). ` +
          'Watch fewer operations at once, or poll with GetOperation',
        'TOO_MANY_WATCHES',
        { metadata: { limit: String(max) } },
      ),
    );
  }
}

/** Takes one of `max` slots of `principal` in `counts`; the returned function gives it back (once). */
function hold(counts: Map<string, number>, principal: string, max: number, refusal: (held: number) => LongrunError): () => void {
  const held = counts.get(principal) ?? 0;
  if (held >= max) throw refusal(held);
  counts.set(principal, held + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(principal) ?? 1) - 1;
    if (left === 0) counts.delete(principal);
    else counts.set(principal, left);
  };
}

/** Whether a watcher would see a difference: progress, metadata, state or outcome. */
function differs(before: OperationRecord, after: OperationRecord): boolean {
  return (
    before.updateTime !== after.updateTime ||
    before.done !== after.done ||
    before.progressPercent !== after.progressPercent ||
    before.estimatedCompletion !== after.estimatedCompletion ||
    before.leaseHolder !== after.leaseHolder ||
    before.cancelRequested !== after.cancelRequested ||
    !sameBytes(before.metadata?.value, after.metadata?.value)
  );
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function pageSizeOf(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) throw invalidArgument('page_size', `must be 0 or positive, got ${pageSize}`);
  if (pageSize === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(pageSize, MAX_PAGE_SIZE);
}

/** Like `request_id`, an app's request message may carry its own `callback_url`; empty means none. */
function callbackFieldOf(request: Record<string, unknown>): RequestedCallback | undefined {
  const url = stringField(request, 'callbackUrl');
  return url === undefined ? undefined : { url, field: 'callback_url' };
}

/** AIP-155: a request message's own `request_id` field doubles as the idempotency key. */
function requestIdOf(request: Record<string, unknown>): string | undefined {
  return stringField(request, 'requestId');
}

function stringField(request: Record<string, unknown>, field: string): string | undefined {
  const value = request[field];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function checkIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (key.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw invalidArgument('idempotency-key', `is ${key.length} characters long; the limit is ${MAX_IDEMPOTENCY_KEY_LENGTH} (MAX_IDEMPOTENCY_KEY_LENGTH)`);
  }
  if (!IDEMPOTENCY_KEY.test(key)) throw invalidArgument('idempotency-key', 'must be printable ASCII without spaces');
  return key;
}
