/** The Vision sample from a terminal: buf curl through reflection, no proto files at hand. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bufCurl } from '../helpers/buf-curl.js';
import { fileRequest, makePdf, startVisionServer, type VisionServer } from './fixtures.js';

describe('Vision through server reflection', { timeout: 180_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server.close());

  it('lists ImageAnnotator, starts AsyncBatchAnnotateFiles, and shows OperationMetadata and the response as JSON', async () => {
    const listed = await bufCurl(server.address, ['--list-methods', '']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^google\.cloud\.vision\.v1\.ImageAnnotator\/AsyncBatchAnnotateFiles$/m);

    server.put('gs://terminal/doc.pdf', await makePdf([[{ text: 'From a terminal', x: 72, y: 72 }]]));
    const request = { requests: [fileRequest('gs://terminal/doc.pdf', 'gs://terminal/out/')] };
    const started = await bufCurl(server.address, ['-d', JSON.stringify(request), 'google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles']);
    assert.equal(started.code, 0, started.stderr);
    const { name, metadata } = JSON.parse(started.stdout) as { name: string; metadata: { '@type': string; state: string } };
    assert.equal(metadata['@type'], 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata');
    assert.equal(metadata.state, 'CREATED');

    const waited = await bufCurl(server.address, ['-d', JSON.stringify({ name, timeout: '20s' }), 'google.longrunning.Operations/WaitOperation']);
    assert.equal(waited.code, 0, waited.stderr);
    const operation = JSON.parse(waited.stdout) as {
      done: boolean;
      metadata: { '@type': string; state: string; createTime: string; updateTime: string };
      response: { '@type': string; responses: { outputConfig: { gcsDestination: { uri: string }; batchSize: number } }[] };
    };
    assert.equal(operation.done, true);
    assert.equal(operation.metadata.state, 'DONE');
    assert.match(operation.metadata.createTime, /^\d{4}-\d\d-\d\dT/);
    assert.equal(operation.response['@type'], 'type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse');
    assert.deepEqual(operation.response.responses, [{ outputConfig: { gcsDestination: { uri: 'gs://terminal/out/' }, batchSize: 20 } }]);
  });
});
