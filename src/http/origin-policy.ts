/**
 * What the HTTP front trusts of a request before it routes it, so that a web page the user opens
 * cannot drive a server on their machine (docs/security.md):
 *
 * - **Host** must name this server, or DNS rebinding makes an attacker's page same-origin with it.
 *   Allowed by default: IP literals (a page can only be same-origin with an address by having been
 *   served from it; rebinding needs a name), `localhost` and `*.localhost` (browsers resolve these
 *   to loopback themselves), plus the host the server listens on and the names given
 *   (`allowedHosts`, `--http-allowed-hosts`; `*` turns the check off behind a proxy that checks
 *   Host). Any port. A request without Host (HTTP/1.0) is not from a browser and passes.
 * - **Origin**, when sent (browsers send it on every POST, and on cross-origin reads), must be this
 *   server's own (the Host under the connection's scheme) or one of `corsOrigins`; only those get
 *   CORS headers and preflight answers.
 * - **Content-Type**: a request with a body, and a POST/PUT/PATCH even without one if it names a
 *   type, must say `application/json`. Every form and every no-cors `fetch` is then refused, and a
 *   browser can only send JSON after a preflight. A POST with no body and no type (a bare `:cancel`
 *   from curl) passes: browsers send Origin with it, which the rule above checks.
 *
 * Refusals happen before anything is read, routed or called: nothing is created, cancelled or shown.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { LongrunError } from '../domain/errors.js';
import { hostNotAllowed, originNotAllowed, unsupportedMediaType } from './errors.js';
import { ESTIMATED_COMPLETION_HEADER, PROGRESS_HEADER } from '../protocol/headers.js';
import { AZURE_ASYNC_OPERATION_HEADER } from './async-answer.js';

export interface BrowserSafetyOptions {
  /**
   * Host names (any port) the server answers to besides IP literals, `localhost` and `*.localhost`;
   * `.example.com` also allows its subdomains; `*` turns the check off (behind a proxy that checks
   * Host). Default: none more (`listen` adds its `host`).
   */
  allowedHosts?: readonly string[];
  /** Origins (`https://app.example.com`) allowed to call cross-origin, with CORS. Default: none. */
  corsOrigins?: readonly string[];
}

export type Verdict =
  /** Go on; `headers` (CORS) go on the response. */
  | { kind: 'pass'; headers: Record<string, string> }
  /** A CORS preflight from an allowed origin: answer 204 with `headers` and stop. */
  | { kind: 'preflight'; headers: Record<string, string> }
  | { kind: 'refuse'; error: LongrunError };

/** What a browser may read of answers from an allowed origin: the async contract's headers. */
const EXPOSED_HEADERS = [
  'location',
  'operation-location',
  AZURE_ASYNC_OPERATION_HEADER,
  'retry-after',
  'preference-applied',
  PROGRESS_HEADER,
  ESTIMATED_COMPLETION_HEADER,
  'www-authenticate',
  'allow',
].join(', ');
const PREFLIGHT_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const PREFLIGHT_MAX_AGE_SECONDS = '600';
const TOKEN_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
/** `name[:port]` or `[v6][:port]`; anything else is not a Host a browser sends. */
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/;
const NAME = /^\.?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

export class OriginPolicy {
  private readonly anyHost: boolean;
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly origins: ReadonlySet<string>;

  /** Throws an Error naming a malformed entry. */
  constructor(options: BrowserSafetyOptions = {}) {
    const hosts = options.allowedHosts ?? [];
    this.anyHost = hosts.includes('*');
    for (const entry of hosts) {
      if (entry === '*') continue;
      if (isIP(entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry) !== 0) continue; // addresses are answered anyway
      const name = normalizeName(entry);
      if (!NAME.test(name)) throw new Error(`allowed host "${entry}" is not a host name (e.g. longrun.example.com, .example.com for its subdomains, or *); give no port`);
      if (name.startsWith('.')) this.suffixes.push(name);
      else this.names.add(name);
    }
    this.origins = new Set((options.corsOrigins ?? []).map(parseOrigin));
  }

