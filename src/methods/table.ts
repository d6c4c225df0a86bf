import { MAX_CONCURRENCY_PER_KEY } from '../domain/operation.js';
import type { MessageValue, TypeRegistry } from '../protos/registry.js';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_CONCURRENCY_PER_KEY,
  DEFAULT_MAX_ATTEMPTS,
  type Handler,
  type LongRunningMethod,
  type MethodOptions,
} from './method.js';
import { checkRetryPolicy, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';

/** The app's defaults for what a method leaves out. */
export interface MethodDefaults {
  /** For methods that set no retry policy of their own. */
  retry?: Partial<RetryPolicy>;
  /** For methods that set no concurrencyPerKey (default: DEFAULT_CONCURRENCY_PER_KEY). */
  concurrencyPerKey?: number;
}

/** The long-running methods this process serves, checked against the loaded protos. */
export class MethodTable {
  private readonly methods = new Map<string, LongRunningMethod>();

  constructor(
    private readonly registry: TypeRegistry,
    private readonly defaults: MethodDefaults = {},
  ) {}

  define<Request, Metadata, Response>(
    path: string,
    handler: Handler<Request, Metadata, Response>,
    options: MethodOptions<Request, Metadata> = {},
  ): LongRunningMethod {
    const info = this.registry.method(path);
    if (!info.returnsOperation) throw new Error(`${info.path} must return google.longrunning.Operation`);
    if (this.methods.has(info.path)) throw new Error(`${info.path} is already defined`);
    const responseType = options.responseType ?? info.responseType;
    const metadataType = options.metadataType ?? info.metadataType;
    if (responseType === undefined) {
      throw new Error(`${info.path}: no response type; declare google.longrunning.operation_info or pass responseType`);
    }
    for (const type of [responseType, metadataType]) {
      if (type !== undefined && !this.registry.has(type)) throw new Error(`${info.path}: unknown message type ${type}`);
    }
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const concurrencyPerKey = options.concurrencyPerKey ?? this.defaults.concurrencyPerKey ?? DEFAULT_CONCURRENCY_PER_KEY;
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`${info.path}: concurrency must be >= 1`);
    checkConcurrencyPerKey(concurrencyPerKey, `${info.path}: concurrencyPerKey`);
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) throw new Error(`${info.path}: maxAttempts must be >= 1`);
    const retry = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...this.defaults.retry, ...options.retry }, `${info.path}: retry`);
    if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new Error(`${info.path}: timeoutMs must be a positive integer`);
    }
    const method: LongRunningMethod = {
      info: { ...info, responseType, ...(metadataType !== undefined && { metadataType }) },
      handler: handler as unknown as Handler<unknown, MessageValue, MessageValue>,
      options: { ...(options as MethodOptions<unknown, MessageValue>), concurrency, concurrencyPerKey, maxAttempts, retry },
    };
    this.methods.set(info.path, method);
    return method;
  }

  get(path: string): LongRunningMethod | undefined {
    return this.methods.get(path);
  }

  all(): LongRunningMethod[] {
    return [...this.methods.values()];
  }

  /** Services that have at least one declared method. */
  services(): string[] {
    return [...new Set(this.all().map((m) => m.info.service))];
  }
}

/** Operations of one concurrency key at once: a whole number the claim can give slots to. */
export function checkConcurrencyPerKey(value: number, what: string): void {
  if (!(Number.isInteger(value) && value >= 1 && value <= MAX_CONCURRENCY_PER_KEY)) {
    throw new Error(`${what} must be an integer from 1 to ${MAX_CONCURRENCY_PER_KEY} (MAX_CONCURRENCY_PER_KEY), got ${value}`);
  }
}
