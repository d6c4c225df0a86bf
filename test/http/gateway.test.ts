/** The HTTP gateway end to end: a real longrun, its gRPC server and its HTTP server on port 0. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { hashToken, TokenTable } from '../../src/index.js';
import { SLEEP_METHOD } from '../../src/sleeper/sleeper.js';
import { http } from '../helpers/http.js';
import { httpAddressOf, spawnServer } from '../helpers/process.js';
import { progressed, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const errorInfo = (json: any) => json.error.details.find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');

describe('HTTP gateway (no authentication)', { timeout: 180_000 }, () => {
  let server: TestServer;
  const url = (path: string) => `${server.httpUrl}${path}`;
  const start = (body: Record<string, unknown>, headers: Record<string, string> = {}) => http('POST', url('/v1/sleep'), { body, headers });

  before(async () => {
    server = await startTestServer({ waitCapMs: 5000, http: { retryAfterCapMs: 4000, maxBodyBytes: 64 * 1024 } });
  });
  after(() => server.close());

  it('answers a creation 202 with the Operation, an absolute Location, Operation-Location and Retry-After', async () => {
    const reply = await start({ duration: '60s', steps: 60 });
    assert.equal(reply.status, 202);
    const name: string = reply.json.name;
    assert.match(name, /^operations\/[A-Za-z0-9_-]{27}$/);
    assert.equal(reply.headers['location'], `${server.httpUrl}/v1/${name}`);
    assert.equal(reply.headers['operation-location'], `${server.httpUrl}/v1/${name}/status`);
    assert.match(String(reply.headers['retry-after']), /^[1-4]$/);
    await http('POST', url(`/v1/${name}:cancel`));
  });

  it('GET of the Location: 200 with Retry-After (from the ETA, capped) while running, result inline and no Retry-After once done', async () => {
    const created = await start({ duration: '60s', steps: 60 });
    const name: string = created.json.name;
    // The first progress report carries the ETA 60 s away.
    await progressed(server.longrun, name);
    const running = await http('GET', created.headers['location'] as string);
    assert.equal(running.status, 200);
    assert.equal(running.json.name, name);
    assert.equal(running.json.done, undefined, 'done: false is the default, omitted in proto3 JSON');
    assert.equal(running.headers['retry-after'], '4', 'an ETA a minute away is capped at --http-retry-after-cap (4 s here)');
    assert.equal(running.json.metadata['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata');
    await http('POST', url(`/v1/${name}:cancel`));

    const quick = await start({ duration: '0s' });
    await server.longrun.wait(quick.json.name);
    const done = await http('GET', quick.headers['location'] as string);
    assert.equal(done.status, 200);
    assert.equal(done.json.done, true);
    assert.equal(done.json.response['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(done.json.response.slept, '0s', 'Duration as a string');
    assert.equal(done.headers['retry-after'], undefined);
  });

  it('serves the status monitor: id, status, times, progress, result / error with status, metadata; its cancel is 200, then 409 once done', async () => {
    const ok = await start({ duration: '0s' });
    await server.longrun.wait(ok.json.name);
    const succeeded = await http('GET', ok.headers['operation-location'] as string);
    assert.equal(succeeded.status, 200);
    assert.equal(succeeded.json.id, ok.json.name);
    assert.equal(succeeded.json.status, 'succeeded');
    assert.equal(succeeded.json.progress, 100);
    assert.ok(!Number.isNaN(Date.parse(succeeded.json.created_at)) && !Number.isNaN(Date.parse(succeeded.json.updated_at)));
    assert.equal(succeeded.json.result['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(succeeded.headers['retry-after'], undefined);

    const bad = await start({ duration: '0s', failWith: { code: 5, message: 'no such thing' } });
    await server.longrun.wait(bad.json.name);
    const failed = await http('GET', bad.headers['operation-location'] as string);
    assert.equal(failed.json.status, 'failed');
    assert.deepEqual(failed.json.error, { code: 5, message: 'no such thing', status: 'NOT_FOUND' });

    const long = await start({ duration: '60s', steps: 60 });
    await progressed(server.longrun, long.json.name);
    const running = await http('GET', long.headers['operation-location'] as string);
    assert.equal(running.json.status, 'running');
    assert.ok(running.json.progress >= 1 && running.json.progress < 100);
    assert.ok(!Number.isNaN(Date.parse(running.json.estimated_completion)));
    assert.equal(running.json.metadata['@type'], 'type.googleapis.com/longrun.testing.v1.SleepMetadata');
    assert.match(String(running.headers['retry-after']), /^\d+$/);
    const cancel = await http('POST', `${long.headers['operation-location']}/cancel`);
    assert.equal(cancel.status, 200);
    assert.equal(cancel.json.id, long.json.name);
    const ended = await server.longrun.wait(long.json.name);
    assert.equal(ended.error?.code, 1);
    assert.equal((await http('GET', long.headers['operation-location'] as string)).json.status, 'cancelled');
    const again = await http('POST', `${long.headers['operation-location']}/cancel`);
    assert.equal(again.status, 409);
    assert.equal(errorInfo(again.json).reason, 'OPERATION_ALREADY_DONE');
  });

  it('cancels, waits, lists and deletes over the Operations bindings, with gRPC semantics', async () => {
    const long = await start({ duration: '60s', steps: 60 });
    const name: string = long.json.name;
    const waited = await http('POST', url(`/v1/${name}:wait`), { body: { timeout: '0.1s' } });
    assert.equal(waited.status, 200);
    assert.equal(waited.json.done, undefined, 'a wait that times out answers the running operation');
    const running = await http('DELETE', url(`/v1/${name}`));
    assert.equal(running.status, 400, 'FAILED_PRECONDITION is 400 in Google\'s table');
    assert.equal(running.json.error.status, 'FAILED_PRECONDITION');
    assert.deepEqual((await http('POST', url(`/v1/${name}:cancel`))).json, {});
    const done = await http('POST', url(`/v1/${name}:wait`), { body: { timeout: '5s' } });
    assert.equal(done.json.done, true);
    assert.equal(done.json.error.code, 1);
    const second = await http('POST', url(`/v1/${name}:cancel`));
    assert.equal(second.status, 400);
    assert.equal(errorInfo(second.json).reason, 'OPERATION_ALREADY_DONE');

    const page1 = await http('GET', url(`/v1/operations?pageSize=1&filter=${encodeURIComponent('done = true')}`));
    assert.equal(page1.status, 200);
    assert.equal(page1.json.operations.length, 1);
    assert.ok(page1.json.nextPageToken);
    const page2 = await http('GET', url(`/v1/operations?page_size=1&filter=${encodeURIComponent('done = true')}&pageToken=${encodeURIComponent(page1.json.nextPageToken)}`));
    assert.equal(page2.status, 200);
    assert.notEqual(page2.json.operations[0].name, page1.json.operations[0].name);
    const badFilter = await http('GET', url('/v1/operations?filter=done%20%3D'));
    assert.equal(badFilter.status, 400);
    assert.equal(errorInfo(badFilter.json).reason, 'INVALID_FILTER');

    assert.deepEqual((await http('DELETE', url(`/v1/${name}`))).json, {});
    const gone = await http('GET', url(`/v1/${name}`));
    assert.equal(gone.status, 404);
    assert.equal(gone.json.error.status, 'NOT_FOUND');
    assert.equal(errorInfo(gone.json).reason, 'OPERATION_NOT_FOUND');
  });

  it('reaches operations created under a parent at /v1/{their name} for get, wait, cancel, delete and list', async () => {
    const created = await start({ duration: '60s', steps: 60, parent: 'projects/p/locations/eu' });
    assert.equal(created.status, 202);
    const name: string = created.json.name;
    assert.match(name, /^projects\/p\/locations\/eu\/operations\//);
    assert.equal(created.headers['location'], `${server.httpUrl}/v1/${name}`);
    assert.equal((await http('GET', url(`/v1/${name}`))).json.name, name);
    assert.equal((await http('GET', url(`/v1/${name}/status`))).json.id, name);
    const listed = await http('GET', url('/v1/projects/p/locations/eu/operations'));
    assert.deepEqual(listed.json.operations.map((op: any) => op.name), [name]);
    assert.equal((await http('POST', url(`/v1/${name}:cancel`))).status, 200);
    assert.equal((await http('POST', url(`/v1/${name}:wait`), { body: { timeout: '5s' } })).json.done, true);
    assert.equal((await http('DELETE', url(`/v1/${name}`))).status, 200);
    assert.equal((await http('GET', url(`/v1/${name}`))).status, 404);
  });

  it('Idempotency-Key: the same request gives the same operation (202, same Location), also at the same instant; another request is 422', async () => {
    const body = { duration: '0s', steps: 1 };
    const first = await start(body, { 'idempotency-key': 'order-1' });
    const again = await start(body, { 'Idempotency-Key': 'order-1' });
    assert.equal(again.status, 202);
    assert.equal(again.json.name, first.json.name);
    assert.equal(again.headers['location'], first.headers['location']);

    const together = await Promise.all(Array.from({ length: 12 }, () => start(body, { 'idempotency-key': 'order-2' })));
    assert.deepEqual(new Set(together.map((reply) => reply.status)), new Set([202]));
    assert.equal(new Set(together.map((reply) => reply.json.name)).size, 1);

    const other = await start({ duration: '1s', steps: 1 }, { 'idempotency-key': 'order-1' });
    assert.equal(other.status, 422);
    assert.equal(errorInfo(other.json).reason, 'IDEMPOTENCY_KEY_REUSED');
  });

  it("shares keys with gRPC's idempotency-key metadata", async () => {
    const overHttp = await start({ duration: '0s', steps: 2 }, { 'idempotency-key': 'shared-1' });
    const overGrpc = await server.call<{ name: string }>(SLEEP_METHOD, { duration: { seconds: 0, nanos: 0 }, steps: 2 }, { 'idempotency-key': 'shared-1' });
    assert.equal(overGrpc.name, overHttp.json.name);
  });

  it('refuses what is wrong with a 4xx naming it: malformed JSON, unknown fields, bad values, too large, no route, wrong method', async () => {
    const malformed = await http('POST', url('/v1/sleep'), { body: '{"duration": ' });
    assert.equal(malformed.status, 400);
    assert.match(malformed.json.error.message, /^body: is not valid JSON/);
    const unknown = await start({ duration: '1s', colour: 'blue' });
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error.message, /"colour" is unknown/);
    const badDuration = await start({ duration: 'soon' });
    assert.equal(badDuration.status, 400);
    assert.match(badDuration.json.error.message, /google\.protobuf\.Duration from JSON: "soon"/);
    const invalid = await start({ duration: '7200s' });
    assert.equal(invalid.status, 400);
    assert.equal(errorInfo(invalid.json).metadata.field, 'duration');
    const large = await http('POST', url('/v1/sleep'), { body: JSON.stringify({ requestId: 'x'.repeat(70 * 1024) }) });
    assert.equal(large.status, 413);
    assert.equal(errorInfo(large.json).reason, 'BODY_TOO_LARGE');
    const none = await http('GET', url('/v2/nothing'));
    assert.equal(none.status, 404);
    assert.equal(errorInfo(none.json).reason, 'ROUTE_NOT_FOUND');
    const wrong = await http('PUT', url('/v1/operations/abc'));
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers['allow'], 'GET, DELETE');
    const badName = await http('GET', url('/v1/operations/a%2Fb%zz'));
    assert.equal(badName.status, 400);
    const systemParams = await http('GET', url('/v1/operations?$alt=json;enum-encoding=int&prettyPrint=false&fields=operations'));
    assert.equal(systemParams.status, 200);
  });
});

describe('HTTP gateway with bearer tokens: the same credentials and ownership as gRPC', { timeout: 180_000 }, () => {
  const TOKENS = { alice: 'alice-token-http', bob: 'bob-token-http' };
  let server: TestServer;
  const as = (who: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[who]}` });
  before(async () => {
    const auth = { tokens: TokenTable.parse(Object.entries(TOKENS).map(([p, t]) => `${hashToken(t)} ${p}`).join('\n')) };
    server = await startTestServer({ serve: { auth }, http: { auth } });
  });
  after(() => server.close());

  it('answers 401 with WWW-Authenticate without credentials or with a bad token, and scopes operations to their owner', async () => {
    const missing = await http('GET', `${server.httpUrl}/v1/operations`);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="longrun"');
    assert.equal(errorInfo(missing.json).reason, 'CREDENTIALS_MISSING');
    const bad = await http('POST', `${server.httpUrl}/v1/sleep`, { body: {}, headers: { authorization: 'Bearer nope' } });
    assert.equal(bad.status, 401);
    assert.match(String(bad.headers['www-authenticate']), /error="invalid_token"/);

    const mine = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: as('alice') });
    assert.equal(mine.status, 202);
    const theirs = await http('GET', mine.headers['location'] as string, { headers: as('bob') });
    assert.equal(theirs.status, 403);
    assert.equal(errorInfo(theirs.json).reason, 'OPERATION_NOT_OWNED');
    const bobsList = await http('GET', `${server.httpUrl}/v1/operations`, { headers: as('bob') });
    assert.deepEqual(bobsList.json, {});
    const alicesList = await http('GET', `${server.httpUrl}/v1/operations`, { headers: as('alice') });
    assert.deepEqual(alicesList.json.operations.map((op: any) => op.name), [mine.json.name]);
    // gRPC with alice's token sees the operation she created over HTTP.
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${TOKENS.alice}`);
    const overGrpc = await server.call<{ name: string }>('/google.longrunning.Operations/GetOperation', { name: mine.json.name }, { authorization: `Bearer ${TOKENS.alice}` });
    assert.equal(overGrpc.name, mine.json.name);
  });
});

describe('longrun serve --http-port', { timeout: 180_000 }, () => {
  it('prints the HTTP address and serves the routes there', async () => {
    const dir = tempDir();
    const server = await spawnServer(dir.file('db'), ['--enable-sleeper']);
    try {
      const base = await httpAddressOf(server);
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await http('POST', `${base}/v1/sleep`, { body: { duration: '0s' } });
      assert.equal(created.status, 202);
      assert.ok(String(created.headers['location']).startsWith(`${base}/v1/operations/`));
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
