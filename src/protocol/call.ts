/**
 * One call as both transports see it: what its headers (gRPC metadata, HTTP headers) ask for,
 * who made it, what it was about, and its one record (log line and metrics) when it ends. The
 * gRPC interceptor and the HTTP gateway fill it; handlers read it; neither writes telemetry itself.
 */
import type { Telemetry } from '../observe/telemetry.js';
import { traceContextOption, type CallSpan } from '../observe/tracing.js';
import { policiesFromHeaders } from '../operations/create-options.js';
import type { CreateOptions } from '../operations/service.js';
import { CALLBACK_URL_HEADER, IDEMPOTENCY_KEY_HEADER, TRACEPARENT_HEADER, TRACESTATE_HEADER } from './headers.js';

/** A single-valued header by lowercase name; undefined when absent. */
export type HeaderReader = (name: string) => string | undefined;

/** W3C trace context as received; kept as text, for whoever continues the trace. */
export interface TraceHeaders {
  traceparent?: string;
  tracestate?: string;
}

export class CallContext {
  /** performance.now() when the call arrived. */
  readonly started = performance.now();
  /** Set once the caller is known (authenticated). */
  principal: string | undefined;
  /** The operation the call was about, once known (a creation knows it only at the end). */
  operation: string | undefined;
  /** The call's span (observe/tracing.ts), ended with the call. */
  span: CallSpan | undefined;
  private telemetry: Telemetry | undefined;
  private ended = false;

  constructor(
    /** Full method, `/package.Service/Method` (HTTP: the RPC its route maps to). */
    readonly method: string,
    readonly header: HeaderReader,
    /** When the client stops waiting, ms since the epoch; undefined for none. */
    readonly deadline?: number,
  ) {}

  get idempotencyKey(): string | undefined {
    return this.header(IDEMPOTENCY_KEY_HEADER);
  }

  get callbackUrl(): string | undefined {
    return this.header(CALLBACK_URL_HEADER);
  }

  get trace(): TraceHeaders {
    const traceparent = this.header(TRACEPARENT_HEADER);
    const tracestate = this.header(TRACESTATE_HEADER);
    return { ...(traceparent !== undefined && { traceparent }), ...(tracestate !== undefined && { tracestate }) };
  }

  /**
   * What a creating call's headers ask of OperationsService.create: the policies (checked: a bad
   * value throws INVALID_ARGUMENT naming the header), the idempotency key and the callback URL,
   * named in errors as `callbackField` (each transport spells the header its own way).
   */
  createOptions(callbackField: string): CreateOptions {
    const policies = policiesFromHeaders(this.header);
    const idempotencyKey = this.idempotencyKey;
    const callbackUrl = this.callbackUrl;
    return {
      policies,
      ...(idempotencyKey !== undefined && { idempotencyKey }),
      ...(callbackUrl !== undefined && { callback: { url: callbackUrl, field: callbackField } }),
      // Asked inside the call's span: the creating span is what the operation keeps.
      ...traceContextOption(),
    };
  }

  /** The call is longrun's: `end` records it through `telemetry` (calls of other services are not recorded). */
  observe(telemetry: Telemetry): void {
    this.telemetry = telemetry;
  }

  get observed(): boolean {
    return this.telemetry !== undefined;
  }

  /** Records the call's end with google.rpc.Code `code`, once; later calls do nothing. */
  end(code: number): void {
    if (this.ended || this.telemetry === undefined) return;
    this.ended = true;
    const { span, telemetry } = this;
    const record = {
      method: this.method,
      code,
      durationMs: performance.now() - this.started,
      ...(this.principal !== undefined && { principal: this.principal }),
      ...(this.operation !== undefined && { operation: this.operation }),
    };
    span?.end(code, this.operation === undefined ? {} : { operation: this.operation });
    // In the call's span context, wherever the transport ends the call (a grpc-js status callback,
    // the gateway's finally): the call's log line carries its trace and span ids.
    if (span === undefined) telemetry.rpc(record);
    else span.run(() => telemetry.rpc(record));
  }
}
