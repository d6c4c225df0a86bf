/**
 * Azure Resource Manager's form of the async pattern: every 202 carries `Azure-AsyncOperation`, the
 * URL of the operation's ARM status resource, which answers as ARM's asynchronous API reference
 * defines ("Azure-AsyncOperation Resource format"). Azure's HTTP poller (@azure/core-lro 3.3.1)
 * is driven through that header alone, as an ARM client that knows nothing of longrun would be.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createHttpPoller, type OperationResponse, type RunningOperation } from '@azure/core-lro';
import { hashToken, TokenTable } from '../../src/index.js';
import { armStatusPath } from '../../src/http/async-answer.js';
import { armOperationStatus, armStatusOf } from '../../src/operations/arm-status.js';
import type { OperationRecord } from '../../src/domain/operation.js';
import { Code } from '../../src/domain/errors.js';
import { http } from '../helpers/http.js';
import { httpAddressOf, spawnServer } from '../helpers/process.js';
import { progressed, startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';
import { within } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
/** Every element ARM's reference defines for the resource; nothing else may appear. */
const ARM_FIELDS = ['id', 'name', 'status', 'startTime', 'endTime', 'percentComplete', 'properties', 'error'];
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const errorInfo = (json: any) => json.error.details.find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo');

/** The checks every ARM status body passes, whatever its state (ARM's element table). */
function assertArmShape(body: any, url: string): void {
  for (const key of Object.keys(body)) assert.ok(ARM_FIELDS.includes(key), `${key} is an element of ARM's operation resource`);
  assert.equal(body.id, new URL(url).pathname, 'id matches what is used to GET the resource');
  assert.equal(body.name, body.id.split('/').at(-1), 'name is the last segment of id');
  assert.ok(['InProgress', 'Succeeded', 'Failed', 'Canceled'].includes(body.status), body.status);
  assert.match(body.startTime, ISO_8601);
  const terminal = body.status !== 'InProgress';
  assert.equal(body.endTime !== undefined, terminal, 'endTime once terminal');
  if (terminal) assert.match(body.endTime, ISO_8601);
  if (body.percentComplete !== undefined) assert.ok(typeof body.percentComplete === 'number' && body.percentComplete >= 0 && body.percentComplete <= 100);
  assert.equal(body.error !== undefined, body.status === 'Failed' || body.status === 'Canceled', 'error exactly when Failed or Canceled');
  if (body.error !== undefined) {
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message']);
    assert.equal(typeof body.error.code, 'string');
    assert.ok(body.error.message.length > 0);
  }
  if (body.properties !== undefined) assert.equal(body.status, 'Succeeded', 'properties only on success');
}

