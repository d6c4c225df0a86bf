/** The route table from google.api.http annotations, and request binding, without a server. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { LongrunError } from '../../src/domain/errors.js';
import { HTTP_STATUS_OF_CODE, toHttpError } from '../../src/http/errors.js';
import { retryAfterSeconds } from '../../src/http/monitor.js';
import { requestJson } from '../../src/http/request.js';
import { buildRoutes, findRoute, OPERATIONS_SERVICE } from '../../src/http/routes.js';
import { matchTemplate, parseTemplate } from '../../src/http/template.js';
import { Code } from '../../src/index.js';
import { JsonCodec } from '../../src/protos/json.js';
import { DESCRIPTOR_SET_PATH } from '../../src/protos/paths.js';
import type { OperationRecord } from '../../src/domain/operation.js';
import { silentLogger } from '../helpers/server.js';

const codec = new JsonCodec([readFileSync(DESCRIPTOR_SET_PATH)]);
const VISION = 'google.cloud.vision.v1.ImageAnnotator';
const routes = buildRoutes(codec, [OPERATIONS_SERVICE, VISION, 'longrun.testing.v1.Sleeper']);

function found(method: string, path: string) {
  const lookup = findRoute(routes, method, path);
  assert.equal(lookup.kind, 'found', `${method} ${path} is routed`);
  if (lookup.kind !== 'found') throw new Error('unreachable');
  return { rpc: lookup.route.rpc, action: lookup.route.action, bindings: Object.fromEntries(lookup.match.bindings) };
}

describe('path templates', { timeout: 180_000 }, () => {
  it('match *, ** and {field=...} with literals and bind the variables', () => {
    const template = parseTemplate('/v1/{parent=projects/*/locations/*}/files:asyncBatchAnnotate');
    assert.deepEqual(Object.fromEntries(matchTemplate(template, '/v1/projects/p/locations/l/files:asyncBatchAnnotate')!.bindings), {
      parent: 'projects/p/locations/l',
    });
    assert.equal(matchTemplate(template, '/v1/projects/p/files:asyncBatchAnnotate'), undefined);
    const deep = parseTemplate('/v1/{name=**/operations/*}');
    assert.equal(matchTemplate(deep, '/v1/a/b/c/d/operations/x')!.bindings.get('name'), 'a/b/c/d/operations/x');
    assert.equal(matchTemplate(parseTemplate('/v1/{a.b}/x'), '/v1/one/x')!.bindings.get('a.b'), 'one');
    assert.equal(parseTemplate('/v1/{name=operations/**}:cancel').verb, 'cancel');
  });

  it('refuse templates outside the grammar', () => {
    for (const bad of ['v1/x', '/v1//x', '/v1/{name', '/v1/{1a}', '/v1/x:bad verb']) assert.throws(() => parseTemplate(bad), /path template/);
  });
});

describe('the route table from google.api.http', { timeout: 180_000 }, () => {
  it('routes every Operations binding, plus WaitOperation and operations under a parent', () => {
    assert.deepEqual(found('GET', '/v1/operations'), { rpc: '/google.longrunning.Operations/ListOperations', action: 'list', bindings: { name: 'operations' } });
    assert.equal(found('GET', '/v1/operations/abc').action, 'get');
    assert.equal(found('DELETE', '/v1/operations/abc').action, 'delete');
    assert.equal(found('POST', '/v1/operations/abc:cancel').action, 'cancel');
    assert.equal(found('POST', '/v1/operations/abc:wait').action, 'wait');
    assert.deepEqual(found('GET', '/v1/projects/p/locations/l/operations/abc').bindings, { name: 'projects/p/locations/l/operations/abc' });
    assert.equal(found('POST', '/v1/projects/p/operations/abc:cancel').action, 'cancel');
    assert.deepEqual(found('GET', '/v1/projects/p/locations/l/operations'), {
      rpc: '/google.longrunning.Operations/ListOperations',
      action: 'list',
      bindings: { name: 'projects/p/locations/l' },
    });
  });

  it('reads additional_bindings', () => {
    assert.deepEqual(found('POST', '/v1/files:asyncBatchAnnotate').bindings, {});
    assert.deepEqual(found('POST', '/v1/projects/p/files:asyncBatchAnnotate').bindings, { parent: 'projects/p' });
    assert.deepEqual(found('POST', '/v1/projects/p/locations/eu/files:asyncBatchAnnotate'), {
      rpc: `/${VISION}/AsyncBatchAnnotateFiles`,
      action: 'create',
      bindings: { parent: 'projects/p/locations/eu' },
    });
  });

  it('peels a :verb only where a route with that verb exists', () => {
    // No route has :frobnicate, so the colon stays part of the name (which the service then refuses).
    assert.deepEqual(found('GET', '/v1/operations/abc:frobnicate').bindings, { name: 'operations/abc:frobnicate' });
    // :cancel exists (POST only): GET on it is 405, not a GetOperation of "operations/abc:cancel".
    assert.deepEqual(findRoute(routes, 'GET', '/v1/operations/abc:cancel'), { kind: 'method-not-allowed', allowed: ['POST'] });
  });

  it('answers unknown paths as not found and wrong methods with the allowed ones', () => {
    assert.deepEqual(findRoute(routes, 'GET', '/v2/operations'), { kind: 'not-found' });
    assert.deepEqual(findRoute(routes, 'PATCH', '/v1/operations/x'), { kind: 'method-not-allowed', allowed: ['GET', 'DELETE'] });
    assert.equal(found('HEAD', '/v1/operations/x').action, 'get');
  });

  it('puts the status monitor ahead of the annotated routes', () => {
    assert.deepEqual(found('GET', '/v1/operations/abc/status'), {
      rpc: '/google.longrunning.Operations/GetOperation',
      action: 'status',
      bindings: { name: 'operations/abc' },
    });
    assert.equal(found('POST', '/v1/projects/p/operations/abc/status/cancel').action, 'status-cancel');
  });
});

describe('request binding', { timeout: 180_000 }, () => {
  const list = codec.message('google.longrunning.ListOperationsRequest')!;
  it('takes query parameters by JSON name and proto name, converting booleans, and skips system parameters', () => {
    const json = requestJson(list, {
      pathBindings: new Map([['name', 'operations']]),
      query: new URLSearchParams('pageSize=5&page_token=t&filter=done%20%3D%20true&return_partial_success=false&$alt=json;enum-encoding=int&fields=x'),
      body: undefined,
      bodyField: '',
    });
    assert.deepEqual(json, { name: 'operations', pageSize: '5', pageToken: 't', filter: 'done = true', returnPartialSuccess: false });
    assert.deepEqual([...codec.fromJson('google.longrunning.ListOperationsRequest', json, 'request')].length > 0, true);
  });

  it('refuses unknown query parameters and bad booleans, naming them', () => {
    const bind = (query: string) => () => requestJson(list, { pathBindings: new Map(), query: new URLSearchParams(query), body: undefined, bodyField: '' });
    assert.throws(bind('bogus=1'), (error: unknown) => error instanceof LongrunError && error.code === Code.INVALID_ARGUMENT && /bogus/.test(error.message));
    assert.throws(bind('returnPartialSuccess=yes'), /returnPartialSuccess: must be true or false/);
  });

  it('lets the path override the body, and takes body "field" as that field', () => {
    const sleep = codec.message('longrun.testing.v1.SleepRequest')!;
    assert.deepEqual(
      requestJson(sleep, { pathBindings: new Map([['parent', 'projects/p']]), query: new URLSearchParams(), body: { parent: 'projects/q', steps: 2 }, bodyField: '*' }),
      { parent: 'projects/p', steps: 2 },
    );
    assert.deepEqual(
      requestJson(sleep, { pathBindings: new Map(), query: new URLSearchParams('steps=3'), body: { code: 5, message: 'x' }, bodyField: 'fail_with' }),
      { failWith: { code: 5, message: 'x' }, steps: '3' },
    );
    assert.throws(
      () => requestJson(sleep, { pathBindings: new Map(), query: new URLSearchParams('steps=3'), body: {}, bodyField: '*' }),
      /steps: is not a parameter here/,
    );
  });
});

describe('errors and hints', { timeout: 180_000 }, () => {
  it("map every code by Google's table and answer AIP-193 bodies with ErrorInfo", () => {
    assert.equal(HTTP_STATUS_OF_CODE[Code.NOT_FOUND], 404);
    assert.equal(HTTP_STATUS_OF_CODE[Code.FAILED_PRECONDITION], 400);
    assert.equal(HTTP_STATUS_OF_CODE[Code.UNAVAILABLE], 503);
    assert.equal(HTTP_STATUS_OF_CODE[Code.CANCELLED], 499);
    assert.equal(Object.keys(HTTP_STATUS_OF_CODE).length, 17);
    const reused = toHttpError(new LongrunError(Code.INVALID_ARGUMENT, 'again', 'IDEMPOTENCY_KEY_REUSED'), silentLogger as never, 'r');
    assert.equal(reused.status, 422);
    assert.deepEqual(reused.body.error.details[0], { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'IDEMPOTENCY_KEY_REUSED', domain: 'longrun', metadata: {} });
    const internal = toHttpError(new Error('secret path /etc'), silentLogger as never, 'r');
    assert.deepEqual([internal.status, internal.body.error.message, internal.body.error.status], [500, 'internal error', 'INTERNAL']);
  });

  it('derives Retry-After from the estimated completion or the progress rate, at least 1 s and at most the cap', () => {
    const base = { createTime: 0, progressPercent: 0, done: false } as OperationRecord;
    assert.equal(retryAfterSeconds(base, 5000, 30_000), 1);
    assert.equal(retryAfterSeconds({ ...base, estimatedCompletion: 12_500 }, 5000, 30_000), 8);
    assert.equal(retryAfterSeconds({ ...base, estimatedCompletion: 1000 }, 5000, 30_000), 1);
    assert.equal(retryAfterSeconds({ ...base, progressPercent: 25 }, 10_000, 30_000), 30);
    assert.equal(retryAfterSeconds({ ...base, progressPercent: 50 }, 4000, 30_000), 4);
    assert.equal(retryAfterSeconds({ ...base, estimatedCompletion: 3_600_000 }, 0, 30_000), 30);
    assert.equal(retryAfterSeconds({ ...base, estimatedCompletion: 3_600_000 }, 0, 5000), 5);
  });
});
