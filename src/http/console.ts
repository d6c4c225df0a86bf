/**
 * The web console at `/console/`: static pages shipped in the package (`console/`, nothing from
 * other hosts) and two JSON reads made for them, `/console/api/operations` (a page of the list, as
 * summaries with method, state, progress and times, which an AIP-151 Operation does not carry) and
 * `/console/api/operation?name=` (one operation with its timeline). Both go through the same
 * service, authentication and tenancy as the RPCs; everything else (cancel, delete, the live
 * stream) the pages do through the public REST routes. Also the icon (an SVG, at `/favicon.ico`
 * too), and a page saying "not found" for any other path under `/console/`.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidArgument } from '../domain/errors.js';
import type { OperationRecord } from '../domain/operation.js';
import type { Caller, OperationsService } from '../operations/service.js';
import { statusMonitor, type StatusMonitor } from '../operations/status-monitor.js';
import { timelineOf } from '../operations/timeline.js';
import type { JsonCodec, JsonValue } from '../protos/json.js';
import { anyJson, operationJson } from '../protos/operation-json.js';

const ASSETS_DIR = new URL('../../../console/', import.meta.url);
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};
/** Browsers ask the site's root for its icon whatever the page says: the console's answers there too. */
const FAVICON_PATH = '/favicon.ico';
/** Nothing but this origin: no inline script, no other host, no framing. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const PAGE_SIZE = 20;
const NOT_FOUND_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found · longrun console</title><link rel="icon" href="/console/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/console/console.css"></head>
<body><main id="main"><h2>Page not found</h2><p>The console has no such page. <a href="/console/">Open the console</a>.</p></main></body></html>
`;

export interface ConsoleParts {
  service: OperationsService;
  codec: JsonCodec;
  authenticate(req: IncomingMessage): Caller;
  sendJson(res: ServerResponse, status: number, body: JsonValue, headers: Record<string, string>): void;
  sendError(res: ServerResponse, error: unknown, route: string): void;
}

export function isConsolePath(path: string): boolean {
  return path === '/console' || path.startsWith('/console/') || path === FAVICON_PATH;
}

export class ConsolePages {
  private readonly assets = new Map<string, Buffer>();

  constructor(private readonly parts: ConsoleParts) {}

  async serve(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    req.resume();
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('the console is read with GET\n');
      return;
    }
    if (path === '/console') {
      res.writeHead(308, { location: '/console/' }).end();
      return;
    }
    const rest = path === FAVICON_PATH ? 'favicon.svg' : path.slice('/console/'.length);
    if (rest === 'api/operations' || rest === 'api/operation') {
      try {
        const caller = this.parts.authenticate(req);
        const body = rest === 'api/operations' ? await this.list(query, caller) : await this.detail(query, caller);
        this.parts.sendJson(res, 200, body, { 'cache-control': 'no-store' });
      } catch (error) {
        this.parts.sendError(res, error, `/console/${rest}`);
      }
      return;
    }
    const file = rest === '' ? 'index.html' : rest;
    const type = ASSETS[file];
    if (type === undefined) {
      // A person followed a wrong link: a page that says so and leads back, never a blank one.
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', ...SECURITY_HEADERS });
      res.end(method === 'HEAD' ? undefined : NOT_FOUND_PAGE);
      return;
    }
    let content = this.assets.get(file);
    if (content === undefined) {
      content = readFileSync(new URL(file, ASSETS_DIR));
      this.assets.set(file, content);
    }
    res.writeHead(200, { 'content-type': type, 'content-length': content.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(method === 'HEAD' ? undefined : content);
  }

  private async list(query: URLSearchParams, caller: Caller): Promise<JsonValue> {
    const collection = query.get('collection') || 'operations';
    const result = await this.parts.service.list(
      { name: collection, filter: query.get('filter') ?? '', pageSize: PAGE_SIZE, pageToken: query.get('pageToken') ?? '', returnPartialSuccess: false },
      caller,
    );
    return { operations: result.operations.map((record) => this.summary(record)), nextPageToken: result.nextPageToken } as unknown as JsonValue;
  }

  private async detail(query: URLSearchParams, caller: Caller): Promise<JsonValue> {
    const name = query.get('name');
    if (name === null || name === '') throw invalidArgument('name', 'is required (the operation, e.g. operations/abc)');
    const record = await this.parts.service.get(name, caller);
    return {
      ...this.summary(record),
      operation: operationJson(this.parts.codec, record),
      timeline: timelineOf(record, Date.now()),
    } as unknown as JsonValue;
  }

  private summary(record: OperationRecord): StatusMonitor & { method: string; state: string; attempt: number; cancel_requested: boolean } {
    const monitor = statusMonitor(record, (any) => anyJson(this.parts.codec, any));
    return {
      ...monitor,
      method: record.method,
      state:
        monitor.status === 'failed' && record.error !== undefined
          ? `failed (${monitor.error?.status ?? record.error.code})`
          : monitor.waiting !== undefined
            ? `pending (${monitor.waiting.replace('_', ' ')})`
            : monitor.status,
      attempt: record.attempt,
      cancel_requested: record.cancelRequested,
    };
  }
}
