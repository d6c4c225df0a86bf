/**
 * A webhook receiver on loopback port 0 for callback tests: it records every POST (headers and
 * raw body) and answers as the test says (a status, or never).
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { within } from './wait.js';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  json: any;
  at: number;
}

/** 'hang': accept and never answer. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  url: string;
  port: number;
  received: Received[];
  /** How the next requests are answered (default 204). */
  answer: (request: Received, index: number) => Answer;
  /** Resolves when `count` requests in all have arrived. */
  count(count: number, ms?: number): Promise<Received[]>;
  /** Distinct webhook-ids received so far. */
  ids(): Set<string>;
  close(): Promise<void>;
}

export async function startReceiver(port = 0, path = '/hooks/longrun'): Promise<Receiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const hanging = new Set<import('node:http').ServerResponse>();
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    answer: () => ({ status: 204 }),
    count: (count, ms = 15_000) => {
      if (receiver.received.length >= count) return Promise.resolve(receiver.received);
      return within(new Promise<void>((resolve) => waiters.push({ count, resolve })), `${count} callback requests (got ${receiver.received.length})`, ms).then(() => receiver.received);
    },
    ids: () => new Set(receiver.received.map((r) => String(r.headers['webhook-id']))),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      const request: Received = { headers: req.headers, body, json, at: Date.now() };
      const index = receiver.received.push(request) - 1;
      for (const waiter of waiters.filter((w) => receiver.received.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      const answer = receiver.answer(request, index);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, answer.headers).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}${path}`;
  return receiver;
}

/** Verifies a received delivery with the standardwebhooks package (an independent implementation); returns the payload. */
export function verified(secret: string, request: Received): any {
  return new Webhook(secret).verify(request.body, {
    'webhook-id': String(request.headers['webhook-id']),
    'webhook-timestamp': String(request.headers['webhook-timestamp']),
    'webhook-signature': String(request.headers['webhook-signature']),
  });
}

/** A fresh `whsec_` secret (32 random bytes). */
export function newSecret(): string {
  return `whsec_${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')}`;
}
