/** Writing answers: JSON bodies, and errors through the one code-to-HTTP table (errors.ts). */
import type { ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { JsonValue } from '../protos/json.js';
import { toHttpError } from './errors.js';

export function sendJson(res: ServerResponse, status: number, body: JsonValue, headers: Record<string, string>): void {
  sendText(res, status, JSON.stringify(body), headers);
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Returns the google.rpc.Code sent. */
export function sendError(res: ServerResponse, logger: Logger, error: unknown, route: string, headers: Record<string, string>, statusOverride?: number): number {
  const failure = toHttpError(error, logger, route, statusOverride);
  if (failure.status === 401) {
    headers['www-authenticate'] = failure.reason === 'CREDENTIALS_INVALID' ? 'Bearer realm="longrun", error="invalid_token"' : 'Bearer realm="longrun"';
  }
  // A body too large is not read to its end: the connection closes instead.
  if (failure.reason === 'BODY_TOO_LARGE') headers['connection'] = 'close';
  sendJson(res, failure.status, failure.body as unknown as JsonValue, headers);
  return failure.code;
}
