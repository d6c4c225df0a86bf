/**
 * One callback attempt: POST a body to a URL and report what came back, never throwing.
 *
 * The address policy is applied at connect time, where it cannot be dodged: the sender resolves
 * the name itself (once), refuses if ANY address is denied, and connects only to the addresses it
 * checked (in the resolver's order, the next one only when connecting to one fails), so a DNS
 * answer that changes between the check and the connection (rebinding) never reaches a second
 * resolution. Redirects are never followed (a 3xx is an answer like any other);
 * https verifies certificates against the URL's host as usual.
 *
 * Neither the body nor any header value is logged or put in an error: both may carry secrets.
 */
import type { LookupAddress, LookupAllOptions } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { isIP } from 'node:net';
import tls from 'node:tls';
import { LongrunError } from '../domain/errors.js';
import { hostOf, type AddressPolicy } from './address-policy.js';

export interface SendRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Covers resolving, connecting, sending and the response (status and body). */
  timeoutMs: number;
}

export type SendResult =
  /** Any HTTP answer, including 3xx (never followed). */
  | { kind: 'status'; status: number; retryAfterMs?: number }
  /** Network error, timeout, or refused by the address policy (denied: true). */
  | { kind: 'error'; error: string; denied?: boolean };

/** `dns.lookup` with `{ all: true }`. */
export type LookupFunction = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** Where a connection goes: always an IP literal that the policy has allowed. */
export interface ConnectOptions {
  host: string;
  port: number;
}

/** Injected in tests so no packet leaves for a refused address. */
export interface Network {
  /** Resolves a callback host (default: dns.lookup). */
  lookup?: LookupFunction;
  /** Opens the TCP connection, for http and (under TLS) https (default: net.connect). */
  connect?: (options: ConnectOptions) => net.Socket;
  /** Trust anchors for https instead of the system's (tests with their own CA). */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
}

/** How much of a response body is read (and thrown away) before the connection is dropped. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

/** The field name in refusals raised at send time (the URL was checked under this name at creation). */
const URL_FIELD = 'callback.url';

export function createSender(policy: AddressPolicy, network: Network = {}): (request: SendRequest) => Promise<SendResult> {
  const lookup: LookupFunction = network.lookup ?? dnsLookup;
  const connect = network.connect ?? ((options: ConnectOptions) => net.connect(options));

  return (request) =>
    new Promise<SendResult>((resolve) => {
      let settled = false;
      let clientRequest: http.ClientRequest | undefined;
      let answered: SendResult | undefined;
      const finish = (result: SendResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clientRequest?.destroy();
        resolve(result);
      };
      // A status already received stands even if the body then runs out the clock.
      const timer = setTimeout(() => finish(answered ?? { kind: 'error', error: 'timeout' }), request.timeoutMs);

      let url: URL;
      try {
        // Checked again at send time: the allow-list may have changed since the operation was created.
        url = new URL(policy.checkUrl(request.url, URL_FIELD));
      } catch (error) {
        finish({ kind: 'error', error: error instanceof LongrunError ? error.message : 'invalid callback URL', denied: true });
        return;
      }
      const host = hostOf(url);
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);

      /** Tries the checked addresses in order, moving on only while no connection has been made. */
      const withAddress = (addresses: readonly string[], index = 0) => {
        if (settled) return;
        const address = addresses[index]!;
        let connected = false;
        const secure = url.protocol === 'https:';
        const options: http.RequestOptions = {
          method: 'POST',
          host,
          port,
          // Without an agent the Host header would otherwise name the scheme's default port.
          defaultPort: secure ? 443 : 80,
          path: `${url.pathname}${url.search}`,
          headers: {
            'content-type': 'application/json',
            'user-agent': 'longrun-callbacks',
            ...request.headers,
            'content-length': String(Buffer.byteLength(request.body)),
            connection: 'close',
          },
          // No agent: one connection per attempt, opened to the checked address only.
          createConnection: () => {
            const socket = connect({ host: address, port });
            socket.once('connect', () => (connected = true));
            if (!secure) return socket;
            return tls.connect({
              socket,
              // The certificate is checked against the URL's host, not the address connected to.
              host,
              ...(isIP(host) === 0 ? { servername: host } : {}),
              ALPNProtocols: ['http/1.1'],
              ...(network.ca === undefined ? {} : { ca: network.ca as Array<string | Buffer> }),
            });
          },
        };
        try {
          clientRequest = (secure ? https : http).request(options);
        } catch (error) {
          finish({ kind: 'error', error: messageOf(error) });
          return;
        }
        clientRequest.on('error', (error) => {
          if (!connected && answered === undefined && index + 1 < addresses.length && !settled) {
            clientRequest = undefined;
            withAddress(addresses, index + 1);
            return;
          }
          finish(answered ?? { kind: 'error', error: messageOf(error) });
        });
        clientRequest.on('response', (response) => {
          const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
          answered = { kind: 'status', status: response.statusCode ?? 0, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_RESPONSE_BYTES) finish(answered!);
          });
          response.on('end', () => finish(answered!));
          response.on('error', () => finish(answered!));
          response.on('aborted', () => finish(answered!));
        });
        clientRequest.end(request.body);
      };

      if (isIP(host) !== 0) {
        // checkUrl has already judged a literal address.
        withAddress([host]);
        return;
      }
      const resolved = (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
        if (settled) return;
        if (error !== null) {
          finish({ kind: 'error', error: `resolving ${host} failed (${error.code ?? error.message})` });
          return;
        }
        if (addresses.length === 0) {
          finish({ kind: 'error', error: `resolving ${host} found no address` });
          return;
        }
        for (const { address } of addresses) {
          const denied = policy.denial(address, host);
          if (denied !== undefined) {
            finish({ kind: 'error', error: `${host} resolves to a ${denied} address, which callbacks may not reach`, denied: true });
            return;
          }
        }
        withAddress(addresses.map(({ address }) => address));
      };
      try {
        lookup(host, { all: true }, resolved);
      } catch (error) {
        finish({ kind: 'error', error: `resolving ${host} failed (${messageOf(error)})` });
      }
    });
}

/**
 * `Retry-After` in milliseconds from `now`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
 * A date in the past means at once (0); anything unreadable is ignored.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (text === undefined || text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== undefined && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