describe('ARM status resource: the pure body', { timeout: 30_000 }, () => {
  const base: OperationRecord = {
    name: 'projects/p/locations/l/operations/abc',
    parent: 'projects/p/locations/l',
    method: '/x.Y/Z',
    owner: 'alice',
    done: false,
    progressPercent: 0,
    leaseExpiresAt: 0,
    attempt: 0,
    maxAttempts: 1,
    cancelRequested: false,
    createTime: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    updateTime: Date.UTC(2026, 0, 2, 3, 4, 9),
    runAfter: 0,
    priority: 0,
  };
  const toJson = () => ({ '@type': 'type.googleapis.com/x.R' });
  const id = armStatusPath(base.name);

  it('in progress: InProgress (pending or leased), startTime, percentComplete only once reported', () => {
    assert.deepEqual(armOperationStatus(base, id, toJson), {
      id: '/v1/operationStatuses/projects/p/locations/l/operations/abc',
      name: 'abc',
      status: 'InProgress',
      startTime: '2026-01-02T03:04:05.006Z',
    });
    assert.equal(armStatusOf({ ...base, leaseHolder: 'runner-1' } as OperationRecord), 'InProgress');
    assert.equal(armOperationStatus({ ...base, progressPercent: 40 }, id, toJson).percentComplete, 40);
  });

  it('done: Succeeded with properties and 100, Failed and Canceled with the code name and message, endTime', () => {
    const done = { ...base, done: true, doneTime: Date.UTC(2026, 0, 2, 3, 5) };
    const ok = armOperationStatus({ ...done, response: { typeUrl: 'type.googleapis.com/x.R', value: new Uint8Array() } }, id, toJson);
    assert.deepEqual(ok, { ...ok, status: 'Succeeded', percentComplete: 100, properties: toJson(), endTime: '2026-01-02T03:05:00.000Z' });
    assert.equal(ok.error, undefined);
    const failed = armOperationStatus({ ...done, progressPercent: 30, error: { code: Code.FAILED_PRECONDITION, message: 'no', details: [] } }, id, toJson);
    assert.equal(failed.status, 'Failed');
    assert.deepEqual(failed.error, { code: 'FAILED_PRECONDITION', message: 'no' });
    assert.equal(failed.percentComplete, 30);
    assert.equal(failed.properties, undefined);
    const canceled = armOperationStatus({ ...done, error: { code: Code.CANCELLED, message: 'the operation was cancelled', details: [] } }, id, toJson);
    assert.equal(canceled.status, 'Canceled');
    assert.deepEqual(canceled.error, { code: 'CANCELLED', message: 'the operation was cancelled' });
    assert.equal(canceled.percentComplete, undefined);
  });
});

