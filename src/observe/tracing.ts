/**
 * Traces: the one module that talks to OpenTelemetry. longrun uses only `@opentelemetry/api`, so
 * every span goes to the tracer provider, propagator and context manager the app registered, and
 * all of it is a no-op when none is (nothing here sets up anything global).
 *
 * The trace crosses the async hop as data: the creating call's span context is written by the
 * app's propagator (W3C `traceparent`, `tracestate`) into a small carrier kept with the operation
 * row, and each attempt, retry wait and webhook attempt starts from that carrier, in whichever
 * process runs it.
 *
 * Spans (see docs/tracing.md):
 * - a call into the gRPC server or the HTTP gateway: SERVER, rpc.* or http.* semantic conventions;
 * - an attempt of the handler: CONSUMER (messaging.* conventions), child of the creating call's
 *   span and linked to it; progress are events, the outcome its status; the handler runs inside it;
 * - a retry's wait: INTERNAL, from the failure to when the retry is due;
 * - a webhook attempt: CLIENT (http.* conventions); its `traceparent` goes to the receiver;
 * - WaitOperation and watch calls: their SERVER span links to the operation's trace.
 */
import {
  context,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { codeNameOf } from '../domain/errors.js';
import type { OperationRecord, TraceCarrier } from '../domain/operation.js';

/** The instrumentation scope of every span longrun starts. */
export const TRACER_NAME = 'longrun';

export const ATTR_OPERATION_NAME = 'longrun.operation.name';
export const ATTR_ATTEMPT = 'longrun.attempt';
const ATTR_RPC = 'longrun.rpc';

/** The tracer, and the global provider it came from. */
let current: { provider: TracerProvider; tracer: Tracer } | undefined;

/**
 * The app may register (or replace) its provider after longrun is loaded, so the provider is
 * asked for each time; the tracer is looked up again only when it is another one. (Replacing a
 * provider goes through `trace.disable()`, which makes a new global; a tracer got from a provider
 * without an SDK yet is a proxy that finds the SDK's tracer once one is registered.)
 */
function tracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (current?.provider !== provider) current = { provider, tracer: provider.getTracer(TRACER_NAME) };
  return current.tracer;
}

/** How a transport reads one request header (gRPC metadata or HTTP headers), by lower-case name. */
export type HeaderLookup = (name: string) => string | undefined;

const lookupGetter: TextMapGetter<HeaderLookup> = {
  get: (lookup, key) => lookup(key),
  // Only propagators that enumerate headers (none of the W3C ones) need the keys.
  keys: () => [],
};

const carrierGetter: TextMapGetter<TraceCarrier> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

/** The context a stored carrier describes (the root context when there is none). */
export function contextOf(carrier: TraceCarrier | undefined): Context {
  return carrier === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, carrier, carrierGetter);
}

/** The active context as propagation headers; undefined when there is nothing to carry (no SDK, no span). */
export function currentTraceCarrier(active: Context = context.active()): TraceCarrier | undefined {
  if (trace.getSpanContext(active) === undefined) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(active, carrier);
  return Object.keys(carrier).length === 0 ? undefined : carrier;
}

/** `{ traceContext }` of the active span, for an operation's creation, or nothing. */
export function traceContextOption(): { traceContext?: TraceCarrier } {
  const traceContext = currentTraceCarrier();
  return traceContext === undefined ? {} : { traceContext };
}

// ---- calls into the server -------------------------------------------------------------------

/**
 * Polls: a client may send thousands a minute, and a poll whose caller traces nothing would be a
 * trace of one span each. They get a span only when the caller's context comes with them.
 */
const POLLS = new Set(['/google.longrunning.Operations/GetOperation', '/google.longrunning.Operations/ListOperations']);

/** gRPC codes that are the server's fault: their spans are errors (rpc semantic conventions). */
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]); // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS

/** Spans already linked to an operation (a watch sees the same operation many times). */
const linked = new WeakSet<Span>();

/** The SERVER span of one call, gRPC or HTTP. */
export class CallSpan {
  constructor(
    readonly span: Span,
    /** The caller's context with this span in it. */
    readonly context: Context,
    private readonly http: boolean,
    /** The HTTP status sent, read when the span ends. */
    private readonly statusSent?: () => number | undefined,
  ) {}

  /** Runs `fn` in the call's context: spans started within (the handler's own, the store's) nest under it. */
  run<T>(fn: () => T): T {
    return this === UNTRACED ? fn() : context.with(this.context, fn);
  }

