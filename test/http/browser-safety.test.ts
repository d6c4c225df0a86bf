/**
 * A web page must not drive a server on the user's machine (docs/security.md): a foreign Host
 * (DNS rebinding), a foreign Origin, and bodies that are not declared JSON (what forms and no-cors
 * fetches send) are refused before anything happens, on plain HTTP, with TLS and with tokens;
 * allowed hosts and origins work, `*` turns the Host check off, and allowed origins get CORS.
 */
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hashToken, TokenTable } from '../../src/index.js';
import { OriginPolicy } from '../../src/http/origin-policy.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { launchBrowser } from '../helpers/browser.js';
import { makeCa, serverCertificate, type Pem } from '../helpers/certificates.js';
import { http, type HttpReply } from '../helpers/http.js';
import { httpAddressOf, runCli, spawnServer } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const errorInfo = (json: any) => json?.error?.details?.find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
const NON_JSON_TYPES = ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml'];

async function operationNames(server: TestServer): Promise<string[]> {
  return (await server.longrun.store.list({ parent: '', limit: 1000, now: Date.now() })).map((record) => record.name);
}

/** A running operation to try to cancel, made over gRPC. */
async function running(server: TestServer, metadata: Record<string, string> = {}): Promise<string> {
  return (await server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 600 }, steps: 1 }, metadata)).name;
}

function assertRefused(reply: HttpReply, status: number, reason: string, option?: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.json.error.code, status);
  const info = errorInfo(reply.json);
  assert.equal(info.reason, reason);
  assert.equal(info.domain, 'longrun');
  if (option !== undefined) {
    assert.equal(info.metadata.option, option);
    assert.ok(reply.json.error.message.includes(option), `the message names ${option}: ${reply.json.error.message}`);
  }
  assert.equal(reply.headers['access-control-allow-origin'], undefined, 'no CORS grant on a refusal');
}