describe('@azure/core-lro HTTP poller through Azure-AsyncOperation alone', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: {} });
  });
  after(() => server.close());

  interface Driven {
    operation: RunningOperation;
    /** The operation's name, once the initial request has been answered. */
    name(): string;
    polled: { url: string; status: number; headers: Record<string, string>; body: any }[];
  }

  /**
   * A RunningOperation that POSTs `body` to /v1/sleep and hands the poller the 202 WITHOUT its
   * Location and Operation-Location: only Azure-AsyncOperation is left to follow.
   */
  function armClient(body: Record<string, unknown>): Driven {
    let name: string | undefined;
    const polled: Driven['polled'] = [];
    const send = async (method: string, url: string, payload?: unknown): Promise<OperationResponse<unknown>> => {
      const reply = await http(method, url, payload === undefined ? {} : { body: payload });
      const headers = Object.fromEntries(Object.entries(reply.headers).map(([key, value]) => [key, String(value)]));
      return { flatResponse: reply.json, rawResponse: { statusCode: reply.status, headers, body: reply.json, request: { method, url } } };
    };
    const operation: RunningOperation = {
      sendInitialRequest: async () => {
        const response = await send('POST', `${server.httpUrl}/v1/sleep`, body);
        assert.equal(response.rawResponse.statusCode, 202);
        name = (response.flatResponse as { name: string }).name;
        const { location, 'operation-location': operationLocation, ...headers } = response.rawResponse.headers;
        assert.ok(location !== undefined && operationLocation !== undefined, 'the server sent both; this client drops them');
        assert.equal(headers['azure-asyncoperation'], `${server.httpUrl}/v1/operationStatuses/${name}`);
        return { ...response, rawResponse: { ...response.rawResponse, headers } };
      },
      sendPollRequest: async (url) => {
        const response = await send('GET', url);
        polled.push({ url, status: response.rawResponse.statusCode, headers: response.rawResponse.headers, body: response.rawResponse.body });
        return response;
      },
    };
    return { operation, name: () => name!, polled };
  }

  /** What a client generated with `final-state-via: azure-async-operation` asks for. */
  const options = { intervalInMs: 50, resourceLocationConfig: 'azure-async-operation' as const };

  it('succeeded: polled only the ARM resource, honoured Retry-After while InProgress, resolved with its final body', async () => {
    const driven = armClient({ duration: '1.5s', steps: 3 });
    const poller = createHttpPoller<any, any>(driven.operation, options);
    const result = await poller.pollUntilDone();
    assert.equal(poller.operationState?.status, 'succeeded');
    const url = `${server.httpUrl}/v1/operationStatuses/${driven.name()}`;
    assert.ok(driven.polled.length >= 2);
    for (const poll of driven.polled) {
      assert.equal(poll.url, url, 'nothing but Azure-AsyncOperation was followed');
      assert.equal(poll.status, 200, 'the status resource answers 200 in every state');
      assertArmShape(poll.body, url);
      if (poll.body.status === 'InProgress') assert.match(poll.headers['retry-after'] ?? '', /^\d+$/, 'Retry-After in integer seconds while InProgress');
      else assert.equal(poll.headers['retry-after'], undefined);
    }
    assert.ok(driven.polled.some((poll) => poll.body.status === 'InProgress'));
    // The final state is the ARM resource itself (final-state-via: azure-async-operation).
    assert.equal(result.status, 'Succeeded');
    assert.equal(result.name, driven.name().split('/').at(-1));
    assert.equal(result.percentComplete, 100);
    assert.equal(result.properties['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
    assert.equal(result.properties.steps, 3);
    assert.ok(Date.parse(result.endTime) >= Date.parse(result.startTime));
  });

  it('failed: the poller rejects with the gRPC code name and the message from the ARM resource', async () => {
    const driven = armClient({ duration: '0.2s', steps: 1, failWith: { code: Code.FAILED_PRECONDITION, message: 'the printer is on fire' } });
    const poller = createHttpPoller<any, any>(driven.operation, options);
    await assert.rejects(poller.pollUntilDone(), /FAILED_PRECONDITION\. the printer is on fire/);
    assert.equal(poller.operationState?.status, 'failed');
    const last = driven.polled.at(-1)!;
    assert.equal(last.status, 200, 'a failed operation is still a successful read of its status');
    assert.deepEqual(last.body.error, { code: 'FAILED_PRECONDITION', message: 'the printer is on fire' });
    assert.equal(last.body.status, 'Failed');
    assertArmShape(last.body, last.url);
  });

  it('canceled: cancelled while polled, the poller ends canceled and the resource says Canceled with CANCELLED', async () => {
    let armUrl: string | undefined;
    const driven = armClient({ duration: '60s', steps: 60 });
    const poller = createHttpPoller<any, any>(driven.operation, { ...options, withOperationLocation: (url) => (armUrl = url) });
    await poller.submitted();
    assert.equal(armUrl, `${server.httpUrl}/v1/operationStatuses/${driven.name()}`, 'the poller took Azure-AsyncOperation as its polling URL');
    const cancel = await http('POST', `${server.httpUrl}/v1/${driven.name()}:cancel`, { body: {} });
    assert.equal(cancel.status, 200);
    await assert.rejects(within(poller.pollUntilDone(), 'the poller to end'), /cancel/i);
    assert.equal(poller.operationState?.status, 'canceled');
    const final = await http('GET', armUrl!);
    assert.equal(final.status, 200);
    assert.equal(final.json.status, 'Canceled');
    assert.deepEqual(final.json.error, { code: 'CANCELLED', message: 'the operation was cancelled' });
    assert.equal(final.headers['retry-after'], undefined);
    assertArmShape(final.json, armUrl!);
  });
});

