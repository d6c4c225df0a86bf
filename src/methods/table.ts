import type { MessageValue, TypeRegistry } from '../protos/registry.js';
import {
  DEFAULT_CONCURRENCY,
  DEFAULT_MAX_ATTEMPTS,
  type Handler,
  type LongRunningMethod,
  type MethodOptions,
} from './method.js';
import { checkRetryPolicy, DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';

/** The long-running methods this process serves, checked against the loaded protos. */
export class MethodTable {
  private readonly methods = new Map<string, LongRunningMethod>();

  constructor(
    private readonly registry: TypeRegistry,
    /** The app's defaults for methods that set no retry policy of their own. */
    private readonly defaultRetry: Partial<RetryPolicy> = {},
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
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new Error(`${info.path}: concurrency must be >= 1`);
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) throw new Error(`${info.path}: maxAttempts must be >= 1`);
    const retry = checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...this.defaultRetry, ...options.retry }, `${info.path}: retry`);
    if (options.timeoutMs !== undefined && !(Number.isInteger(options.timeoutMs) && options.timeoutMs > 0)) {
      throw new Error(`${info.path}: timeoutMs must be a positive integer`);
    }
    const method: LongRunningMethod = {
      info: { ...info, responseType, ...(metadataType !== undefined && { metadataType }) },
      handler: handler as unknown as Handler<unknown, MessageValue, MessageValue>,
      options: { ...(options as MethodOptions<unknown, MessageValue>), concurrency, maxAttempts, retry },
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
