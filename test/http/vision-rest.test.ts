/**
 * Google's own Vision client in its REST mode (`fallback: true`: HTTP/1.1 and JSON, as in a browser
 * or behind a proxy that cannot carry gRPC), unchanged but for the endpoint and credentials, against
 * longrun's HTTP gateway serving the Vision sample.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import vision from '@google-cloud/vision';
import { OAuth2Client } from 'google-auth-library';
import { http } from '../helpers/http.js';
import { fileRequest, makePdf, startVisionServer, type VisionServer } from '../vision/fixtures.js';

// google-auth-library must never look for a cloud metadata server from a test.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const State = vision.protos.google.cloud.vision.v1.OperationMetadata.State;

interface LroOperation {
  name: string;
  promise(): Promise<[{ responses?: { outputConfig?: { gcsDestination?: { uri?: string }; batchSize?: number } }[] }]>;
}
interface RestVisionClient {
  asyncBatchAnnotateFiles(request: { parent?: string; requests: unknown[] }): Promise<[LroOperation]>;
  checkAsyncBatchAnnotateFilesProgress(name: string): Promise<{ done: boolean; metadata?: { state?: number } }>;
  operationsClient: {
    getOperation(request: { name: string }): Promise<[{ name?: string; done?: boolean }]>;
    listOperations(request: { name: string; filter: string }): Promise<[{ name?: string }[]]>;
    cancelOperation(request: { name: string }): Promise<unknown>;
    deleteOperation(request: { name: string }): Promise<unknown>;
  };
  close(): Promise<void>;
}

describe('@google-cloud/vision in REST mode (fallback: true) against the HTTP gateway', { timeout: 180_000 }, () => {
  let server: VisionServer;
  let client: RestVisionClient;
  before(async () => {
    server = await startVisionServer({ http: {} });
    const { hostname, port } = new URL(server.httpUrl);
    const authClient = new OAuth2Client();
    authClient.setCredentials({ access_token: 'any-token-the-open-server-ignores' });
    client = new vision.ImageAnnotatorClient({
      fallback: true,
      protocol: 'http',
      apiEndpoint: hostname,
      port: Number(port),
      authClient,
      universeDomain: 'googleapis.com',
    } as never) as unknown as RestVisionClient;
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('asyncBatchAnnotateFiles over HTTP, then operation.promise() gives the typed response', async () => {
    server.put('gs://rest/in/doc.pdf', await makePdf([[{ text: 'Over REST', x: 72, y: 72 }], [{ text: 'Page two', x: 72, y: 72 }]]));
    const [operation] = await client.asyncBatchAnnotateFiles({ requests: [fileRequest('gs://rest/in/doc.pdf', 'gs://rest/out/', { batchSize: 1 })] });
    assert.match(operation.name, /^operations\/[A-Za-z0-9_-]{27}$/);
    const [response] = await operation.promise();
    assert.equal(response.responses?.length, 1);
    assert.equal(response.responses![0]!.outputConfig?.gcsDestination?.uri, 'gs://rest/out/');
    assert.equal(response.responses![0]!.outputConfig?.batchSize, 1);
    const progress = await client.checkAsyncBatchAnnotateFilesProgress(operation.name);
    assert.equal(progress.done, true);
    assert.equal(progress.metadata?.state, State.DONE, 'the enum arrives as the number the client asked for');
    // What the client asked for: enums as numbers ($alt=json;enum-encoding=int).
    const asNumbers = await http('GET', `${server.httpUrl}/v1/${operation.name}?$alt=json;enum-encoding=int`);
    assert.equal(asNumbers.json.metadata.state, State.DONE);
    const asNames = await http('GET', `${server.httpUrl}/v1/${operation.name}`);
    assert.equal(asNames.json.metadata.state, 'DONE');
  });

  it('creates under a parent through an additional binding', async () => {
    server.put('gs://rest/in/one.pdf', await makePdf([[{ text: 'Parent', x: 72, y: 72 }]]));
    const [operation] = await client.asyncBatchAnnotateFiles({
      parent: 'projects/p/locations/eu',
      requests: [fileRequest('gs://rest/in/one.pdf', 'gs://rest/parent/')],
    });
    assert.match(operation.name, /^projects\/p\/locations\/eu\/operations\//);
    await operation.promise();
  });

  it("its operations client gets, lists, cancels and deletes over HTTP", async () => {
    server.put('gs://rest/in/missing-later.pdf', await makePdf([[{ text: 'x', x: 72, y: 72 }]]));
    const [operation] = await client.asyncBatchAnnotateFiles({ requests: [fileRequest('gs://rest/in/missing-later.pdf', 'gs://rest/ops/')] });
    await operation.promise();
    const [got] = await client.operationsClient.getOperation({ name: operation.name });
    assert.equal(got.name, operation.name);
    assert.equal(got.done, true);
    const [listed] = await client.operationsClient.listOperations({ name: 'operations', filter: 'done = true' });
    assert.ok(listed.some((op) => op.name === operation.name));
    // Cancelling a done operation is FAILED_PRECONDITION: the client reports the HTTP status (400).
    await assert.rejects(client.operationsClient.cancelOperation({ name: operation.name }), (error: Error & { code?: number }) => {
      assert.match(`${error.code} ${error.message}`, /400|FAILED_PRECONDITION|already done/);
      return true;
    });
    await client.operationsClient.deleteOperation({ name: operation.name });
    await assert.rejects(client.operationsClient.getOperation({ name: operation.name }), (error: Error & { code?: number }) => {
      assert.match(`${error.code} ${error.message}`, /404|NOT_FOUND|does not exist/);
      return true;
    });

    // A running one: cancel succeeds and the operation ends CANCELLED.
    server.put('gs://rest/in/long.pdf', await makePdf(Array.from({ length: 40 }, (_, i) => [{ text: `Page ${i}`, x: 72, y: 72 }])));
    const [long] = await client.asyncBatchAnnotateFiles({ requests: [fileRequest('gs://rest/in/long.pdf', 'gs://rest/long/')] });
    await client.operationsClient.cancelOperation({ name: long.name });
    const ended = await server.longrun.wait(long.name);
    // Cancellation is best effort: stopped between pages (CANCELLED), or finished first with its result.
    assert.ok(ended.done && (ended.error?.code === 1 || (ended.error === undefined && ended.response !== undefined)), JSON.stringify(ended.error));
  });
});