describe('ARM status resource over HTTP', { timeout: 180_000 }, () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ http: { retryAfterCapMs: 4000 } });
  });
  after(() => server.close());

  it('every 202 carries Azure-AsyncOperation, absolute, beside Location and Operation-Location', async () => {
    const created = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' } });
    assert.equal(created.status, 202);
    const name: string = created.json.name;
    assert.equal(created.headers['location'], `${server.httpUrl}/v1/${name}`);
    assert.equal(created.headers['operation-location'], `${server.httpUrl}/v1/${name}/status`);
    assert.equal(created.headers['azure-asyncoperation'], `${server.httpUrl}/v1/operationStatuses/${name}`);
    assert.match(String(created.headers['retry-after']), /^\d+$/);
  });

  it('while running: 200, InProgress, percentComplete from the handler, Retry-After in seconds (capped)', async () => {
    const created = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '60s', steps: 60 } });
    const url = String(created.headers['azure-asyncoperation']);
    await progressed(server.longrun, created.json.name);
    const running = await http('GET', url);
    assert.equal(running.status, 200);
    assertArmShape(running.json, url);
    assert.equal(running.json.status, 'InProgress');
    assert.equal(running.json.name, created.json.name.split('/').at(-1));
    assert.ok(running.json.percentComplete > 0 && running.json.percentComplete < 100, String(running.json.percentComplete));
    assert.equal(running.headers['retry-after'], '4', 'the ETA a minute away, capped at 4 s here');
    assert.equal(running.json.startTime, new Date((await server.longrun.get(created.json.name)).createTime).toISOString());
    await http('POST', `${server.httpUrl}/v1/${created.json.name}:cancel`, { body: {} });
  });

  it('serves operations created under a parent, and HEAD', async () => {
    const created = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s', parent: 'projects/p/locations/l' } });
    const name: string = created.json.name;
    assert.match(name, /^projects\/p\/locations\/l\/operations\//);
    const url = String(created.headers['azure-asyncoperation']);
    assert.equal(url, `${server.httpUrl}/v1/operationStatuses/${name}`);
    await server.longrun.wait(name);
    const done = await http('GET', url);
    assert.equal(done.status, 200);
    assertArmShape(done.json, url);
    assert.equal(done.json.status, 'Succeeded');
    assert.equal((await http('HEAD', url)).status, 200);
  });

  it('4xx only when reading the status fails: unknown operation 404, malformed name 400, AIP-193 bodies', async () => {
    const missing = await http('GET', `${server.httpUrl}/v1/operationStatuses/operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA`);
    assert.equal(missing.status, 404);
    assert.equal(errorInfo(missing.json).reason, 'OPERATION_NOT_FOUND');
    const malformed = await http('GET', `${server.httpUrl}/v1/operationStatuses/operations/a%zz`);
    assert.equal(malformed.status, 400);
    assert.equal(missing.json.error.status, 'NOT_FOUND');
    // The collection's own path is no resource, and the prefix never hides an operation's routes.
    assert.equal((await http('GET', `${server.httpUrl}/v1/operationStatuses`)).status, 404);
    assert.equal((await http('POST', `${server.httpUrl}/v1/operationStatuses/operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA`, { body: {} })).status, 405);
  });

  it('is in the OpenAPI document: the resource, the header on the 202s, the AutoRest LRO extensions on the creating routes', () => {
    const document = server.longrun.http.gateway().openApi() as any;
    const create = document.paths['/v1/sleep'].post;
    assert.equal(create['x-ms-long-running-operation'], true);
    assert.deepEqual(create['x-ms-long-running-operation-options'], { 'final-state-via': 'azure-async-operation' });
    assert.deepEqual(create.responses['202'].headers['Azure-AsyncOperation'].schema, { type: 'string', format: 'uri' });
    const get = document.paths['/v1/operationStatuses/operations/{operationsId}'].get;
    assert.equal(get.operationId, 'longrun.ArmOperationStatus.get');
    assert.equal(get.responses['200'].content['application/json'].schema.$ref, '#/components/schemas/longrun.ArmOperationStatus');
    assert.ok(document.paths['/v1/operationStatuses/{namePath}/operations/{operationsId}'].get);
    const schema = document.components.schemas['longrun.ArmOperationStatus'];
    assert.deepEqual(Object.keys(schema.properties).sort(), [...ARM_FIELDS].sort());
    assert.deepEqual(schema.properties.status.enum, ['InProgress', 'Succeeded', 'Failed', 'Canceled']);
    // Exactly the creating routes (the ones answering 202) are long-running operations.
    let creating = 0;
    for (const item of Object.values<any>(document.paths)) {
      for (const operation of Object.values<any>(item)) {
        assert.equal(operation['x-ms-long-running-operation'] === true, operation.responses['202'] !== undefined, operation.operationId);
        if (operation.responses['202'] !== undefined) creating++;
      }
    }
    assert.ok(creating >= 1);
  });
});

