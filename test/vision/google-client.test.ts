/**
 * Google's own Node client for Vision, unchanged but for endpoint and credentials, against a real
 * longrun serving the Vision sample.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import vision from '@google-cloud/vision';
import { grpc } from 'google-gax';
import { Code } from '../../src/index.js';
import { fileRequest, makeNumberedPdf, makePdf, startVisionServer, type VisionServer } from './fixtures.js';

// google-auth-library must never look for a cloud metadata server from a test.
process.env['METADATA_SERVER_DETECTION'] = 'none';

const State = vision.protos.google.cloud.vision.v1.OperationMetadata.State;

/** The parts of the generated client this test uses, typed loosely enough for plain requests. */
interface LroOperation {
  name: string;
  promise(): Promise<[{ responses?: { outputConfig?: { gcsDestination?: { uri?: string }; batchSize?: number } }[] }]>;
}
interface Progress {
  done: boolean;
  metadata?: { state?: number; createTime?: { seconds?: number | string } };
  result?: { responses?: { outputConfig?: { gcsDestination?: { uri?: string } } }[] };
  latestResponse: { metadata?: { type_url: string; value: Uint8Array } };
}
interface VisionClient {
  asyncBatchAnnotateFiles(request: { requests: unknown[] }): Promise<[LroOperation]>;
  checkAsyncBatchAnnotateFilesProgress(name: string): Promise<Progress>;
  operationsClient: {
    listOperations(request: { name: string; filter: string }): Promise<[{ name?: string }[]]>;
    cancelOperation(request: { name: string }): Promise<unknown>;
    deleteOperation(request: { name: string }): Promise<unknown>;
    getOperation(request: { name: string }): Promise<unknown>;
  };
  close(): Promise<void>;
}

describe('@google-cloud/vision against longrun', { timeout: 180_000 }, () => {
  let server: VisionServer;
  let client: VisionClient;
  before(async () => {
    server = await startVisionServer();
    const [host, port] = server.address.split(':') as [string, string];
    client = new vision.ImageAnnotatorClient({
      apiEndpoint: host,
      port: Number(port),
      sslCreds: grpc.credentials.createInsecure(),
      universeDomain: 'googleapis.com',
    }) as unknown as VisionClient;
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('asyncBatchAnnotateFiles, then operation.promise() gives the typed response; progress decodes the metadata', async () => {
    server.put('gs://client/in/doc.pdf', await makePdf([[{ text: 'Typed response', x: 72, y: 72 }], [{ text: 'Page two', x: 72, y: 72 }]]));
    const [operation] = await client.asyncBatchAnnotateFiles({
      requests: [fileRequest('gs://client/in/doc.pdf', 'gs://client/out/', { batchSize: 1 })],
    });
    assert.match(operation.name, /^operations\/[A-Za-z0-9_-]{27}$/);
    const [response] = await operation.promise();
    assert.equal(response.responses?.length, 1);
    assert.equal(response.responses![0]!.outputConfig?.gcsDestination?.uri, 'gs://client/out/');
    assert.equal(response.responses![0]!.outputConfig?.batchSize, 1);

    const progress = await client.checkAsyncBatchAnnotateFilesProgress(operation.name);
    assert.equal(progress.done, true);
    assert.equal(progress.metadata?.state, State.DONE);
    assert.ok(Number(progress.metadata?.createTime?.seconds) > 0);
    assert.equal(progress.result?.responses?.[0]?.outputConfig?.gcsDestination?.uri, 'gs://client/out/');

    // The shards parse with the client's own protos.
    const AnnotateFileResponse = vision.protos.google.cloud.vision.v1.AnnotateFileResponse;
    const shard = AnnotateFileResponse.fromObject(JSON.parse(readFileSync(server.pathOf('gs://client/out/output-2-to-2.json'), 'utf8')));
    assert.equal(shard.responses[0]!.fullTextAnnotation?.text, 'Page two\n');
    assert.equal(shard.responses[0]!.context?.pageNumber, 2);
    assert.equal(shard.totalPages, 2);
  });

  it("its operations client lists, cancels and deletes longrun's operations", async () => {
    server.put('gs://client/in/long.pdf', await makeNumberedPdf(300));
    const [operation] = await client.asyncBatchAnnotateFiles({ requests: [fileRequest('gs://client/in/long.pdf', 'gs://client/long/')] });
    const operations = client.operationsClient;
    const [listed] = await operations.listOperations({ name: 'operations', filter: 'done = false' });
    assert.ok(listed.some((op) => op.name === operation.name), 'the running operation is listed');

    await operations.cancelOperation({ name: operation.name });
    await assert.rejects(operation.promise(), (error: { code?: number }) => error.code === Code.CANCELLED);
    const progress = await client.checkAsyncBatchAnnotateFilesProgress(operation.name);
    assert.equal(progress.done, true);
    // gax leaves `metadata` unset on failed operations; the raw Any is there, decoded with its protos.
    const raw = progress.latestResponse.metadata!;
    assert.equal(raw.type_url, 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata');
    assert.equal(vision.protos.google.cloud.vision.v1.OperationMetadata.decode(raw.value).state, State.CANCELLED);

    await operations.deleteOperation({ name: operation.name });
    await assert.rejects(operations.getOperation({ name: operation.name }), (error: { code?: number }) => error.code === Code.NOT_FOUND);
  });
});
