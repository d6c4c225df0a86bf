/**
 * What a person at a terminal sees: `buf curl` (through server reflection, no proto files) lists
 * the services, calls them, and prints Any metadata and responses as typed JSON.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { bufCurl } from '../helpers/buf-curl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

describe('server reflection with buf curl', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('lists every method', async () => {
    const { code, stdout, stderr } = await bufCurl(server.address, ['--list-methods', '']);
    assert.equal(code, 0, stderr);
    for (const method of [
      'google.longrunning.Operations/GetOperation',
      'google.longrunning.Operations/ListOperations',
      'google.longrunning.Operations/CancelOperation',
      'google.longrunning.Operations/DeleteOperation',
      'google.longrunning.Operations/WaitOperation',
      'longrun.testing.v1.Sleeper/Sleep',
    ]) {
      assert.match(stdout, new RegExp(`^${method}$`, 'm'));
    }
  });

  it('starts an operation and shows its metadata and response as typed JSON', async () => {
    const started = await bufCurl(server.address, ['-d', '{"duration":"0.05s","steps":2}', SLEEP_METHOD.slice(1)]);
    assert.equal(started.code, 0, started.stderr);
    const { name } = JSON.parse(started.stdout) as { name: string };
    assert.match(name, /^operations\//);
    const waited = await bufCurl(server.address, ['-d', JSON.stringify({ name, timeout: '10s' }), 'google.longrunning.Operations/WaitOperation']);
    assert.equal(waited.code, 0, waited.stderr);
    const operation = JSON.parse(waited.stdout) as {
      done: boolean;
      metadata: { '@type': string; progressPercent: number; attempt: number };
      response: { '@type': string; slept: string; steps: number };
    };
    assert.equal(operation.done, true);
    assert.deepEqual(
      [operation.metadata['@type'], operation.metadata.progressPercent, operation.metadata.attempt],
      ['type.googleapis.com/longrun.testing.v1.SleepMetadata', 100, 1],
    );
    assert.deepEqual(
      [operation.response['@type'], operation.response.slept, operation.response.steps],
      ['type.googleapis.com/longrun.testing.v1.SleepResponse', '0.050s', 2],
    );
  });

  it('shows errors with their ErrorInfo', async () => {
    const { code, stderr } = await bufCurl(server.address, ['-d', '{"name":"operations/AAAAAAAAAAAAAAAAAAAAAA"}', 'google.longrunning.Operations/GetOperation']);
    assert.notEqual(code, 0);
    const error = JSON.parse(stderr) as { code: string; details: { type: string; debug?: { reason: string } }[] };
    assert.equal(error.code, 'not_found');
    assert.equal(error.details[0]?.type, 'google.rpc.ErrorInfo');
  });

  it('answers the standard health check', async () => {
    const { code, stdout, stderr } = await bufCurl(server.address, ['-d', '{"service":"google.longrunning.Operations"}', 'grpc.health.v1.Health/Check']);
    assert.equal(code, 0, stderr);
    assert.deepEqual(JSON.parse(stdout), { status: 'SERVING' });
  });
});