  check(req: IncomingMessage): Verdict {
    const host = req.headers.host;
    if (host !== undefined && !this.hostAllowed(host)) return { kind: 'refuse', error: hostNotAllowed(host) };
    const origin = req.headers.origin;
    const method = req.method ?? 'GET';
    let headers: Record<string, string> = this.origins.size > 0 ? { vary: 'Origin' } : {};
    if (origin !== undefined) {
      const listed = this.origins.has(origin.toLowerCase());
      if (!listed && !sameOrigin(origin, host, (req.socket as Partial<TLSSocket>).encrypted === true)) {
        return { kind: 'refuse', error: originNotAllowed(origin) };
      }
      if (listed) {
        const requested = req.headers['access-control-request-method'];
        if (method === 'OPTIONS' && requested !== undefined) {
          const asked = req.headers['access-control-request-headers'];
          return {
            kind: 'preflight',
            headers: {
              'access-control-allow-origin': origin,
              'access-control-allow-methods': PREFLIGHT_METHODS,
              // The origin is trusted: whatever headers its page sends (authorization, Google's x-goog-*).
              ...(asked !== undefined && TOKEN_LIST.test(asked) && { 'access-control-allow-headers': asked }),
              'access-control-max-age': PREFLIGHT_MAX_AGE_SECONDS,
              vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
            },
          };
        }
        headers = { ...headers, 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED_HEADERS };
      }
    }
    const type = req.headers['content-type'];
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (type === undefined ? hasBody : (hasBody || METHODS_WITH_BODY.has(method)) && !isJson(type)) {
      return { kind: 'refuse', error: unsupportedMediaType(type) };
    }
    return { kind: 'pass', headers };
  }

  private hostAllowed(header: string): boolean {
    if (this.anyHost) return true;
    const match = HOST.exec(header);
    if (match === null) return false;
    const name = normalizeName(match[1]!);
    if (isIpLiteral(name) || name === 'localhost' || name.endsWith('.localhost')) return true;
    return this.names.has(name) || this.suffixes.some((suffix) => name.endsWith(suffix) || name === suffix.slice(1));
  }
}

/** Lower case, without the one trailing dot of a fully qualified name (`localhost.` is `localhost`). */
function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') && lower.length > 1 ? lower.slice(0, -1) : lower;
}

function isIpLiteral(name: string): boolean {
  return name.startsWith('[') ? name.endsWith(']') && isIP(name.slice(1, -1)) === 6 : isIP(name) === 4;
}

function isJson(type: string): boolean {
  return type.split(';', 1)[0]!.trim().toLowerCase() === 'application/json';
}

/** An allow-list entry as browsers serialize an Origin: `scheme://host[:port]`, lower case, no path. */
function parseOrigin(entry: string): string {
  let url: URL | undefined;
  try {
    url = new URL(entry);
  } catch {
    url = undefined;
  }
  const bare = url !== undefined && url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && !entry.includes('*') && !entry.endsWith('#') && !entry.endsWith('?');
  if (url === undefined || !bare || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(`CORS origin "${entry}" is not an origin: give scheme://host[:port] (e.g. https://app.example.com), without a path or *`);
  }
  return url.origin;
}

/**
 * Whether the page that sent `origin` is this server's own: same host and port as the Host it
 * addressed. On TLS the page must be https; on plain HTTP either scheme, since a proxy in front may
 * terminate TLS (a page cannot be served at another scheme on the same host and port anyway).
 */
function sameOrigin(origin: string, host: string | undefined, tls: boolean): boolean {
  if (host === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // includes `null` (sandboxed frames, file: pages)
  }
  if (url.protocol !== 'https:' && (tls || url.protocol !== 'http:')) return false;
  const match = HOST.exec(host);
  if (match === null) return false;
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  return url.hostname.toLowerCase() === match[1]!.toLowerCase() && (url.port || defaultPort) === (match[2] ?? defaultPort);
}
