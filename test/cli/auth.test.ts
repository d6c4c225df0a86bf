import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BUNDLED_PROTO_FILES } from '../../src/index.js';
import { clientCertificate, makeCa, serverCertificate } from '../helpers/certificates.js';
import { runCli, spawnServer, type ServerProcess } from '../helpers/process.js';
import { GenericCaller } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const SLEEP = '/longrun.testing.v1.Sleeper/Sleep';
const sleepRequest = { duration: { seconds: 0, nanos: 0 }, steps: 1 };

describe('longrun hash-token', { timeout: 180_000 }, () => {
  it('prints the token-file line for the token on stdin, and nothing of the token', async () => {
    const token = 'Zm9vYmFyLXRva2VuLTEyMw';
    const result = await runCli(['hash-token', 'dave'], { input: `${token}\n` });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${createHash('sha256').update(token).digest('hex')} dave\n`);
    assert.doesNotMatch(result.stdout + result.stderr, new RegExp(token));
  });

  it('is a usage error without a principal, with a bad principal or without a token', async () => {
    assert.equal((await runCli(['hash-token'], { input: 'x' })).code, 2);
    assert.equal((await runCli(['hash-token', '*'], { input: 'x' })).code, 2);
    assert.equal((await runCli(['hash-token', 'dave'], { input: '' })).code, 2);
  });
});

describe('longrun serve with a token file and TLS (a real process)', { timeout: 180_000 }, () => {
  const dir = tempDir();
  const token = 'dave-secret-token-0042';
  let server: ServerProcess;
  let env: Record<string, string>;
  let caller: GenericCaller;
  let clientCert: { cert: string; key: string };

  before(async () => {
    const ca = await makeCa();
    const serverPem = await serverCertificate(ca);
    clientCert = await clientCertificate(ca, 'erin');
    writeFileSync(dir.file('ca.pem'), ca.cert);
    writeFileSync(dir.file('server.pem'), serverPem.cert);
    writeFileSync(dir.file('server-key.pem'), serverPem.key);
    writeFileSync(dir.file('erin.pem'), clientCert.cert);
    writeFileSync(dir.file('erin-key.pem'), clientCert.key);
    const line = await runCli(['hash-token', 'dave'], { input: token });
    writeFileSync(dir.file('tokens'), `# longrun tokens\n${line.stdout}`);
    server = await spawnServer(dir.file('auth.db'), [
      '--enable-sleeper',
      '--token-file', dir.file('tokens'),
      '--tls-cert', dir.file('server.pem'),
      '--tls-key', dir.file('server-key.pem'),
      '--tls-client-ca', dir.file('ca.pem'),
      '--admins', 'dave',
    ]);
    env = { LONGRUN_ADDRESS: server.address, LONGRUN_TLS_CA: dir.file('ca.pem') };
    caller = new GenericCaller(
      server.address,
      BUNDLED_PROTO_FILES,
      grpc.credentials.createSsl(Buffer.from(ca.cert), Buffer.from(clientCert.key), Buffer.from(clientCert.cert)),
    );
  });
  after(async () => {
    caller.close();
    await server.stop();
    dir.remove();
  });

  it('names callers by client certificate and by token; the CLI client speaks TLS, mTLS and LONGRUN_TOKEN', async () => {
    const { name } = await caller.call<{ name: string }>(SLEEP, sleepRequest);
    const mtls = ['--tls-cert', dir.file('erin.pem'), '--tls-key', dir.file('erin-key.pem')];
    const asErin = await runCli(['wait', name, ...mtls], { env });
    assert.equal(asErin.code, 0, asErin.stderr);
    assert.equal(JSON.parse(asErin.stdout).done, true);
    // dave is an admin by token (sent over erin's certificate connection, which the server requires).
    const asDave = await runCli(['list', ...mtls], { env: { ...env, LONGRUN_TOKEN: token } });
    assert.equal(asDave.code, 0, asDave.stderr);
    assert.match(asDave.stdout, new RegExp(name));
    const wrongToken = await runCli(['get', name, ...mtls], { env: { ...env, LONGRUN_TOKEN: 'nope' } });
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /bearer token is not valid/);
    const withoutCertificate = await runCli(['get', name], { env: { ...env, LONGRUN_TOKEN: token } });
    assert.equal(withoutCertificate.code, 3, 'refused at the handshake: unreachable');
    assert.doesNotMatch(server.stderr(), new RegExp(token), 'the token is never logged');
  });
});

describe('longrun serve refuses dangerous or meaningless combinations (exit 2, saying why)', { timeout: 180_000 }, () => {
  const dir = tempDir();
  before(() => writeFileSync(dir.file('tokens'), `${'a'.repeat(64)} someone\n`));
  after(() => dir.remove());

  const refused = async (args: string[], why: RegExp) => {
    const result = await runCli(['serve', '--port', '0', '--http-port', 'off', '--db', dir.file('never.db'), ...args]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, why);
  };

  it('a non-loopback address without authentication', () => refused(['--host', '0.0.0.0'], /no authentication is configured/));
  it('bearer tokens on a non-loopback address without TLS', () =>
    refused(['--host', '::', '--token-file', dir.file('tokens')], /bearer tokens in clear/));
  it('a client CA without a server certificate', () => refused(['--tls-client-ca', dir.file('tokens')], /needs --tls-cert/));
  it('half a key pair', () => refused(['--tls-cert', dir.file('tokens')], /go together/));
  it('admins without authentication', () => refused(['--admins', 'root'], /--admins needs authentication/));
  it('a token file with a malformed line, naming the line', async () => {
    writeFileSync(dir.file('bad-tokens'), `# ok\n${'b'.repeat(64)} fine\nnot-a-hash someone\n`);
    await refused(['--token-file', dir.file('bad-tokens')], /line 3: the first column must be the SHA-256/);
  });
  it('a token file that cannot be read', () => refused(['--token-file', dir.file('missing')], /token file .*missing/));
});
