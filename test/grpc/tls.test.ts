import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BUNDLED_PROTO_FILES, hashToken, OperationsClient, TokenTable } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { bufCurlUrl } from '../helpers/buf-curl.js';
import { clientCertificate, makeCa, serverCertificate, type Pem } from '../helpers/certificates.js';
import { GenericCaller, startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';
import { tempDir } from '../helpers/temp.js';

const sleep = (ms: number) => ({ duration: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }, steps: 1 });

/** A connection refused at the TLS handshake never reaches a handler: UNAVAILABLE, without details. */
async function refusedAtHandshake(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: grpc.ServiceError) => {
    assert.equal(error.code, grpc.status.UNAVAILABLE, `expected UNAVAILABLE, got ${error.code}: ${error.details}`);
    return true;
  });
}

describe('TLS and mutual TLS', { timeout: 180_000 }, () => {
  let ca: Pem;
  let otherCa: Pem;
  let serverPem: Pem;
  const files = tempDir('longrun-tls-');

  before(async () => {
    ca = await makeCa();
    otherCa = await makeCa('some other CA');
    serverPem = await serverCertificate(ca);
  });
  after(() => files.remove());

  describe('TLS with bearer tokens', () => {
    let server: TestServer;
    const token = 'tls-token-5c1d';

    before(async () => {
      server = await startTestServer({
        serve: { auth: { tokens: TokenTable.parse(`${hashToken(token)} carol`) } },
        listen: { tls: { cert: serverPem.cert, key: serverPem.key } },
        clientOptions: { tls: { ca: Buffer.from(ca.cert) }, token },
      });
    });
    after(() => server.close());

    it('serves a client that verifies the server against its CA; the token names the principal', async () => {
      const created = await server.call<{ name: string }>(SLEEP_METHOD, sleep(0), { authorization: `Bearer ${token}` });
      const { operation } = await server.client.wait(created.name, 5000);
      assert.equal(operation.done, true);
      assert.equal((await server.longrun.store.get(created.name, Date.now()))?.owner, 'carol');
    });

    it('still needs the token over TLS', async () => {
      const anonymous = new OperationsClient(server.address, { tls: { ca: Buffer.from(ca.cert) } });
      try {
        await rejectsWith(anonymous.list(), grpc.status.UNAUTHENTICATED);
      } finally {
        anonymous.close();
      }
    });

    it('refuses plaintext clients and clients that do not trust its CA', async () => {
      const plaintext = new OperationsClient(server.address, { token });
      const untrusting = new OperationsClient(server.address, { token, tls: { ca: Buffer.from(otherCa.cert) } });
      try {
        await refusedAtHandshake(plaintext.list());
        await refusedAtHandshake(untrusting.list());
      } finally {
        plaintext.close();
        untrusting.close();
      }
    });
  });

  describe('mTLS: the client certificate subject names the principal', () => {
    let server: TestServer;
    const callers = new Map<string, GenericCaller>();
    const clients: OperationsClient[] = [];
    const opsToken = 'ops-token-mtls';
    let alice: Pem;

    const callerWith = (pem: Pem | undefined) =>
      new GenericCaller(
        server.address,
        BUNDLED_PROTO_FILES,
        grpc.credentials.createSsl(Buffer.from(ca.cert), pem ? Buffer.from(pem.key) : null, pem ? Buffer.from(pem.cert) : null),
      );
    const operationsWith = (pem: Pem | undefined, token?: string) => {
      const client = new OperationsClient(server.address, {
        ...(token !== undefined && { token }),
        tls: { ca: Buffer.from(ca.cert), ...(pem && { cert: Buffer.from(pem.cert), key: Buffer.from(pem.key) }) },
      });
      clients.push(client);
      return client;
    };

    before(async () => {
      alice = await clientCertificate(ca, 'alice');
      server = await startTestServer({
        serve: { auth: { clientCertificates: true, tokens: TokenTable.parse(`${hashToken(opsToken)} ops`), admins: ['ops'] } },
        listen: { tls: { cert: serverPem.cert, key: serverPem.key, clientCa: ca.cert } },
      });
      callers.set('alice', callerWith(alice));
      callers.set('bob', callerWith(await clientCertificate(ca, 'bob')));
    });
    after(async () => {
      for (const caller of callers.values()) caller.close();
      for (const client of clients) client.close();
      await server.close();
    });

    it("creates operations owned by the certificate's CN, and refuses them to another certificate", async () => {
      const created = await callers.get('alice')!.call<{ name: string }>(SLEEP_METHOD, sleep(60_000));
      assert.equal((await server.longrun.store.get(created.name, Date.now()))?.owner, 'alice');
      const bob = operationsWith(await clientCertificate(ca, 'bob'));
      const error = await rejectsWith(bob.cancel(created.name), grpc.status.PERMISSION_DENIED);
      assert.equal(errorInfoOf(error).reason, 'OPERATION_NOT_OWNED');
      const mine = operationsWith(alice);
      assert.equal((await mine.get(created.name)).operation.done, false);
      await mine.cancel(created.name);
      assert.equal((await mine.wait(created.name, 5000)).operation.error?.code, grpc.status.CANCELLED);
    });

    it('lets a bearer token decide when one is sent with a certificate: an admin token over a certificate connection', async () => {
      const created = await callers.get('bob')!.call<{ name: string }>(SLEEP_METHOD, sleep(0));
      const admin = operationsWith(alice, opsToken);
      assert.equal((await admin.wait(created.name, 5000)).operation.done, true);
      const withUnknownToken = operationsWith(alice, 'not-a-token');
      await rejectsWith(withUnknownToken.list(), grpc.status.UNAUTHENTICATED);
    });

    it('refuses a client without a certificate, and one whose certificate another CA signed, at the handshake', async () => {
      await refusedAtHandshake(operationsWith(undefined).list());
      await refusedAtHandshake(operationsWith(await clientCertificate(otherCa, 'alice')).list());
      await refusedAtHandshake(callerWith(undefined).call(SLEEP_METHOD, sleep(0)));
    });

    it('serves buf curl with a client certificate, through reflection, with health and a bearer token (the examples of docs/operating.md)', async () => {
      const paths = {
        ca: files.file('ca.pem'),
        cert: files.file('alice.pem'),
        key: files.file('alice-key.pem'),
      };
      writeFileSync(paths.ca, ca.cert);
      writeFileSync(paths.cert, alice.cert);
      writeFileSync(paths.key, alice.key);
      const tls = ['--cacert', paths.ca, '--cert', paths.cert, '--key', paths.key];
      const port = server.address.split(':')[1];
      const url = (path: string) => `https://localhost:${port}/${path}`;
      const listed = await bufCurlUrl([...tls, '--list-methods', url('')]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /^google\.longrunning\.Operations\/GetOperation$/m);
      const health = await bufCurlUrl([...tls, '-d', '{"service":""}', url('grpc.health.v1.Health/Check')]);
      assert.equal(health.code, 0, health.stderr);
      assert.deepEqual(JSON.parse(health.stdout), { status: 'SERVING' });
      const created = await callers.get('bob')!.call<{ name: string }>(SLEEP_METHOD, sleep(0));
      const asAdmin = await bufCurlUrl([
        ...tls,
        '-H', `authorization: Bearer ${opsToken}`,
        '-d', JSON.stringify({ name: created.name, timeout: '5s' }),
        url('google.longrunning.Operations/WaitOperation'),
      ]);
      assert.equal(asAdmin.code, 0, asAdmin.stderr);
      assert.equal(JSON.parse(asAdmin.stdout).name, created.name);
      const asAlice = await bufCurlUrl([...tls, '-d', JSON.stringify({ name: created.name }), url('google.longrunning.Operations/GetOperation')]);
      assert.notEqual(asAlice.code, 0);
      assert.match(asAlice.stderr, /permission_denied/i);
    });
  });
});