  /** Ends the span with the call's google.rpc code (and, over HTTP, the status sent). */
  end(code: number, options: { operation?: string } = {}): void {
    const { span } = this;
    if (this === UNTRACED) return;
    if (!span.isRecording()) return span.end();
    if (options.operation !== undefined) span.setAttribute(ATTR_OPERATION_NAME, options.operation);
    if (this.http) {
      const httpStatus = this.statusSent?.();
      if (httpStatus !== undefined && httpStatus > 0) {
        span.setAttribute('http.response.status_code', httpStatus);
        if (httpStatus >= 500) span.setAttributes({ 'error.type': String(httpStatus) }).setStatus({ code: SpanStatusCode.ERROR });
      }
      span.setAttribute('longrun.rpc.code', codeNameOf(code) ?? String(code));
    } else {
      span.setAttribute('rpc.grpc.status_code', code);
      if (SERVER_FAULTS.has(code)) span.setAttributes({ 'error.type': codeNameOf(code) ?? String(code) }).setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/** A poll without a caller's context: no span, nothing to do. */
const UNTRACED = new CallSpan(trace.wrapSpanContext(INVALID_SPAN_CONTEXT), ROOT_CONTEXT, false);

/** The caller's context, or undefined for a poll that brings none (see POLLS). */
function parentOf(rpc: string, header: HeaderLookup): Context | undefined {
  const parent = propagation.extract(ROOT_CONTEXT, header, lookupGetter);
  return POLLS.has(rpc) && trace.getSpanContext(parent) === undefined ? undefined : parent;
}

/** A gRPC method's span name and rpc.* attributes, by path: worked out once per method, not per call. */
const grpcSpanShapes = new Map<string, { name: string; service: string; method: string }>();

/** `/package.Service/Method` as the span name `package.Service/Method`, rpc.service and rpc.method. */
function grpcSpanShape(path: string): { name: string; service: string; method: string } {
  let shape = grpcSpanShapes.get(path);
  if (shape === undefined) {
    const at = path.lastIndexOf('/');
    shape = { name: path.slice(1), service: path.slice(1, at), method: path.slice(at + 1) };
    // Paths are the server's registered methods (grpc-js answers others itself), so this stays small.
    grpcSpanShapes.set(path, shape);
  }
  return shape;
}

/** A gRPC call's SERVER span, a child of the caller's context when its metadata carries one. */
export function startGrpcSpan(path: string, header: HeaderLookup): CallSpan {
  const parent = parentOf(path, header);
  if (parent === undefined) return UNTRACED;
  const { name, service, method } = grpcSpanShape(path);
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method } }, parent);
  return new CallSpan(span, trace.setSpan(parent, span), false);
}

/**
 * An HTTP request's SERVER span (http semantic conventions), a child of the caller's `traceparent`.
 * `route` is the path template matched (e.g. `/v1/{name=operations/**}`), `rpc` the RPC it maps to.
 */
