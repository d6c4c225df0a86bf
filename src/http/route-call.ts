/** One routed HTTP call as the route handlers see it, and what they share. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../log.js';
import type { Caller, OperationsService } from '../operations/service.js';
import type { CallContext } from '../protocol/call.js';
import type { JsonCodec } from '../protos/json.js';
import type { ParsedMessage } from '../protos/registry.js';
import type { Route } from './routes.js';

export interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  route: Route;
  caller: Caller;
  /** What the headers ask for, and the call's record. */
  context: CallContext;
  /** The request message, decoded from the path, query and body. */
  request: Record<string, unknown>;
  /** The same request as the parsed message: a creation stores its bytes as they are. */
  parsed: ParsedMessage;
  enumAsInteger: boolean;
}

export interface RouteParts {
  service: OperationsService;
  codec: JsonCodec;
  logger: Logger;
  clock: Clock;
  /** Longest Retry-After, in milliseconds. */
  retryAfterCapMs: number;
  /** How often an event stream sends a keep-alive comment while nothing changes. */
  keepAliveMs: number;
}