describe('ARM status resource with bearer tokens: the same credentials and ownership as the other routes', { timeout: 180_000 }, () => {
  const TOKENS = { alice: 'alice-token-arm', bob: 'bob-token-arm' };
  let server: TestServer;
  const as = (who: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[who]}` });
  before(async () => {
    const auth = { tokens: TokenTable.parse(Object.entries(TOKENS).map(([p, t]) => `${hashToken(t)} ${p}`).join('\n')) };
    server = await startTestServer({ serve: { auth }, http: { auth } });
  });
  after(() => server.close());

  it('the owner reads it; another principal gets the refusal GET of the operation gives; no credentials 401', async () => {
    const mine = await http('POST', `${server.httpUrl}/v1/sleep`, { body: { duration: '0s' }, headers: as('alice') });
    assert.equal(mine.status, 202);
    const url = String(mine.headers['azure-asyncoperation']);
    assert.equal((await http('GET', url, { headers: as('alice') })).status, 200);

    const theirs = await http('GET', url, { headers: as('bob') });
    const theirsByLocation = await http('GET', String(mine.headers['location']), { headers: as('bob') });
    assert.equal(theirs.status, 403);
    assert.equal(errorInfo(theirs.json).reason, 'OPERATION_NOT_OWNED');
    assert.equal(theirs.status, theirsByLocation.status);
    assert.deepEqual(errorInfo(theirs.json), errorInfo(theirsByLocation.json));

    const anonymous = await http('GET', url);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer realm="longrun"');
    assert.equal(errorInfo(anonymous.json).reason, 'CREDENTIALS_MISSING');
  });
});

describe('docs/rest-arm.md: the curl example', { timeout: 180_000 }, () => {
  it('runs as written (with the port this test started the server on)', { timeout: 90_000 }, async () => {
    const doc = readFileSync(`${root}docs/rest-arm.md`, 'utf8');
    const block = /<!-- arm-walkthrough -->\s*```sh\n([\s\S]*?)```/.exec(doc);
    assert.ok(block, 'docs/rest-arm.md has the arm-walkthrough block');
    const lines = block[1]!.split('\n');
    assert.match(lines[0]!, /^npm start -- --enable-sleeper &/, 'the block starts the server first');
    const dir = tempDir();
    const server = await spawnServer(dir.file('db'), ['--enable-sleeper']);
    try {
      const base = (await httpAddressOf(server)).replace(/^http:\/\//, '');
      const script = lines.slice(1).join('\n').replaceAll('localhost:8080', base);
      assert.ok(script.includes(base));
      const output = await new Promise<string>((resolve, reject) =>
        execFile('bash', ['-c', script], { cwd: dir.path, timeout: 60_000 }, (error, stdout, stderr) =>
          error ? reject(new Error(`${error.message}\n${stderr}\n${stdout}`)) : resolve(stdout),
        ),
      );
      const out = output.trim().split('\n');
      assert.match(out[0]!, new RegExp(`^polling http://${base.replaceAll('.', '\\.')}/v1/operationStatuses/operations/[A-Za-z0-9_-]{27}$`));
      const done = JSON.parse(out[1]!);
      assert.equal(done.status, 'Succeeded');
      assert.equal(done.percentComplete, 100);
      assert.equal(done.properties['@type'], 'type.googleapis.com/longrun.testing.v1.SleepResponse');
      assertArmShape(done, out[0]!.slice('polling '.length));
      assert.equal(out.length, 2);
    } finally {
      await server.stop();
      dir.remove();
    }
  });
});
