import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net, { isIP, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AddressPolicy } from '../../src/callbacks/address-policy.js';
import { createSender, MAX_RESPONSE_BYTES, parseRetryAfter, type ConnectOptions, type Network, type SendRequest } from '../../src/callbacks/send.js';
import { hostCertificate, makeCa, type Pem } from '../helpers/certificates.js';
import { eventually, within } from '../helpers/wait.js';

const body = JSON.stringify({ name: 'operations/op-1', done: true });
const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,c2ln' };
const post = (url: string, timeoutMs = 5_000): SendRequest => ({ url, headers, body, timeoutMs });

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A loopback HTTP(S) server on port 0 that records what it receives and answers with `reply`. */
async function serve(
  reply: (request: http.IncomingMessage, response: http.ServerResponse) => void,
  tlsPem?: Pem,
): Promise<{ port: number; received: Received[]; sockets: Set<net.Socket>; close: () => Promise<void> }> {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks).toString() });
      reply(request, response);
    });
  };
  const server = tlsPem === undefined ? http.createServer(handler) : https.createServer({ cert: tlsPem.cert, key: tlsPem.key }, handler);
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    received,
    sockets,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * A resolver from a table and a connector that records every connection asked of it. Public
 * addresses exist only here: `route` sends an allowed one to a loopback port instead, and any
 * connection it has no route for fails the test.
 */