/** A request written byte for byte (no Host, no Content-Type...); resolves with the whole answer. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

describe('a loopback server refuses what a web page could send it', { timeout: 180_000 }, () => {
  let server: TestServer;
  let port: string;
  const url = (path: string) => `${server.httpUrl}${path}`;
  before(async () => {
    server = await startTestServer({ http: {} });
    port = new URL(server.httpUrl).port;
  });
  after(() => server?.close());

  it('a foreign Host (GET and POST, the console too) is 421 naming --http-allowed-hosts, and creates, cancels or reveals nothing', async () => {
    const victim = await running(server);
    const before = await operationNames(server);
    const host = { host: `attacker.example:${port}` };
    for (const path of ['/v1/operations', `/v1/${victim}`, `/v1/${victim}/status`, '/console/', '/console/api/operations', '/openapi.json']) {
      const reply = await http('GET', url(path), { headers: host });
      assertRefused(reply, 421, 'HOST_NOT_ALLOWED', '--http-allowed-hosts');
      assert.ok(!reply.text.includes(victim.slice('operations/'.length)), `${path} reveals no operation`);
    }
    assertRefused(await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: host }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('POST', url(`/v1/${victim}:cancel`), { body: {}, headers: host }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('POST', url(`/v1/${victim}/status:cancel`), { headers: host }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('DELETE', url(`/v1/${victim}`), { headers: host }), 421, 'HOST_NOT_ALLOWED');
    assert.deepEqual(await operationNames(server), before, 'nothing created or deleted');
    assert.equal((await server.longrun.get(victim)).cancelRequested, false, 'nothing cancelled');
    await server.longrun.operations.cancel(victim, server.longrun.caller);
  });

  it('names that could be rebound are refused, whatever their case, dots or port; loopback names, IP literals and no Host pass', async () => {
    for (const host of [
      `attacker.example:${port}`,
      `ATTACKER.example.:${port}`,
      'attacker.example',
      `localhost.attacker.example:${port}`,
      `127.0.0.1.nip.io:${port}`,
      `2130706433:${port}`, // 127.0.0.1 as one number: a name to DNS, never what a browser sends for the address
      `[::1]x:${port}`,
      `a b:${port}`,
    ]) {
      assertRefused(await http('GET', url('/v1/operations'), { headers: { host } }), 421, 'HOST_NOT_ALLOWED');
    }
    for (const host of [
      `localhost:${port}`,
      `LocalHost:${port}`,
      `localhost.:${port}`,
      'localhost',
      `app.localhost:${port}`,
      `127.0.0.1:${port}`,
      `127.0.0.1:1`,
      `[::1]:${port}`,
      `[0:0:0:0:0:0:0:1]`,
      `192.168.1.20:${port}`,
    ]) {
      const reply = await http('GET', url('/v1/operations'), { headers: { host } });
      assert.equal(reply.status, 200, `${host}: ${reply.text}`);
    }
    // HTTP/1.0 allows no Host (a browser always sends one).
    assert.match(await raw(Number(port), 'GET /v1/operations HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
  });

  it('a body that does not say application/json is 415, whatever it is, and starts or cancels nothing', async () => {
    const victim = await running(server);
    const before = await operationNames(server);
    for (const type of NON_JSON_TYPES) {
      assertRefused(await http('POST', url('/v1/sleep'), { body: '{"duration":"0s"}', headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertRefused(await http('POST', url('/v1/sleep'), { body: 'duration=0s', headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertRefused(await http('POST', url(`/v1/${victim}:cancel`), { body: '{}', headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      // A type that is not JSON is refused even without a body (fetch sends text/plain for body: '').
      assertRefused(await http('POST', url(`/v1/${victim}:cancel`), { headers: { 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    // A body with no type at all, framed by length or in chunks.
    const host = `Host: 127.0.0.1:${port}\r\nConnection: close\r\n`;
    const untyped = await raw(Number(port), `POST /v1/sleep HTTP/1.1\r\n${host}Content-Length: 17\r\n\r\n{"duration":"0s"}`);
    assert.match(untyped, /^HTTP\/1\.1 415 [^]*"reason":"UNSUPPORTED_MEDIA_TYPE"/);
    const chunked = await raw(Number(port), `POST /v1/${victim}:cancel HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`);
    assert.match(chunked, /^HTTP\/1\.1 415 [^]*"reason":"UNSUPPORTED_MEDIA_TYPE"/);
    assert.deepEqual(await operationNames(server), before, 'nothing created');
    assert.equal((await server.longrun.get(victim)).cancelRequested, false, 'nothing cancelled');

    // JSON, with or without parameters, is served; so is a POST with neither body nor type (curl -X POST NAME:cancel).
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8']) {
      assert.equal((await http('POST', url('/v1/sleep'), { body: '{"duration":"0s"}', headers: { 'content-type': type } })).status, 202, type);
    }
    const bare = await http('POST', url(`/v1/${victim}:cancel`));
    assert.equal(bare.status, 200, bare.text);
    assert.equal((await server.longrun.get(victim)).cancelRequested || (await server.longrun.get(victim)).done, true);
  });

  it('a foreign Origin is 403 naming --http-cors-origins, for reads, writes and preflights; the server\'s own origin passes', async () => {
    const victim = await running(server);
    const before = await operationNames(server);
    for (const origin of ['http://evil.example', `http://127.0.0.1:${Number(port) + 1}`, 'null', `http://localhost:${port}`, 'https://127.0.0.1']) {
      const headers = { origin };
      const list = await http('GET', url('/v1/operations'), { headers });
      assertRefused(list, 403, 'ORIGIN_NOT_ALLOWED', '--http-cors-origins');
      assert.ok(!list.text.includes(victim.slice('operations/'.length)), 'reveals no operation');
      assertRefused(await http('GET', url('/console/api/operations'), { headers }), 403, 'ORIGIN_NOT_ALLOWED');
      assertRefused(await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers }), 403, 'ORIGIN_NOT_ALLOWED');
      assertRefused(await http('POST', url(`/v1/${victim}:cancel`), { body: {}, headers }), 403, 'ORIGIN_NOT_ALLOWED');
      const preflight = await http('OPTIONS', url('/v1/sleep'), { headers: { ...headers, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
      assertRefused(preflight, 403, 'ORIGIN_NOT_ALLOWED');
    }
    assert.deepEqual(await operationNames(server), before, 'nothing created');
    assert.equal((await server.longrun.get(victim)).cancelRequested, false, 'nothing cancelled');

    // The server's own origin (as its console's pages send it); on plain HTTP an https page of the
    // same host and port too (a proxy in front terminating TLS).
    for (const origin of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, `HTTP://127.0.0.1:${port}`]) {
      const created = await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: { origin } });
      assert.equal(created.status, 202, `${origin}: ${created.text}`);
      assert.equal(created.headers['access-control-allow-origin'], undefined, 'same-origin needs no CORS');
    }
    const named = await http('GET', url('/v1/operations'), { headers: { host: `localhost:${port}`, origin: `http://localhost:${port}` } });
    assert.equal(named.status, 200);
    const defaultPort = await http('GET', url('/v1/operations'), { headers: { host: 'localhost', origin: 'http://localhost' } });
    assert.equal(defaultPort.status, 200, 'a Host without a port is at the scheme\'s default port');
    await server.longrun.operations.cancel(victim, server.longrun.caller);
  });

  it('a rebinding-style request (Host and Origin both the attacker\'s name) is refused and does nothing', async () => {
    const victim = await running(server);
    const before = await operationNames(server);
    const headers = { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` };
    const list = await http('GET', url('/v1/operations'), { headers });
    assertRefused(list, 421, 'HOST_NOT_ALLOWED');
    assert.ok(!list.text.includes(victim.slice('operations/'.length)));
    assertRefused(await http('GET', url(`/v1/${victim}`), { headers }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('POST', url(`/v1/${victim}:cancel`), { body: {}, headers }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await http('DELETE', url(`/v1/${victim}`), { headers }), 421, 'HOST_NOT_ALLOWED');
    assert.deepEqual(await operationNames(server), before);
    assert.equal((await server.longrun.get(victim)).cancelRequested, false);
    await server.longrun.operations.cancel(victim, server.longrun.caller);
  });
});

describe('allowed hosts and CORS origins', { timeout: 180_000 }, () => {
  const APP = 'https://app.example';
  let server: TestServer;
  let port: string;
  const url = (path: string) => `${server.httpUrl}${path}`;
  before(async () => {
    server = await startTestServer({ http: { allowedHosts: ['longrun.example', '.corp.example'], corsOrigins: [APP, 'http://localhost:3000/'] } });
    port = new URL(server.httpUrl).port;
  });
  after(() => server?.close());

  it('answers the names it was given (a leading dot for subdomains), with any port, and refuses others', async () => {
    for (const host of ['longrun.example', `LONGRUN.example.:${port}`, `corp.example:${port}`, `ops.corp.example:${port}`, `localhost:${port}`]) {
      assert.equal((await http('GET', url('/v1/operations'), { headers: { host } })).status, 200, host);
    }
    for (const host of ['evil.example', `longrun.example.evil:${port}`, `evilcorp.example:${port}`]) {
      assertRefused(await http('GET', url('/v1/operations'), { headers: { host } }), 421, 'HOST_NOT_ALLOWED');
    }
  });

  it('answers preflights of an allowed origin, grants it CORS on answers (errors too), and no other origin', async () => {
    const preflight = await http('OPTIONS', url('/v1/sleep'), {
      headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization, idempotency-key' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], APP);
    assert.match(String(preflight.headers['access-control-allow-methods']), /\bPOST\b/);
    assert.match(String(preflight.headers['access-control-allow-methods']), /\bDELETE\b/);
    assert.equal(preflight.headers['access-control-allow-headers'], 'content-type, authorization, idempotency-key');
    assert.match(String(preflight.headers['vary']), /Origin/);
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);

    const created = await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: { origin: APP } });
    assert.equal(created.status, 202);
    assert.equal(created.headers['access-control-allow-origin'], APP);
    const exposed = String(created.headers['access-control-expose-headers']).split(/,\s*/);
    for (const header of ['location', 'operation-location', 'retry-after', 'longrun-progress-percent']) assert.ok(exposed.includes(header), `${header} exposed: ${exposed}`);
    assert.match(String(created.headers['vary']), /Origin/);
    const missing = await http('GET', url('/v1/operations/nope'), { headers: { origin: 'http://localhost:3000' } });
    assert.ok(missing.status >= 400, missing.text);
    assert.equal(missing.headers['access-control-allow-origin'], 'http://localhost:3000', 'a page of an allowed origin can read the error');

    // The same server's own answers carry Vary: Origin (caches) but no grant.
    const own = await http('GET', url('/v1/operations'));
    assert.equal(own.headers['access-control-allow-origin'], undefined);
    assert.match(String(own.headers['vary']), /Origin/);

    const before = await operationNames(server);
    for (const origin of ['https://evil.example', 'http://app.example', 'https://app.example:8443']) {
      const refused = await http('OPTIONS', url('/v1/sleep'), { headers: { origin, 'access-control-request-method': 'POST' } });
      assertRefused(refused, 403, 'ORIGIN_NOT_ALLOWED');
      assertRefused(await http('POST', url('/v1/sleep'), { body: { duration: '0s' }, headers: { origin } }), 403, 'ORIGIN_NOT_ALLOWED');
    }
    assert.deepEqual(await operationNames(server), before);
    // Still JSON only, whatever the origin.
    assertRefused(await http('POST', url('/v1/sleep'), { body: 'duration=0s', headers: { origin: APP, 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('refuses malformed entries, naming them', () => {
    assert.throws(() => new OriginPolicy({ allowedHosts: ['longrun.example:8080'] }), /"longrun\.example:8080" is not a host name.*no port/);
    assert.throws(() => new OriginPolicy({ allowedHosts: ['http://longrun.example'] }), /not a host name/);
    assert.throws(() => new OriginPolicy({ corsOrigins: ['https://app.example/path'] }), /"https:\/\/app\.example\/path" is not an origin/);
    assert.throws(() => new OriginPolicy({ corsOrigins: ['*'] }), /not an origin/);
    assert.throws(() => new OriginPolicy({ corsOrigins: ['app.example'] }), /not an origin/);
    assert.doesNotThrow(() => new OriginPolicy({ allowedHosts: ['*', '::1', '[::1]', '10.0.0.1', '.example.com'], corsOrigins: ['http://[::1]:3000'] }));
  });
});

describe('allowedHosts * (behind a proxy that checks Host)', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: { allowedHosts: ['*'] } });
  });
  after(() => server?.close());

  it('answers any Host, and still refuses foreign origins and bodies that are not JSON', async () => {
    const port = new URL(server.httpUrl).port;
    assert.equal((await http('GET', `${server.httpUrl}/v1/operations`, { headers: { host: `longrun.internal:${port}` } })).status, 200);
    const proxied = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: { host: 'longrun.example.com', origin: 'https://longrun.example.com' } });
    assert.equal(proxied.status, 202, 'a page served through the proxy is same-origin');
    assert.equal(proxied.headers['location'], `http://longrun.example.com/v1/${proxied.json.name}`);
    const before = await operationNames(server);
    assertRefused(await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: { origin: 'https://evil.example' } }), 403, 'ORIGIN_NOT_ALLOWED');
    assertRefused(await http('POST', `${server.httpUrl}/v1/sleep`, { body: '{}', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.deepEqual(await operationNames(server), before);
  });
});

