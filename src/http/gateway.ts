/**
 * The HTTP/JSON gateway: a `(req, res)` handler for node:http that serves the route table over the
 * same operations service, method table, authenticator and limits as gRPC, in-process. It knows
 * HTTP (statuses, headers, bodies) and nothing of the semantics, which stay in OperationsService.
 *
 * A route that starts an operation answers in its method's style (see AnswerStyle): Google's (200
 * with the Operation) or the async request-reply pattern's (202 Accepted with the headers of
 * async-answer.ts: `Location`, `Operation-Location`, `Azure-AsyncOperation` and `Retry-After`);
 * `Prefer: respond-async` asks for the second, `Prefer: wait=N` for the done Operation when the
 * work ends within N seconds.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Authenticator, type AuthOptions } from '../auth/authenticator.js';
import type { Clock } from '../domain/clock.js';
import { Code, invalidArgument, LongrunError } from '../domain/errors.js';
import { answerStyleOf, type AnswerStyle, type AnyMessage, type OperationRecord } from '../domain/operation.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../observe/telemetry.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { armOperationStatus, isTerminalArmStatus } from '../operations/arm-status.js';
import { monitorStatusOf, statusMonitor } from '../operations/status-monitor.js';
import type { JsonCodec, JsonValue, ToJsonOptions } from '../protos/json.js';
import { anyJson, listJson, operationJson } from '../protos/operation-json.js';
import type { ParsedMessage, TypeRegistry } from '../protos/registry.js';
import { ConsolePages, isConsolePath } from './console.js';
import { DEFAULT_KEEP_ALIVE_MS, EVENT_STREAM_HEADERS, streamWatch } from './events.js';
import { bodyTooLarge, methodNotAllowed, routeNotFound, toHttpError } from './errors.js';
import { armStatusPath, asyncAnswerHeaders, linkHeaders, pollHeaders, progressHeaders } from './async-answer.js';
import { DEFAULT_RETRY_AFTER_CAP_MS } from './monitor.js';
import { openApiDocument } from './openapi.js';
import { OriginPolicy, type BrowserSafetyOptions } from './origin-policy.js';
import { parsePrefer } from './prefer.js';
import { requestJson } from './request.js';
import { buildRoutes, findRoute, type Route } from './routes.js';
import { policiesFromHeaders } from '../operations/create-options.js';

export interface GatewayParts {
  service: OperationsService;
  registry: TypeRegistry;
  codec: JsonCodec;
  logger: Logger;
  telemetry: Telemetry;
  clock: Clock;
  /** The caller of every request when `auth` is not given (the one principal of an open server). */
  caller: Caller;
  /** Services whose annotated methods get routes: google.longrunning.Operations and the declared methods'. */
  services: readonly string[];
  /** The answer style of a declared method (its `httpAnswer`), by RPC path. */
  answerStyleOf(rpc: string): AnswerStyle;
}

export interface GatewayOptions extends BrowserSafetyOptions {
  /** The same credentials as gRPC (`authorization: Bearer`, client certificates); default: none. */
  auth?: AuthOptions;
  /** Longest Retry-After, in milliseconds (default: 30 s). */
  retryAfterCapMs?: number;
  /** Largest request body (default: MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** How often an event stream (`:watch`) sends a keep-alive comment while nothing changes (default: 15 s). */
  keepAliveMs?: number;
}

/**
 * gRPC takes messages up to 4 MiB (MAX_RECEIVE_MESSAGE_BYTES); the same message as JSON is larger
 * (bytes fields grow by a third in base64, names are spelled out), so bodies get twice that.
 */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Where the operation's end is POSTed (completion callbacks); named as sent in errors. */
