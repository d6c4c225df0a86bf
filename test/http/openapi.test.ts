/** The OpenAPI 3.1 description at /openapi.json, checked by an independent validator. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { openApiPath } from '../../src/http/openapi.js';
import { http } from '../helpers/http.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { addVision, VISION_PROTO_FILES } from '../../src/vision/index.js';
import { tempDir } from '../helpers/temp.js';

describe('OpenAPI description', { timeout: 180_000 }, () => {
  let server: TestServer;
  const storage = tempDir('longrun-storage-');
  before(async () => {
    server = await startTestServer({ protoFiles: VISION_PROTO_FILES, setup: (longrun) => addVision(longrun, { storageRoot: storage.path }), http: {} });
  });
  after(async () => {
    await server.close();
    storage.remove();
  });

  it('is served at /openapi.json and accepted by @seriousme/openapi-schema-validator as OpenAPI 3.1', async () => {
    const reply = await http('GET', `${server.httpUrl}/openapi.json`);
    assert.equal(reply.status, 200);
    assert.equal(reply.json.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(reply.json);
    assert.deepEqual(result.errors, undefined);
    assert.equal(result.valid, true);
  });

  it('describes every route it serves, and every $ref resolves', async () => {
    const document = (await http('GET', `${server.httpUrl}/openapi.json`)).json;
    const gateway = server.longrun.http.gateway();
    for (const route of gateway.routes) {
      if (route.action === 'openapi') continue;
      const { path } = openApiPath(route.template.source);
      assert.ok(document.paths[path]?.[route.method.toLowerCase()], `${route.method} ${route.template.source} is described as ${path}`);
    }
    assert.ok(document.paths['/v1/files:asyncBatchAnnotate'].post.responses['202'].headers['Operation-Location']);
    assert.ok(document.paths['/v1/projects/{projectsId}/locations/{locationsId}/files:asyncBatchAnnotate']);
    const refs = JSON.stringify(document).match(/"#\/components\/schemas\/[^"]+"/g) ?? [];
    assert.ok(refs.length > 20);
    for (const ref of new Set(refs)) {
      const name = ref.slice('"#/components/schemas/'.length, -1);
      assert.ok(document.components.schemas[name], `${name} is defined`);
    }
    const operation = document.components.schemas['google.longrunning.Operation'];
    assert.deepEqual(Object.keys(operation.properties).sort(), ['done', 'error', 'metadata', 'name', 'response']);
  });
});
