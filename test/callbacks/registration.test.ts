/**
 * Asking for a completion callback where none is configured: every way of asking (HTTP header,
 * gRPC metadata, the request's `callback_url` field, the embedding option) is refused
 * FAILED_PRECONDITION naming what was sent, and no operation exists afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { LongrunError } from '../../src/domain/errors.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { errorInfoOf, rejectsWith } from '../helpers/status.js';

const RECEIVER = 'https://hooks.example.com/longrun';

describe('callback registration without a callback configuration', { timeout: 60_000 }, () => {
  let server: TestServer;
  const operationCount = async () => ((await http('GET', `${server.httpUrl}/v1/operations`)).json.operations ?? []).length;

  before(async () => {
    server = await startTestServer({ http: {} });
  });
  after(() => server.close());

  it('HTTP Longrun-Callback-Url: 400 FAILED_PRECONDITION naming the header', async () => {
    const reply = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: { 'Longrun-Callback-Url': RECEIVER } });
    assert.equal(reply.status, 400);
    assert.equal(reply.json.error.status, 'FAILED_PRECONDITION');
    assert.match(reply.json.error.message, /^Longrun-Callback-Url: completion callbacks are not configured/);
    const info = reply.json.error.details.find((d: { '@type': string }) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');
    assert.equal(info.reason, 'CALLBACKS_NOT_CONFIGURED');
    assert.equal(info.metadata.field, 'Longrun-Callback-Url');
  });

  it('gRPC longrun-callback-url metadata and the callback_url field: FAILED_PRECONDITION naming each', async () => {
    const viaMetadata = await rejectsWith(
      server.call(SLEEP_METHOD, { duration: { seconds: 0 } }, { 'longrun-callback-url': RECEIVER }),
      status.FAILED_PRECONDITION,
      /^longrun-callback-url: /,
    );
    assert.equal(errorInfoOf(viaMetadata).metadata.field, 'longrun-callback-url');
    const viaField = await rejectsWith(server.call(SLEEP_METHOD, { duration: { seconds: 0 }, callbackUrl: RECEIVER }), status.FAILED_PRECONDITION, /^callback_url: /);
    assert.equal(errorInfoOf(viaField).reason, 'CALLBACKS_NOT_CONFIGURED');
  });

  it('the embedding option callbackUrl: a LongrunError FAILED_PRECONDITION', async () => {
    await assert.rejects(server.longrun.create(SLEEP_METHOD, { duration: { seconds: 0 } }, { callbackUrl: RECEIVER }), (error: unknown) => {
      assert.ok(error instanceof LongrunError);
      assert.equal(error.code, status.FAILED_PRECONDITION);
      assert.match(error.message, /^callbackUrl: /);
      return true;
    });
  });

  it('created nothing, and a creation without a callback still works', async () => {
    assert.equal(await operationCount(), 0);
    const reply = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' } });
    assert.equal(reply.status, 202);
    assert.equal(await operationCount(), 1);
  });
});
