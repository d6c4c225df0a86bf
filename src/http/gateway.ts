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
import { Code } from '../domain/errors.js';
import type { AnswerStyle } from '../domain/operation.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../observe/telemetry.js';
import { startHttpSpan } from '../observe/tracing.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { CallContext } from '../protocol/call.js';
import type { JsonCodec } from '../protos/json.js';
import type { TypeRegistry } from '../protos/registry.js';
import { sendError, sendJson, sendText } from './answer.js';
import { ConsolePages, isConsolePath } from './console.js';
import { answerCreate } from './create-route.js';
import { DEFAULT_KEEP_ALIVE_MS } from './events.js';
import { methodNotAllowed, routeNotFound } from './errors.js';
import { decodePathValue, headerOf, readBody, wantsIntegerEnums } from './incoming.js';
import { DEFAULT_RETRY_AFTER_CAP_MS } from './monitor.js';
import { openApiDocument } from './openapi.js';
import { OperationsRoutes, statusCancelOverride } from './operations-routes.js';
import { OriginPolicy, type BrowserSafetyOptions } from './origin-policy.js';
import { requestJson } from './request.js';
import type { RouteCall, RouteParts } from './route-call.js';
import { buildRoutes, findRoute, type Route } from './routes.js';

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
export { CALLBACK_URL_HEADER, IDEMPOTENCY_KEY_HEADER } from './create-route.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export class Gateway {
  readonly routes: readonly Route[];
  private readonly authenticator: Authenticator | undefined;
  private readonly maxBodyBytes: number;
  private readonly routeParts: RouteParts;
  private readonly operationsRoutes: OperationsRoutes;
  private openapi: string | undefined;
  private readonly policy: OriginPolicy;

  private readonly console: ConsolePages;

  constructor(
    private readonly parts: GatewayParts,
    options: GatewayOptions = {},
  ) {
    this.routes = buildRoutes(parts.codec, parts.services);
    this.authenticator = options.auth === undefined ? undefined : new Authenticator(options.auth);
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.routeParts = {
      service: parts.service,
      codec: parts.codec,
      logger: parts.logger,
      clock: parts.clock,
      retryAfterCapMs: options.retryAfterCapMs ?? DEFAULT_RETRY_AFTER_CAP_MS,
      keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS,
    };
    this.operationsRoutes = new OperationsRoutes(this.routeParts);
    this.policy = new OriginPolicy(options);
    this.console = new ConsolePages({
      service: parts.service,
      codec: parts.codec,
      authenticate: (req) => this.authenticate(req),
      sendJson,
      sendError: (res, error, route) => void sendError(res, parts.logger, error, route, {}),
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
      sendError(res, this.parts.logger, verdict.error, rawPath, { connection: 'close' });
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
      sendError(res, this.parts.logger, error, rawPath, lookup.kind === 'method-not-allowed' ? { allow: lookup.allowed.join(', ') } : {});
      return;
    }
    const { route, match } = lookup;
    if (route.action === 'openapi') {
      req.resume();
      this.openapi ??= JSON.stringify(this.openApi());
      sendText(res, 200, this.openapi, {});
      return;
    }
    const context = new CallContext(route.rpc, (name) => headerOf(req, name));
    context.observe(this.parts.telemetry);
    const span = (context.span = startHttpSpan(req, res, route.template.source, route.rpc));
    let code: number = Code.OK;
    try {
      const caller = this.authenticate(req);
      context.principal = caller.principal;
      const body = route.body === '' ? (req.resume(), undefined) : await readBody(req, this.maxBodyBytes);
      const bindings = new Map<string, string>();
      for (const [field, raw] of match.bindings) bindings.set(field, decodePathValue(raw, field));
      context.operation = bindings.get('name');
      const message = this.parts.codec.message(route.requestType);
      if (message === undefined) throw new Error(`request type ${route.requestType} is not in the descriptor sets`);
      const json = requestJson(message, { pathBindings: bindings, query, body, bodyField: route.body });
      // Parsed once: a creation stores this message's bytes, the other calls read its object.
      const parsed = this.parts.codec.parse(route.requestType, json, 'request');
      const request = parsed.toObject();
      const call: RouteCall = { req, res, route, caller, context, request, parsed, enumAsInteger: wantsIntegerEnums(query) };
      await span.run(async () => {
        if (route.action === 'create') context.operation = await answerCreate(this.routeParts, call);
        else await this.operationsRoutes.answer(call);
      });
    } catch (error) {
      const failure = sendError(res, this.parts.logger, error, route.template.source, {}, route.action === 'status-cancel' ? statusCancelOverride(error) : undefined);
      code = failure;
    } finally {
      context.end(code);
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
}
