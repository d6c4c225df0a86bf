/**
 * How an app declares a long-running method: the handler that does the work and the policies
 * around it. longrun creates the operation when the method is called and runs the handler in a
 * runner, possibly in another process, possibly again after a crash (so handlers should be safe
 * to re-run from the start).
 */
import type { AnswerStyle } from '../domain/operation.js';
import type { GeneratedMessageClass, LongRunningMethodInfo, MessageValue } from '../protos/registry.js';
import type { RetryPolicy } from './retry-policy.js';

/** What a handler gets besides its request. */
export interface OperationContext<Metadata = MessageValue> {
  /** The operation's resource name. */
  readonly name: string;
  /** When the operation was created (its metadata often reports it). */
  readonly createTime: Date;
  /** 1 on the first run, more when retried after a failure or re-run after a lost lease. */
  readonly attempt: number;
  /** Fires when cancellation is requested or this runner lost the lease; stop soon after. */
  readonly signal: AbortSignal;
  /**
   * Records progress, estimated completion and metadata together, in one store write: a watcher
   * or poller sees all of them or none. Parts left out keep their last value. The metadata is
   * checked against the method's metadata type as strictly as the wire would (see setMetadata).
   */
  update(change: ProgressChange<Metadata>): Promise<void>;
  /** Records progress (0-100) and optionally an estimated completion time: `update({ percent, estimatedCompletion })`. */
  progress(percent: number, estimatedCompletion?: Date): Promise<void>;
  /**
   * Replaces the operation's metadata (the method's metadata type): `update({ metadata })`. A
   * field the type does not have, or a value of the wrong type, rejects with INTERNAL
   * (INVALID_METADATA) naming the field path; left uncaught, that ends the operation with that
   * error, and nothing is silently dropped. Rejects with
   * RESOURCE_EXHAUSTED (PAYLOAD_TOO_LARGE) when it is over MAX_OPERATION_PAYLOAD_BYTES serialized;
   * left uncaught, that ends the operation with that error. A response over the limit does too.
   */
  setMetadata(metadata: Metadata): Promise<void>;
}

/** What `OperationContext.update` records; every part is optional. */
export interface ProgressChange<Metadata = MessageValue> {
  /** 0-100. */
  percent?: number;
  estimatedCompletion?: Date;
  /** Replaces the operation's metadata. */
  metadata?: Metadata;
}

export type Handler<Request, Metadata, Response> = (
  request: Request,
  context: OperationContext<Metadata>,
) => Promise<Response>;

export interface MethodOptions<Request, Metadata> {
  /** Handlers of this method running at once in one process (default: 16). */
  concurrency?: number;
  /**
   * Operations of this method with one concurrency key (`Longrun-Concurrency-Key`) that may run at
   * once, across every process on the store: an integer from 1 to MAX_CONCURRENCY_PER_KEY (1000).
   * The store's claim enforces it, not a process (default: 1, or the app's `concurrencyPerKey`).
   */
  concurrencyPerKey?: number;
  /**
   * Runs allowed in all: the first, retries after retryable failures, and re-runs after lost
   * leases (default: 3, or the app's `maxAttempts`).
   */
  maxAttempts?: number;
  /** Backoff between attempts and which codes retry (default: the app's `retry`, else DEFAULT_RETRY_POLICY). */
  retry?: Partial<RetryPolicy>;
  /**
   * Longest a run may take: its signal then aborts (reason DEADLINE_EXCEEDED, TIMEOUT) and the
   * operation ends DEADLINE_EXCEEDED. A caller may ask for less per operation (`Longrun-Timeout`),
   * never more (default: none).
   */
  timeoutMs?: number;

  /** Overrides `operation_info.response_type`. */
  responseType?: string;
  /** Overrides `operation_info.metadata_type`. */
  metadataType?: string;
  /** Throws LongrunError (INVALID_ARGUMENT) to refuse a request before any operation exists. */
  validate?(request: Request): void | Promise<void>;
  /** Throws LongrunError (PERMISSION_DENIED) to refuse this caller the request, before any operation exists. */
  authorize?(request: Request, caller: { readonly principal: string; readonly admin?: boolean }): void;
  /** The metadata the operation has from the moment it is created (default: an empty message of the metadata type). */
  initialMetadata?(request: Request, now: Date): Metadata | undefined;
  /** Parent of the created operation (default: the request's `parent` field, if any). */
  parentOf?(request: Request): string | undefined;
  /** Hand the handler a protoc-generated (google-protobuf) message instead of a plain object. */
  requestClass?: GeneratedMessageClass<Request>;
  /**
   * How the HTTP front answers a call of this method and polls of its operations (default:
   * 'async', the async request-reply pattern's 202 + Location + Retry-After). 'google' answers as
   * Google's APIs do (200 with the Operation, never Retry-After), which Google's CLI and client
   * libraries need. A client may still ask for the async answer with `Prefer: respond-async`.
   */
  httpAnswer?: AnswerStyle;
}

/** A declared method with everything resolved. */
export interface LongRunningMethod {
  info: LongRunningMethodInfo & { responseType: string };
  // Handlers are stored type-erased; the typed signature is checked where they are declared.
  handler: Handler<unknown, MessageValue, MessageValue>;
  options: MethodOptions<unknown, MessageValue> & { concurrency: number; concurrencyPerKey: number; maxAttempts: number; retry: RetryPolicy };
}

export const DEFAULT_CONCURRENCY = 16;
/** One operation per concurrency key at a time, unless a method allows more. */
export const DEFAULT_CONCURRENCY_PER_KEY = 1;
export const DEFAULT_MAX_ATTEMPTS = 3;