export const CALLBACK_URL_HEADER = 'Longrun-Callback-Url';
export { ESTIMATED_COMPLETION_HEADER, PROGRESS_HEADER } from './async-answer.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export class Gateway {
  readonly routes: readonly Route[];
  private readonly authenticator: Authenticator | undefined;
  private readonly retryAfterCapMs: number;
  private readonly maxBodyBytes: number;
  private readonly keepAliveMs: number;
  private readonly watchJson = new WeakMap<OperationRecord, string>();
  private readonly watchJsonIntEnums = new WeakMap<OperationRecord, string>();
  private openapi: string | undefined;
  private readonly policy: OriginPolicy;

  private readonly console: ConsolePages;

  constructor(
    private readonly parts: GatewayParts,
    options: GatewayOptions = {},
  ) {
    this.routes = buildRoutes(parts.codec, parts.services);
    this.authenticator = options.auth === undefined ? undefined : new Authenticator(options.auth);
    this.retryAfterCapMs = options.retryAfterCapMs ?? DEFAULT_RETRY_AFTER_CAP_MS;
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.keepAliveMs = options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS;
    this.policy = new OriginPolicy(options);
    this.console = new ConsolePages({
      service: parts.service,
      codec: parts.codec,
      authenticate: (req) => this.authenticate(req),
      sendJson: (res, status, body, headers) => this.sendJson(res, status, body, headers),
      sendError: (res, error, route) => void this.sendError(res, error, route, {}),
    });
  }

  /** For `node:http`'s `createServer(handler)`, or to mount in an app's own server. */
  readonly handler: RequestHandler = (req, res) => {
    void this.serve(req, res).catch((error: unknown) => {
      // Only a failure to write the response lands here; the connection is beyond saving.
      this.parts.logger.error({ err: error }, 'could not answer an HTTP request');
      res.destroy();
    });
  };

  /** The OpenAPI 3.1 description of every route (also served at /openapi.json). */
  openApi(): Record<string, unknown> {
    return openApiDocument(this.routes, this.parts.codec, this.parts.answerStyleOf);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
    const method = req.method ?? 'GET';
    // Before routing: a request a web page should not be able to make does nothing at all.
    const verdict = this.policy.check(req);
    if (verdict.kind === 'refuse') {
      req.resume();
      this.parts.logger.info({ host: req.headers.host, origin: req.headers.origin, reason: verdict.error.reason }, 'refused an HTTP request a web page could have sent');
      // An unread body is not drained: the connection closes instead.
      this.sendError(res, verdict.error, rawPath, { connection: 'close' });
      return;
    }
    if (verdict.kind === 'preflight') {
      req.resume();
      res.writeHead(204, verdict.headers).end();
      return;
    }
    for (const [name, value] of Object.entries(verdict.headers)) res.setHeader(name, value);
    // A person who opens the bare address gets the console.
    if (rawPath === '/' && (method === 'GET' || method === 'HEAD')) {
      req.resume();
      res.writeHead(302, { location: '/console/' }).end();
      return;
    }
    if (isConsolePath(rawPath)) return this.console.serve(req, res, rawPath, query);
    const lookup = rawPath.startsWith('/') ? findRoute(this.routes, method, rawPath) : { kind: 'not-found' as const };
    if (lookup.kind !== 'found') {
      req.resume();
      if (lookup.kind === 'method-not-allowed' && method === 'OPTIONS') {
        res.writeHead(204, { allow: lookup.allowed.join(', ') }).end();
        return;
      }
      const error = lookup.kind === 'not-found' ? routeNotFound(method, rawPath) : methodNotAllowed(method, lookup.allowed);
      this.sendError(res, error, rawPath, lookup.kind === 'method-not-allowed' ? { allow: lookup.allowed.join(', ') } : {});
      return;
    }
    const { route, match } = lookup;
    if (route.action === 'openapi') {
      req.resume();
      this.openapi ??= JSON.stringify(this.openApi());
      this.sendText(res, 200, this.openapi, {});
      return;
    }
    let caller: Caller | undefined;
    let operation: string | undefined;
    let code: number = Code.OK;
    try {
      caller = this.authenticate(req);
      const body = route.body === '' ? (req.resume(), undefined) : await this.readBody(req);
      const bindings = new Map<string, string>();
      for (const [field, raw] of match.bindings) bindings.set(field, decodePathValue(raw, field));
      operation = bindings.get('name');
      const message = this.parts.codec.message(route.requestType);
      if (message === undefined) throw new Error(`request type ${route.requestType} is not in the descriptor sets`);
      const json = requestJson(message, { pathBindings: bindings, query, body, bodyField: route.body });
      // Parsed once: a creation stores this message's bytes, the other calls read its object.
      const parsed = this.parts.codec.parse(route.requestType, json, 'request');
      const request = parsed.toObject();
      const context: Context = { req, res, route, caller, request, parsed, enumAsInteger: wantsIntegerEnums(query) };
      operation = (await this.dispatch(context)) ?? operation;
    } catch (error) {
      const failure = this.sendError(res, error, route.template.source, {}, route.action === 'status-cancel' ? statusCancelOverride(error) : undefined);
      code = failure;
    } finally {
      this.parts.telemetry.rpc({
        method: route.rpc,
        code,
        durationMs: performance.now() - started,
        ...(caller !== undefined && { principal: caller.principal }),
        ...(operation !== undefined && { operation }),
      });
    }
  }

  /** Answers the call; returns the operation it was about when that is only known now (a creation). */
  private async dispatch(context: Context): Promise<string | undefined> {
    const { service } = this.parts;
    const { route, request, caller, res } = context;
    const name = String(request['name'] ?? '');
    switch (route.action) {
      case 'create': {
        const key = headerOf(context.req, IDEMPOTENCY_KEY_HEADER);
        const callbackUrl = headerOf(context.req, CALLBACK_URL_HEADER.toLowerCase());
        const prefer = parsePrefer(context.req.headers['prefer']);
        const policies = policiesFromHeaders((header) => headerOf(context.req, header));
        let record = await service.create(route.rpc, context.parsed, caller, {
          policies,
          ...(key !== undefined && { idempotencyKey: key }),
          ...(callbackUrl !== undefined && { callback: { url: callbackUrl, field: CALLBACK_URL_HEADER } }),
          ...(prefer.respondAsync && { answerStyle: 'async' as const }),
        });
        const applied: string[] = [];
        if (prefer.waitSeconds !== undefined && !record.done) {
          // One round trip for quick work; WaitOperation's cap and per-principal limit apply.
          const client = new AbortController();
          res.once('close', () => client.abort());
          record = await service.wait(record.name, prefer.waitSeconds * 1000, client.signal, caller);
          applied.push(`wait=${prefer.waitSeconds}`);
        }
        // Done within the asked wait: the result itself, as a GET would answer it. (A replayed key
        // without one is answered as its first call was.)
        const finished = record.done && prefer.waitSeconds !== undefined;
        const style = finished ? 'google' : prefer.respondAsync ? 'async' : answerStyleOf(record);
        if (style === 'async' && prefer.respondAsync) applied.unshift('respond-async');
        const base = baseUrl(context.req);
        const headers =
          style === 'async'
            ? asyncAnswerHeaders(base, record, this.parts.clock.now(), this.retryAfterCapMs)
            : { ...linkHeaders(base, record), ...progressHeaders(record) };
        this.sendJson(res, style === 'google' ? 200 : 202, this.operationJson(record, context), {
          ...headers,
          ...(applied.length > 0 && { 'preference-applied': applied.join(', ') }),
        });
        return record.name;
      }
      case 'get': {
        const record = await service.get(name, caller);
        this.sendJson(res, 200, this.operationJson(record, context), this.pollHeaders(record));
        return undefined;
      }
      case 'wait': {
        const client = new AbortController();
        res.once('close', () => client.abort());
        const record = await service.wait(name, durationMs(request['timeout']), client.signal, caller);
        this.sendJson(res, 200, this.operationJson(record, context), this.pollHeaders(record));
        return undefined;
      }
      case 'watch': {
        if (context.req.method === 'HEAD') {
          // The headers a GET would start with (after the same checks), and no stream to hold open.
          await service.get(name, caller);
          res.writeHead(200, EVENT_STREAM_HEADERS).end();
          return undefined;
        }
        // Watchers of one operation share its records (see OperationsService.watch): encode each once.
        const cache = context.enumAsInteger ? this.watchJsonIntEnums : this.watchJson;
        const toJson = (record: OperationRecord) => {
          let json = cache.get(record);
          if (json === undefined) {
            json = JSON.stringify(watchJson(this.parts.codec, record, { enumAsInteger: context.enumAsInteger }));
            cache.set(record, json);
          }
          return json;
        };
        await streamWatch({ service, logger: this.parts.logger, toJson, keepAliveMs: this.keepAliveMs }, name, caller, context.req, res);
        return undefined;
      }
      case 'list': {
        const result = await service.list(
          {
            name,
            filter: String(request['filter'] ?? ''),
            pageSize: Number(request['pageSize'] ?? 0),
            pageToken: String(request['pageToken'] ?? ''),
            returnPartialSuccess: request['returnPartialSuccess'] === true,
          },
          caller,
        );
        const json = listJson(this.parts.codec, result.operations, result.nextPageToken, { enumAsInteger: context.enumAsInteger });
        this.sendJson(res, 200, json, {});
        return undefined;
      }
      case 'cancel':
        await service.cancel(name, caller);
        this.sendJson(res, 200, {}, {});
        return undefined;
      case 'delete':
        await service.delete(name, caller);
        this.sendJson(res, 200, {}, {});
        return undefined;
      case 'status': {
        const record = await service.get(name, caller);
        this.sendMonitor(res, record, context);
        return undefined;
      }
      case 'status-cancel': {
        await service.cancel(name, caller);
        this.sendMonitor(res, await service.get(name, caller), context);
        return undefined;
      }
      case 'arm-status': {
        // 200 whatever the operation's outcome: a 4xx or 5xx here means reading the status failed.
        const record = await service.get(name, caller);
        const body = armOperationStatus(record, armStatusPath(record.name), (any) => anyJson(this.parts.codec, any, { enumAsInteger: context.enumAsInteger }));
        // ARM's pollers rely on Retry-After, whatever style the operation was created with.
        this.sendJson(res, 200, body as unknown as JsonValue, isTerminalArmStatus(body.status) ? {} : this.pollHeaders(record, 'async'));
        return undefined;
      }
      case 'openapi':
        throw new Error('served before dispatch');
    }
  }

  private authenticate(req: IncomingMessage): Caller {
    if (this.authenticator === undefined) return this.parts.caller;
    const socket = req.socket as Partial<TLSSocket>;
    return this.authenticator.authenticate({
      authorization: headerOf(req, 'authorization'),
      // Only a certificate the handshake verified against the client CA counts.
      certificateSubject: () => (socket.authorized === true ? socket.getPeerCertificate?.()?.subject?.CN : undefined),
    });
  }

  private async readBody(req: IncomingMessage): Promise<JsonValue | undefined> {
    const declared = Number(req.headers['content-length']);
    if (declared > this.maxBodyBytes) throw bodyTooLarge(this.maxBodyBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > this.maxBodyBytes) throw bodyTooLarge(this.maxBodyBytes);
      chunks.push(chunk);
    }
    if (total === 0) return undefined;
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as JsonValue;
    } catch (error) {
      throw invalidArgument('body', `is not valid JSON: ${(error as Error).message}`);
    }
  }

  private operationJson(record: OperationRecord, context: Pick<Context, 'enumAsInteger'>): JsonValue {
    return operationJson(this.parts.codec, record, { enumAsInteger: context.enumAsInteger });
  }

  private sendMonitor(res: ServerResponse, record: OperationRecord, context: Context): void {
    const monitor = statusMonitor(record, (any) => anyJson(this.parts.codec, any, { enumAsInteger: context.enumAsInteger }));
    const terminal = monitorStatusOf(record) !== 'pending' && monitorStatusOf(record) !== 'running';
    this.sendJson(res, 200, monitor as unknown as JsonValue, terminal ? {} : this.pollHeaders(record));
  }

  /** Progress while the operation runs, and Retry-After when it is answered in the async style. */
  private pollHeaders(record: OperationRecord, style?: AnswerStyle): Record<string, string> {
    return pollHeaders(record, this.parts.clock.now(), this.retryAfterCapMs, style);
  }

  /** Returns the google.rpc.Code sent. */
  private sendError(res: ServerResponse, error: unknown, route: string, headers: Record<string, string>, statusOverride?: number): number {
    const failure = toHttpError(error, this.parts.logger, route, statusOverride);
    if (failure.status === 401) {
      headers['www-authenticate'] = failure.reason === 'CREDENTIALS_INVALID' ? 'Bearer realm="longrun", error="invalid_token"' : 'Bearer realm="longrun"';
    }
    // A body too large is not read to its end: the connection closes instead.
    if (failure.reason === 'BODY_TOO_LARGE') headers['connection'] = 'close';
    this.sendJson(res, failure.status, failure.body as unknown as JsonValue, headers);
    return failure.code;
  }

  private sendJson(res: ServerResponse, status: number, body: JsonValue, headers: Record<string, string>): void {
    this.sendText(res, status, JSON.stringify(body), headers);
  }

  private sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }
}

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  caller: Caller;
  request: Record<string, unknown>;
  parsed: ParsedMessage;
  enumAsInteger: boolean;
}