describe('the same over TLS with bearer tokens', { timeout: 180_000 }, () => {
  const TOKEN = 'alice-browser-safety-token';
  const bearer = { authorization: `Bearer ${TOKEN}` };
  let ca: Pem;
  let server: TestServer;
  let port: string;
  const url = (path: string) => `${server.httpUrl}${path}`;
  const call = (method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}) =>
    http(method, url(path), { ...options, tls: { ca: ca.cert, servername: 'localhost' } });
  before(async () => {
    ca = await makeCa();
    const tls = await serverCertificate(ca);
    const auth = { tokens: TokenTable.parse(`${hashToken(TOKEN)} alice`) };
    server = await startTestServer({ serve: { auth }, http: { tls: { cert: tls.cert, key: tls.key }, auth, corsOrigins: ['https://app.example'] } });
    port = new URL(server.httpUrl).port;
    assert.match(server.httpUrl, /^https:/);
  });
  after(() => server?.close());

  it('a valid token does not let a foreign Host, a foreign Origin or a non-JSON body in; the own https origin and allowed ones work', async () => {
    const victim = await running(server, bearer);
    const before = await operationNames(server);
    const attacker = { ...bearer, host: `attacker.example:${port}`, origin: `https://attacker.example:${port}` };
    assertRefused(await call('GET', '/v1/operations', { headers: attacker }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await call('POST', '/v1/sleep', { body: { duration: '0s' }, headers: attacker }), 421, 'HOST_NOT_ALLOWED');
    assertRefused(await call('POST', `/v1/${victim}:cancel`, { body: {}, headers: attacker }), 421, 'HOST_NOT_ALLOWED');
    for (const origin of ['https://evil.example', `http://127.0.0.1:${port}`]) {
      // An http page is not this https server's own, even on the same host and port.
      assertRefused(await call('POST', '/v1/sleep', { body: { duration: '0s' }, headers: { ...bearer, origin } }), 403, 'ORIGIN_NOT_ALLOWED');
      assertRefused(await call('GET', '/v1/operations', { headers: { ...bearer, origin } }), 403, 'ORIGIN_NOT_ALLOWED');
    }
    for (const type of NON_JSON_TYPES) {
      assertRefused(await call('POST', '/v1/sleep', { body: '{"duration":"0s"}', headers: { ...bearer, 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      assertRefused(await call('POST', `/v1/${victim}:cancel`, { body: '{}', headers: { ...bearer, 'content-type': type } }), 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
    assert.deepEqual(await operationNames(server), before, 'nothing created');
    assert.equal((await server.longrun.get(victim)).cancelRequested, false, 'nothing cancelled');

    // Refusals come before authentication: the answer is the same without a token.
    assertRefused(await call('GET', '/v1/operations', { headers: { host: `attacker.example:${port}` } }), 421, 'HOST_NOT_ALLOWED');
    // The preflight carries no token (browsers never send one with it) and is still answered for an allowed origin.
    const preflight = await call('OPTIONS', '/v1/sleep', { headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-headers'], 'authorization,content-type');

    for (const origin of [`https://127.0.0.1:${port}`, 'https://app.example']) {
      const created = await call('POST', '/v1/sleep', { body: { duration: '0s' }, headers: { ...bearer, origin } });
      assert.equal(created.status, 202, `${origin}: ${created.text}`);
    }
    const own = await call('GET', '/v1/operations', { headers: { ...bearer, host: `localhost:${port}`, origin: `https://localhost:${port}` } });
    assert.equal(own.status, 200);
    const anonymous = await call('GET', '/v1/operations', { headers: { origin: `https://127.0.0.1:${port}` } });
    assert.equal(anonymous.status, 401, 'and a same-origin request still needs its token');
    assert.equal((await call('POST', `/v1/${victim}:cancel`, { body: {}, headers: bearer })).status, 200);
  });
});

describe('longrun serve --http-allowed-hosts and --http-cors-origins', { timeout: 180_000 }, () => {
  const dir = tempDir();
  after(() => dir.remove());

  it('answers the given names and origins, and refuses a malformed one at start (exit 2)', async () => {
    const server = await spawnServer(dir.file('db'), ['--enable-sleeper', '--http-allowed-hosts', 'longrun.example', '--http-cors-origins', 'https://app.example']);
    try {
      const base = await httpAddressOf(server);
      const port = new URL(base).port;
      assert.equal((await http('GET', `${base}/v1/operations`, { headers: { host: `longrun.example:${port}` } })).status, 200);
      assertRefused(await http('GET', `${base}/v1/operations`, { headers: { host: `attacker.example:${port}` } }), 421, 'HOST_NOT_ALLOWED', '--http-allowed-hosts');
      const created = await http('POST', `${base}/v1/sleep`, { body: { duration: '0s' }, headers: { origin: 'https://app.example' } });
      assert.equal(created.status, 202);
      assert.equal(created.headers['access-control-allow-origin'], 'https://app.example');
      assertRefused(await http('POST', `${base}/v1/sleep`, { body: { duration: '0s' }, headers: { origin: 'https://evil.example' } }), 403, 'ORIGIN_NOT_ALLOWED');
    } finally {
      await server.stop();
    }
    for (const [flag, value] of [['--http-allowed-hosts', 'bad host'], ['--http-cors-origins', 'app.example']] as const) {
      const result = await runCli(['serve', '--port', '0', '--http-port', 'off', '--db', dir.file('never.db'), flag, value]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`${flag}.*"${value}"`));
    }
  });
});

/** The page's globals, inside page.evaluate (this project compiles without the DOM library). */
declare const document: any;

/** A server that answers as `handler` says at the time; the test swaps it, as DNS rebinding swaps the address. */
async function switchable(first: RequestListener): Promise<{ port: number; use(handler: RequestListener): void; close(): Promise<void> }> {
  let current = first;
  const server = createServer((req, res) => current(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    use: (handler) => (current = handler),
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const ATTACKER_PAGE: RequestListener = (_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>cute cats</title><p>cats');

describe('attacks from a real page in Chromium', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: {} });
  });
  after(() => server?.close());

  it('a page of another site can neither start, cancel nor read with simple requests, forms or CORS; rebound to the server, it gets 421', async (t) => {
    // attacker.example is the attacker's name; the browser resolves it to this machine, as a DNS
    // answer with a short TTL would once the page is loaded.
    const chromium = await launchBrowser(t, ['--host-resolver-rules=MAP attacker.example 127.0.0.1']);
    if (chromium === undefined) return;
    const attacker = await switchable(ATTACKER_PAGE);
    try {
      const victim = await running(server);
      const before = await operationNames(server);
      const page = await chromium.browser.newPage();
      page.setDefaultTimeout(15_000);
      const answered: string[] = [];
      page.on('response', (response) => {
        if (!response.url().startsWith('data:')) answered.push(`${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`);
      });
      await page.goto(`http://attacker.example:${attacker.port}/`);

      // Cross-site, from the attacker's origin to the loopback server.
      const target = server.httpUrl;
      const outcomes = await page.evaluate(
        async ({ target, victim }) => {
          const attempt = async (what: string, call: () => Promise<Response>) => {
            try {
              const response = await call();
              return `${what}: ${response.type} ${response.status} ${response.type === 'opaque' ? '' : await response.text()}`;
            } catch (error) {
              return `${what}: blocked (${(error as Error).name})`;
            }
          };
          const body = '{"duration":"0s"}';
          const results = [
            await attempt('text/plain', () => fetch(`${target}/v1/sleep`, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body })),
            await attempt('form-urlencoded', () => fetch(`${target}/v1/sleep`, { method: 'POST', mode: 'no-cors', body: new URLSearchParams({ duration: '0s' }) })),
            await attempt('no type, no body', () => fetch(`${target}/v1/${victim}:cancel`, { method: 'POST', mode: 'no-cors' })),
            await attempt('JSON with CORS', () => fetch(`${target}/v1/sleep`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })),
            await attempt('read with CORS', () => fetch(`${target}/v1/operations`)),
          ];
          // A form posting text/plain into a frame: the classic CSRF.
          const frame = document.createElement('iframe');
          frame.name = 'sink';
          document.body.append(frame);
          const form = document.createElement('form');
          Object.assign(form, { method: 'POST', action: `${target}/v1/sleep`, enctype: 'text/plain', target: 'sink' });
          const field = document.createElement('input');
          Object.assign(field, { name: '{"duration":"0s","x":"', value: '"}' });
          form.append(field);
          document.body.append(form);
          const loaded = new Promise((resolve) => frame.addEventListener('load', resolve, { once: true }));
          form.submit();
          await loaded;
          return results;
        },
        { target, victim },
      );
      for (const outcome of outcomes.slice(0, 3)) assert.match(outcome, /: opaque 0 $/, outcome);
      for (const outcome of outcomes.slice(3)) assert.match(outcome, /: blocked \(TypeError\)$/, outcome);
      // The server saw the simple requests and the form (a preflight stops the others in the
      // browser) and refused each for its Origin, the first rule a page breaks.
      const toServer = answered.filter((line) => !line.startsWith('GET / '));
      assert.ok(toServer.length >= 4, answered.join('\n'));
      assert.deepEqual(toServer.filter((line) => !/ 403$/.test(line)), [], answered.join('\n'));

      // DNS rebinding: the attacker's name now points at longrun (here: the same port now answers
      // as longrun's gateway), and the page calls it same-origin, with JSON, no preflight needed.
      attacker.use(server.longrun.http.handler());
      const rebound = await page.evaluate(async () => {
        const list = await fetch('/v1/operations');
        const created = await fetch('/v1/sleep', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"duration":"0s"}' });
        const console = await fetch('/console/api/operations');
        return { list: [list.status, await list.text()], created: created.status, console: console.status };
      });
      assert.equal(rebound.list[0], 421);
      assert.ok(!String(rebound.list[1]).includes(victim.slice('operations/'.length)), 'the list was not revealed');
      assert.equal(rebound.created, 421);
      assert.equal(rebound.console, 421);

      assert.deepEqual(await operationNames(server), before, 'nothing was created');
      assert.equal((await server.longrun.get(victim)).cancelRequested, false, 'nothing was cancelled');
      await server.longrun.operations.cancel(victim, server.longrun.caller);
    } finally {
      await chromium.close();
      await attacker.close();
    }
  });
});