export function startHttpSpan(req: IncomingMessage, res: ServerResponse, route: string, rpc: string): CallSpan {
  const header: HeaderLookup = (key) => {
    const value = req.headers[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const parent = parentOf(rpc, header);
  if (parent === undefined) return UNTRACED;
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const attributes: Attributes = {
    'http.request.method': method,
    'http.route': route,
    'url.path': query < 0 ? url : url.slice(0, query),
    'url.scheme': (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http',
    [ATTR_RPC]: rpc,
  };
  const userAgent = req.headers['user-agent'];
  if (userAgent !== undefined) attributes['user_agent.original'] = userAgent;
  const span = tracer().startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes }, parent);
  return new CallSpan(span, trace.setSpan(parent, span), true, () => (res.headersSent ? res.statusCode : undefined));
}

/**
 * Links the active span (a WaitOperation or watch call) to the operation's trace: the call's own
 * trace is the caller's, and the link leads from it to the creating call and the work.
 */
export function linkToOperation(record: Pick<OperationRecord, 'name' | 'traceContext'>): void {
  const span = trace.getActiveSpan();
  if (span === undefined || !span.isRecording() || linked.has(span)) return;
  linked.add(span);
  span.setAttribute(ATTR_OPERATION_NAME, record.name);
  const target = trace.getSpanContext(contextOf(record.traceContext));
  // addLink came with API 1.9; an older SDK's spans lack it.
  if (target !== undefined && typeof span.addLink === 'function') span.addLink({ context: target, attributes: { [ATTR_OPERATION_NAME]: record.name } });
}

// ---- the work ---------------------------------------------------------------------------------

/** One run of a handler: a CONSUMER span in the creating call's trace. */
export class AttemptSpan {
  private ended = false;

  constructor(
    readonly span: Span,
    readonly context: Context,
  ) {}

  /** Runs `fn` (the handler) inside the attempt: spans it starts are the attempt's children, log lines carry its ids. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  progress(percent: number): void {
    if (this.span.isRecording()) this.span.addEvent('progress', { 'longrun.progress.percent': percent });
  }

  /** The run failed and attempt `attempt + 1` is due in `delayMs`. */
  retryScheduled(code: number, delayMs: number): void {
    if (this.span.isRecording()) this.span.addEvent('retry scheduled', { 'longrun.retry.delay_ms': delayMs, 'error.type': codeNameOf(code) ?? String(code) });
  }

  /** Ends the span: `code` 0 for a response, else the operation error's code; `final` false when a retry follows. */
  end(outcome: { code: number; message?: string; final: boolean } | { leaseLost: true }): void {
    const { span } = this;
    if (this.ended) return;
    this.ended = true;
    if (!span.isRecording()) return span.end();
    if ('leaseLost' in outcome) {
      span.setAttribute('longrun.outcome', 'lease_lost');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the lease was lost; the outcome was discarded' });
    } else if (outcome.code === 0) {
      span.setAttribute('longrun.outcome', 'response');
      span.setStatus({ code: SpanStatusCode.OK });
    } else {
      span.setAttributes({ 'longrun.outcome': outcome.final ? 'error' : 'retry', 'error.type': codeNameOf(outcome.code) ?? String(outcome.code) });
      span.setStatus({ code: SpanStatusCode.ERROR, ...(outcome.message !== undefined && { message: outcome.message }) });
    }
    span.end();
  }
}

/** The context of the creating call, kept with the record, as each attempt's parent and link. */
function creatingSpanOf(record: Pick<OperationRecord, 'traceContext'>): { parent: Context; link: SpanContext | undefined } {
  const parent = contextOf(record.traceContext);
  return { parent, link: trace.getSpanContext(parent) };
}

function destination(method: string): string {
  return method.startsWith('/') ? method.slice(1) : method;
}

export function startAttemptSpan(record: Pick<OperationRecord, 'name' | 'method' | 'attempt' | 'traceContext'>): AttemptSpan {
  const { parent, link } = creatingSpanOf(record);
  const span = tracer().startSpan(
    `process ${destination(record.method)}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'longrun',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': destination(record.method),
        'messaging.message.id': record.name,
        [ATTR_OPERATION_NAME]: record.name,
        [ATTR_ATTEMPT]: record.attempt,
      },
      ...(link !== undefined && { links: [{ context: link, attributes: { 'longrun.link': 'created_by' } }] }),
    },
    parent,
  );
  return new AttemptSpan(span, trace.setSpan(parent, span));
}

/**
 * A retry's wait, recorded when the retry is scheduled: it starts at the failure and ends when the
 * retry is due (the wait is durable, so the process that waits may not be the one that runs it).
 */
export function recordRetryWait(
  record: Pick<OperationRecord, 'name' | 'method' | 'attempt' | 'traceContext'>,
  failed: AttemptSpan,
  delayMs: number,
  now: number,
): void {
  const { parent } = creatingSpanOf(record);
  const failedContext = failed.span.spanContext();
  const span = tracer().startSpan(
    `retry wait ${destination(record.method)}`,
    {
      kind: SpanKind.INTERNAL,
      startTime: now,
      attributes: {
        [ATTR_OPERATION_NAME]: record.name,
        [ATTR_ATTEMPT]: record.attempt + 1,
        'longrun.retry.delay_ms': delayMs,
      },
      links: [{ context: failedContext, attributes: { 'longrun.link': 'failed_attempt' } }],
    },
    parent,
  );
  span.end(now + delayMs);
}

// ---- webhooks ---------------------------------------------------------------------------------

/** One webhook attempt: a CLIENT span in the operation's trace whose context goes to the receiver. */
export class WebhookSpan {
  constructor(readonly span: Span) {}

  /** The propagation headers to send (`traceparent`...), naming this span as the receiver's parent. */
  headers(): Record<string, string> {
    return { ...currentTraceCarrier(trace.setSpan(ROOT_CONTEXT, this.span)) };
  }

  end(result: { status: number } | { error: string }): void {
    const { span } = this;
    if (!span.isRecording()) return span.end();
    if ('status' in result) {
      span.setAttribute('http.response.status_code', result.status);
      if (result.status >= 400) span.setAttribute('error.type', String(result.status)).setStatus({ code: SpanStatusCode.ERROR });
    } else {
      span.setAttribute('error.type', 'network').setStatus({ code: SpanStatusCode.ERROR, message: result.error });
    }
    span.end();
  }
}

/**
 * Starts a webhook attempt's span. Only the receiver's scheme, host and port are recorded: a
 * callback URL's path and query may carry tokens.
 */
export function startWebhookSpan(operation: Pick<OperationRecord, 'name' | 'traceContext'>, url: string, delivery: { id: string; attempt: number }): WebhookSpan {
  const attributes: Attributes = {
    'http.request.method': 'POST',
    [ATTR_OPERATION_NAME]: operation.name,
    'longrun.webhook.id': delivery.id,
    'http.request.resend_count': delivery.attempt - 1,
  };
  try {
    const parsed = new URL(url);
    attributes['url.scheme'] = parsed.protocol.replace(/:$/, '');
    attributes['server.address'] = parsed.hostname;
    attributes['server.port'] = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  } catch {
    // an invalid URL fails the attempt itself; the span just says less
  }
  if (delivery.attempt <= 1) delete attributes['http.request.resend_count'];
  return new WebhookSpan(tracer().startSpan('POST', { kind: SpanKind.CLIENT, attributes }, contextOf(operation.traceContext)));
}