function fakeNetwork(records: Record<string, string[] | (() => string[])>, route: Record<string, number> = {}, extra: Partial<Network> = {}) {
  const lookups: string[] = [];
  const connects: ConnectOptions[] = [];
  const unexpected: string[] = [];
  const network: Network = {
    ...extra,
    lookup: (hostname, options, callback) => {
      lookups.push(hostname);
      assert.equal(options.all, true);
      const entry = records[hostname];
      const addresses = typeof entry === 'function' ? entry() : entry;
      setImmediate(() => {
        if (addresses === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
        else callback(null, addresses.map((address) => ({ address, family: isIP(address) || 4 })));
      });
    },
    connect: (options) => {
      connects.push(options);
      const port = route[options.host];
      if (port === undefined) {
        unexpected.push(`${options.host}:${options.port}`);
        throw new Error(`test network: no connection may be made to ${options.host}`);
      }
      return net.connect({ host: '127.0.0.1', port });
    },
  };
  return { network, lookups, connects, unexpected };
}

describe('createSender: the address policy at connect time', { timeout: 60_000 }, () => {
  const policy = AddressPolicy.parse([]);
  const refusals: Array<[string, string, Record<string, string[]>]> = [
    ['a name resolving to a private address', 'https://rebind.example.com/cb', { 'rebind.example.com': ['10.0.0.1'] }],
    ['a name resolving to loopback', 'https://loop.example.com/cb', { 'loop.example.com': ['127.0.0.1'] }],
    ['one public and one private address', 'https://mixed.example.com/cb', { 'mixed.example.com': ['93.184.216.34', '10.0.0.1'] }],
    ['one public and one loopback IPv6 address', 'https://mixed6.example.com/cb', { 'mixed6.example.com': ['2606:4700:4700::1111', '::1'] }],
    ['an IPv4-mapped loopback address', 'https://mapped.example.com/cb', { 'mapped.example.com': ['::ffff:127.0.0.1'] }],
    ['the metadata address', 'https://meta.example.com/cb', { 'meta.example.com': ['169.254.169.254'] }],
    ['the IPv6 metadata address', 'https://meta6.example.com/cb', { 'meta6.example.com': ['fd00:ec2::254'] }],
    ['the unspecified address', 'https://zero.example.com/cb', { 'zero.example.com': ['0.0.0.0'] }],
    ['an answer that is not an IP literal', 'https://odd.example.com/cb', { 'odd.example.com': ['0177.0.0.1'] }],
  ];
  for (const [what, url, records] of refusals) {
    it(`refuses ${what} without connecting`, async () => {
      const fake = fakeNetwork(records);
      const result = await within(createSender(policy, fake.network)(post(url)), what);
      assert.equal(result.kind, 'error');
      assert.equal(result.kind === 'error' && result.denied, true, JSON.stringify(result));
      assert.match(result.kind === 'error' ? result.error : '', /callbacks may not reach/);
      assert.deepEqual(fake.lookups, [new URL(url).hostname]);
      assert.deepEqual(fake.connects, [], 'no connection was asked for');
    });
  }

  it('refuses literal addresses and plain http again at send time, before any lookup', async () => {
    for (const url of ['https://127.0.0.1/cb', 'https://[::ffff:169.254.169.254]/', 'https://2130706433/', 'http://public.example.com/cb', 'https://user:pw@public.example.com/']) {
      const fake = fakeNetwork({ 'public.example.com': ['93.184.216.34'] });
      const result = await within(createSender(policy, fake.network)(post(url)), url);
      assert.equal(result.kind === 'error' && result.denied, true, `${url}: ${JSON.stringify(result)}`);
      assert.match(result.kind === 'error' ? result.error : '', /^callback\.url: /);
      assert.deepEqual(fake.lookups, [], url);
      assert.deepEqual(fake.connects, [], url);
    }
  });

  it('reports a failed lookup as an error that is not a denial', async () => {
    const fake = fakeNetwork({});
    const result = await within(createSender(policy, fake.network)(post('https://nowhere.example.com/')), 'lookup');
    assert.deepEqual(result, { kind: 'error', error: 'resolving nowhere.example.com failed (ENOTFOUND)' });
    assert.deepEqual(fake.connects, []);
  });

  describe('https to an allowed public name', () => {
    let ca: Pem;
    let server: Awaited<ReturnType<typeof serve>>;
    before(async () => {
      ca = await makeCa();
      server = await serve((_, response) => response.writeHead(204).end(), await hostCertificate(ca, 'public.example.com'));
    });
    after(() => server.close());

    it('resolves once and connects to the checked address only, verifying the certificate for the name', async () => {
      let answers = 0;
      // A rebinding resolver: public the first time, loopback after. Only one lookup may happen.
      const fake = fakeNetwork(
        { 'public.example.com': () => (answers++ === 0 ? ['93.184.216.34'] : ['127.0.0.1']) },
        { '93.184.216.34': server.port },
        { ca: ca.cert },
      );
      const result = await within(createSender(policy, fake.network)(post('https://public.example.com/hooks/done?x=1')), 'https send');
      assert.deepEqual(result, { kind: 'status', status: 204 });
      assert.deepEqual(fake.lookups, ['public.example.com']);
      assert.deepEqual(fake.connects, [{ host: '93.184.216.34', port: 443 }]);
      assert.deepEqual(fake.unexpected, []);
      const [request] = server.received;
      assert.equal(request?.method, 'POST');
      assert.equal(request?.url, '/hooks/done?x=1');
      assert.equal(request?.headers.host, 'public.example.com');
      assert.equal(request?.body, body);
    });

    it('fails on a certificate it cannot trust, and on one for another name', async () => {
      const untrusted = fakeNetwork({ 'public.example.com': ['93.184.216.34'] }, { '93.184.216.34': server.port });
      const first = await within(createSender(policy, untrusted.network)(post('https://public.example.com/')), 'untrusted');
      assert.equal(first.kind, 'error');
      assert.match(first.kind === 'error' ? first.error : '', /certificate/i);
      assert.equal(first.kind === 'error' && first.denied, undefined);

      const misnamed = fakeNetwork({ 'other.example.com': ['93.184.216.35'] }, { '93.184.216.35': server.port }, { ca: ca.cert });
      const second = await within(createSender(policy, misnamed.network)(post('https://other.example.com/')), 'misnamed');
      assert.equal(second.kind, 'error');
      assert.match(second.kind === 'error' ? second.error : '', /altnames|other\.example\.com/i);
      assert.equal(server.received.length, 1, 'neither reached the handler');
    });
  });
});

describe('createSender against loopback servers', { timeout: 60_000 }, () => {
  const policy = AddressPolicy.parse(['127.0.0.1/32']);
  const send = createSender(policy);

  it('200: POSTs the body and headers as given', async () => {
    const server = await serve((_, response) => response.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
    try {
      const result = await within(send(post(`http://127.0.0.1:${server.port}/cb?op=1`)), 'send');
      assert.deepEqual(result, { kind: 'status', status: 200 });
      const [request] = server.received;
      assert.equal(request?.method, 'POST');
      assert.equal(request?.url, '/cb?op=1');
      assert.equal(request?.body, body);
      assert.equal(request?.headers['content-type'], 'application/json');
      assert.equal(request?.headers['content-length'], String(Buffer.byteLength(body)));
      assert.equal(request?.headers['webhook-id'], 'msg_1');
      assert.equal(request?.headers['webhook-timestamp'], '1700000000');
      assert.equal(request?.headers['webhook-signature'], 'v1,c2ln');
      await eventually(() => server.sockets.size === 0, 'the connection is closed after the answer');
    } finally {
      await server.close();
    }
  });

  it('500 and 503 with Retry-After in seconds and as an HTTP date', async () => {
    let retryAfter = '30';
    const server = await serve((_, response) => response.writeHead(retryAfter === '30' ? 500 : 503, { 'retry-after': retryAfter }).end('busy'));
    try {
      assert.deepEqual(await within(send(post(`http://127.0.0.1:${server.port}/`)), 'seconds'), { kind: 'status', status: 500, retryAfterMs: 30_000 });
      retryAfter = new Date(Date.now() + 120_000).toUTCString();
      const result = await within(send(post(`http://127.0.0.1:${server.port}/`)), 'date');
      assert.equal(result.kind === 'status' && result.status, 503);
      const ms = result.kind === 'status' ? result.retryAfterMs ?? -1 : -1;
      assert.ok(ms > 115_000 && ms <= 120_000, `Retry-After date gave ${ms} ms`);
    } finally {
      await server.close();
    }
  });

  it('302: returned as a status, the redirect target receives nothing', async () => {
    const target = await serve((_, response) => response.writeHead(200).end());
    const redirecting = await serve((_, response) => response.writeHead(302, { location: `http://127.0.0.1:${target.port}/stolen` }).end());
    try {
      const result = await within(send(post(`http://127.0.0.1:${redirecting.port}/`)), 'redirect');
      assert.deepEqual(result, { kind: 'status', status: 302 });
      await eventually(() => redirecting.sockets.size === 0, 'the first connection is closed');
      assert.equal(redirecting.received.length, 1);
      assert.equal(target.received.length, 0);
      assert.equal(target.sockets.size, 0);
    } finally {
      await Promise.all([target.close(), redirecting.close()]);
    }
  });

  it('a server that never answers: error "timeout" within the bound, connection dropped', async () => {
    const server = await serve(() => {});
    try {
      const started = performance.now();
      const result = await within(send(post(`http://127.0.0.1:${server.port}/`, 300)), 'timeout', 5_000);
      const elapsed = performance.now() - started;
      assert.deepEqual(result, { kind: 'error', error: 'timeout' });
      assert.ok(elapsed >= 290 && elapsed < 3_000, `took ${elapsed} ms`);
      assert.equal(server.received.length, 1, 'the request itself was delivered');
      await eventually(() => server.sockets.size === 0, 'the sender closed its connection');
    } finally {
      await server.close();
    }
  });

  it('an endless response body: the status stands, reading stops at the limit', async () => {
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let written = 0;
    const server = await serve((_, response) => {
      response.writeHead(200);
      const pump = () => {
        while (!response.destroyed && written < 100 * MAX_RESPONSE_BYTES && response.write(chunk)) written += chunk.length;
        if (!response.destroyed) response.once('drain', pump);
      };
      pump();
    });
    try {
      const result = await within(send(post(`http://127.0.0.1:${server.port}/`, 10_000)), 'endless body', 5_000);
      assert.deepEqual(result, { kind: 'status', status: 200 });
      await eventually(() => server.sockets.size === 0, 'the sender hung up');
      assert.ok(written < 100 * MAX_RESPONSE_BYTES, `the server wrote ${written} bytes before the sender hung up`);
    } finally {
      await server.close();
    }
  });

  it('moves to the next checked address when connecting to one fails', async () => {
    const server = await serve((_, response) => response.writeHead(202).end());
    try {
      const lookups: string[] = [];
      const sender = createSender(AddressPolicy.parse(['dual.example.com']), {
        lookup: (hostname, _options, callback) => {
          lookups.push(hostname);
          // Nothing listens on 127.0.0.2: the first connection is refused.
          setImmediate(() => callback(null, [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }]));
        },
      });
      const result = await within(sender(post(`http://dual.example.com:${server.port}/`)), 'fallback');
      assert.deepEqual(result, { kind: 'status', status: 202 });
      assert.deepEqual(lookups, ['dual.example.com'], 'one resolution for both tries');
      assert.equal(server.received.length, 1);
      assert.equal(server.received[0]?.headers.host, `dual.example.com:${server.port}`);
    } finally {
      await server.close();
    }
  });

  it('with the real resolver: an allowed name (localhost) reaches the loopback server', async () => {
    const server = await serve((_, response) => response.writeHead(200).end());
    try {
      const result = await within(createSender(AddressPolicy.parse(['localhost']))(post(`http://localhost:${server.port}/`)), 'localhost');
      assert.deepEqual(result, { kind: 'status', status: 200 });
      assert.equal(server.received.length, 1);
    } finally {
      await server.close();
    }
  });

  it('connection refused', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const result = await within(send(post(`http://127.0.0.1:${port}/`)), 'refused');
    assert.equal(result.kind, 'error');
    assert.match(result.kind === 'error' ? result.error : '', /ECONNREFUSED/);
    assert.equal(result.kind === 'error' && result.denied, undefined);
  });
});

describe('parseRetryAfter', { timeout: 10_000 }, () => {
  it('reads seconds and HTTP dates, ignores the rest', () => {
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 12:01:30 GMT', now), 90_000);
    assert.equal(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('1.5', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});
