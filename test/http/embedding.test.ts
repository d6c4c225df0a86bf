/**
 * The REST form for an embedding app: routes from its own protos' google.api.http annotations,
 * the gateway mounted as a handler in the app's own node:http server, and TLS with client
 * certificates as the principal.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createLongrun, type Longrun } from '../../src/index.js';
import { clientCertificate, makeCa, serverCertificate } from '../helpers/certificates.js';
import { http } from '../helpers/http.js';
import { silentLogger } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const EXAMPLE_PROTOS = fileURLToPath(new URL('../../../examples/proto', import.meta.url));

describe("an embedding app's own annotated methods, on a handler mounted in its own server", { timeout: 180_000 }, () => {
  const dir = tempDir();
  let longrun: Longrun;
  let base: string;
  const server = createServer();
  before(async () => {
    longrun = await createLongrun({
      databasePath: dir.file('app.db'),
      protoFiles: ['example/reports/v1/reports.proto'],
      includeDirs: [EXAMPLE_PROTOS],
      logger: silentLogger as never,
      pollMs: 50,
    });
    longrun.method<{ title: string; pages: number }>('/example.reports.v1.Reports/GenerateReport', async (request, context) => {
      await context.setMetadata({ pagesDone: request.pages });
      return { title: request.title, pages: request.pages };
    });
    const gateway = longrun.http.handler();
    // The app's server: its own route, then longrun's gateway for everything else.
    server.on('request', (req, res) => (req.url === '/healthz' ? res.end('ok') : gateway(req, res)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    longrun.start();
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await longrun.close();
    dir.remove();
  });

  it('serves the routes of its annotations (with additional_bindings, the path filling a field) next to its own', async () => {
    assert.equal((await http('GET', `${base}/healthz`)).text, 'ok');
    const created = await http('POST', `${base}/v1/reports:generate`, { body: { title: 'Q3', pages: 3 } });
    assert.equal(created.status, 202);
    assert.ok(String(created.headers['location']).startsWith(`${base}/v1/operations/`));
    await longrun.wait(created.json.name);
    const done = await http('GET', created.headers['location'] as string);
    assert.deepEqual(done.json.response, { '@type': 'type.googleapis.com/example.reports.v1.Report', title: 'Q3', pages: 3 });
    assert.deepEqual(done.json.metadata, { '@type': 'type.googleapis.com/example.reports.v1.GenerateReportMetadata', pagesDone: 3 });

    const titled = await http('POST', `${base}/v1/reports/Annual%20report:generate`, { body: { pages: 1 } });
    assert.equal(titled.status, 202);
    const record = await longrun.wait(titled.json.name);
    assert.deepEqual(longrun.registry.unpack(record.response!), { title: 'Annual report', pages: 1 });

    // GetReport is the app's own gRPC method, not a long-running one: over HTTP it is 501.
    const own = await http('GET', `${base}/v1/reports/Q3`);
    assert.equal(own.status, 501);
    assert.equal(own.json.error.status, 'UNIMPLEMENTED');
    const openapi = await http('GET', `${base}/openapi.json`);
    assert.ok(openapi.json.paths['/v1/reports:generate'].post);
  });
});

describe('HTTPS with client certificates (mTLS): the certificate names the principal', { timeout: 180_000 }, () => {
  const dir = tempDir();
  let longrun: Longrun;
  let url: string;
  let ca: Awaited<ReturnType<typeof makeCa>>;
  let alice: Awaited<ReturnType<typeof clientCertificate>>;
  let bob: Awaited<ReturnType<typeof clientCertificate>>;
  before(async () => {
    ca = await makeCa();
    const serverPem = await serverCertificate(ca);
    alice = await clientCertificate(ca, 'alice');
    bob = await clientCertificate(ca, 'bob');
    longrun = await createLongrun({ databasePath: dir.file('tls.db'), logger: silentLogger as never, pollMs: 50 });
    const { addSleeper } = await import('../../src/sleeper/sleeper.js');
    addSleeper(longrun);
    const served = await longrun.http.listen({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: serverPem.cert, key: serverPem.key, clientCa: ca.cert },
      auth: { clientCertificates: true },
    });
    url = served.url;
    longrun.start();
  });
  after(async () => {
    await longrun.close(1000);
    dir.remove();
  });

  it('serves https, refuses a client without a certificate at the handshake, and scopes by the subject CN', async () => {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const created = await http('POST', `${url}/v1/sleep`, { body: { duration: '0s' }, tls: { ca: ca.cert, cert: alice.cert, key: alice.key } });
    assert.equal(created.status, 202);
    assert.ok(String(created.headers['location']).startsWith(`${url}/v1/operations/`));
    const record = await longrun.get(created.json.name);
    assert.equal(record.owner, 'alice');
    const asBob = await http('GET', created.headers['location'] as string, { tls: { ca: ca.cert, cert: bob.cert, key: bob.key } });
    assert.equal(asBob.status, 403);
    await assert.rejects(http('GET', `${url}/v1/operations`, { tls: { ca: ca.cert } }));
  });
});