/** The status monitor's cancel answers 409 Conflict when the operation is already done. */
function statusCancelOverride(error: unknown): number | undefined {
  return error instanceof LongrunError && error.reason === 'OPERATION_ALREADY_DONE' ? 409 : undefined;
}

/** Google's REST clients ask `$alt=json;enum-encoding=int` for enums as numbers. */
function wantsIntegerEnums(query: URLSearchParams): boolean {
  return [...query.getAll('$alt'), ...query.getAll('alt')].some((alt) => /(^|;)\s*enum-encoding=int\s*(;|$)/.test(alt));
}

function decodePathValue(raw: string, field: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidArgument(field, 'is not valid percent-encoding in the path');
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** The absolute URL clients reached this server at: its Host header when well-formed, else the socket's address. */
function baseUrl(req: IncomingMessage): string {
  const scheme = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const host = req.headers.host;
  if (host !== undefined && HOST.test(host)) return `${scheme}://${host}`;
  const address = req.socket.localAddress ?? '127.0.0.1';
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort}`;
}

function durationMs(duration: unknown): number | undefined {
  if (duration === null || typeof duration !== 'object') return undefined;
  const { seconds, nanos } = duration as { seconds?: string | number; nanos?: number };
  return Number(seconds ?? 0) * 1000 + Math.floor((nanos ?? 0) / 1e6);
}

/** longrun.v1.WatchOperationResponse as proto3 JSON, its operation written as every other one is. */
function watchJson(codec: JsonCodec, record: OperationRecord, options: ToJsonOptions): JsonValue {
  const init: Record<string, unknown> = { progressPercent: record.progressPercent };
  if (record.estimatedCompletion !== undefined && !record.done) {
    init['estimatedCompletionTime'] = { seconds: BigInt(Math.floor(record.estimatedCompletion / 1000)), nanos: (record.estimatedCompletion % 1000) * 1e6 };
  }
  return { operation: operationJson(codec, record, options), ...(codec.toJsonOf('longrun.v1.WatchOperationResponse', init, options) as object) };
}

