/** What the gateway reads of a request besides its message: the body's JSON, headers, the base URL, answer options. */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { invalidArgument } from '../domain/errors.js';
import type { JsonValue } from '../protos/json.js';
import { bodyTooLarge } from './errors.js';

export async function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<JsonValue | undefined> {
  const declared = Number(req.headers['content-length']);
  if (declared > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBodyBytes) throw bodyTooLarge(maxBodyBytes);
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

/** Google's REST clients ask `$alt=json;enum-encoding=int` for enums as numbers. */
export function wantsIntegerEnums(query: URLSearchParams): boolean {
  return [...query.getAll('$alt'), ...query.getAll('alt')].some((alt) => /(^|;)\s*enum-encoding=int\s*(;|$)/.test(alt));
}

export function decodePathValue(raw: string, field: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalidArgument(field, 'is not valid percent-encoding in the path');
  }
}

export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** The absolute URL clients reached this server at: its Host header when well-formed, else the socket's address. */
export function baseUrl(req: IncomingMessage): string {
  const scheme = (req.socket as Partial<TLSSocket>).encrypted === true ? 'https' : 'http';
  const host = req.headers.host;
  if (host !== undefined && HOST.test(host)) return `${scheme}://${host}`;
  const address = req.socket.localAddress ?? '127.0.0.1';
  return `${scheme}://${address.includes(':') ? `[${address}]` : address}:${req.socket.localPort}`;
}
