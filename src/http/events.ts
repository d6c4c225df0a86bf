/**
 * `GET /v1/{operation name}:watch`: longrun.v1.Watcher/WatchOperation as Server-Sent Events.
 *
 * - `event: operation`, `data:` the WatchOperationResponse as proto3 JSON (the Operation, its
 *   progress and estimated completion), `id:` naming that state. A client that reconnects with
 *   `Last-Event-ID` is not sent the state it already has again, only what changed since (the
 *   latest state: intermediate ones are never kept, as in the gRPC stream).
 * - `: keep-alive` comments while nothing changes, so proxies keep the connection.
 * - `event: end` after the done state; then the response ends. A stream that reaches the server's
 *   cap on stream length ends without it, and EventSource reconnects with Last-Event-ID by itself.
 * - `event: error` with the AIP-193 error body if the stream fails after it started (the operation
 *   was deleted, say); failures before the first state are plain HTTP errors.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OperationRecord } from '../domain/operation.js';
import type { Logger } from '../log.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { toHttpError } from './errors.js';

/** The headers of an event stream (and of a HEAD of one). */
export const EVENT_STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Proxies such as nginx would otherwise hold events back.
  'x-accel-buffering': 'no',
} as const;

/** A comment line this often while nothing changes (default of GatewayOptions.keepAliveMs). */
export const DEFAULT_KEEP_ALIVE_MS = 15_000;

export interface EventStreamParts {
  service: OperationsService;
  logger: Logger;
  /** The WatchOperationResponse of a state, as proto3 JSON text (one line). */
  toJson(record: OperationRecord): string | Promise<string>;
  keepAliveMs: number;
}

/** The SSE `id` of a state: the same state has the same id, whichever server sends it. */
export function eventIdOf(record: OperationRecord): string {
  const hash = createHash('sha256')
    .update(`${record.done}|${record.progressPercent}|${record.estimatedCompletion ?? ''}|${record.leaseHolder ?? ''}|${record.attempt}|${record.cancelRequested}|${record.runAfter}|`)
    .update(record.metadata?.value ?? new Uint8Array())
    .digest('base64url')
    .slice(0, 12);
  return `${record.updateTime}-${hash}`;
}

/** Streams `name` to `res` until done, the cap, or the client leaving. Throws before the first event like any handler. */
export async function streamWatch(parts: EventStreamParts, name: string, caller: Caller, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const client = new AbortController();
  res.once('close', () => client.abort());
  const lastEventId = headerOf(req, 'last-event-id');
  const states = parts.service.watch(name, caller, client.signal)[Symbol.asyncIterator]();
  // The first state decides between an HTTP error and a stream.
  let next = await states.next();
  res.writeHead(200, EVENT_STREAM_HEADERS);
  res.flushHeaders();
  const keepAlive = setInterval(() => {
    if (!res.writableNeedDrain) res.write(': keep-alive\n\n');
  }, parts.keepAliveMs);
  try {
    for (; !next.done; next = await states.next()) {
      const record = next.value;
      const id = eventIdOf(record);
      if (id !== lastEventId) await write(res, `id: ${id}\nevent: operation\ndata: ${await parts.toJson(record)}\n\n`);
      if (record.done) await write(res, `event: end\ndata: {}\n\n`);
      if (res.destroyed) break;
    }
  } catch (error) {
    const failure = toHttpError(error, parts.logger, '/v1/{name}:watch');
    if (!res.destroyed) await write(res, `event: error\ndata: ${JSON.stringify(failure.body)}\n\n`);
    throw error;
  } finally {
    clearInterval(keepAlive);
    await states.return(undefined);
    res.end();
  }
}

/** Writes `chunk`, waiting until the connection took it (or closed): a slow reader holds one event, not a queue. */
async function write(res: ServerResponse, chunk: string): Promise<void> {
  if (res.destroyed) return;
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
