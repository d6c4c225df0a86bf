/**
 * Google's own CLI against `longrun serve` on its defaults: `gcloud ml vision detect-text-pdf` and
 * `gcloud beta ml vision operations describe`, through the HTTP gateway. gcloud's REST stack
 * (apitools) resends a call whose 2xx answer carries Retry-After, so this also proves the Vision
 * method answers as Google does: one command, exactly one operation.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { http } from '../helpers/http.js';
import { httpAddressOf, spawnServer, type ServerProcess } from '../helpers/process.js';
import { tempDir } from '../helpers/temp.js';

const HELLO_PDF = fileURLToPath(new URL('../../../examples/hello.pdf', import.meta.url));

interface GcloudResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('gcloud against longrun serve', { timeout: 240_000 }, () => {
  const dir = tempDir('longrun-gcloud-');
  const config = join(dir.path, 'gcloud-config');
  const tokenFile = join(dir.path, 'token');
  let server: ServerProcess;
  let base: string;

  const gcloud = (args: string[]): Promise<GcloudResult> =>
    new Promise((resolve) => {
      execFile(
        'gcloud',
        [...args, '--quiet'],
        { timeout: 90_000, env: { ...process.env, CLOUDSDK_CONFIG: config, CLOUDSDK_CORE_DISABLE_PROMPTS: '1' } },
        (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      );
    });
  const gcloudOk = async (args: string[]): Promise<string> => {
    const result = await gcloud(args);
    assert.equal(result.code, 0, `gcloud ${args.join(' ')} failed:\n${result.stderr}`);
    return result.stdout;
  };
  const listAll = async (): Promise<string[]> => {
    const reply = await http('GET', `${base}/v1/operations`);
    assert.equal(reply.status, 200);
    return (reply.json.operations ?? []).map((op: { name: string }) => op.name);
  };

  before(async () => {
    server = await spawnServer(dir.file('longrun.db'));
    base = await httpAddressOf(server);
    const bucket = join(dir.path, 'storage', 'my-bucket');
    mkdirSync(bucket, { recursive: true });
    copyFileSync(HELLO_PDF, join(bucket, 'hello.pdf'));
    writeFileSync(tokenFile, 'any-token-the-open-server-ignores\n');
    mkdirSync(config);
    await gcloudOk(['config', 'set', 'core/disable_usage_reporting', 'true']);
    await gcloudOk(['config', 'set', 'component_manager/disable_update_check', 'true']);
    await gcloudOk(['config', 'set', 'api_endpoint_overrides/vision', `${base}/`]);
  });
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  it('detect-text-pdf makes exactly one operation, which describe reads to its response, and the shards are written', async () => {
    assert.deepEqual(await listAll(), []);
    const auth = ['--access-token-file', tokenFile, '--project', 'p', '--format', 'json'];
    const started = JSON.parse(
      await gcloudOk(['ml', 'vision', 'detect-text-pdf', 'gs://my-bucket/hello.pdf', 'gs://my-bucket/out/', '--batch-size', '1', ...auth]),
    );
    assert.match(started.name, /^operations\/[A-Za-z0-9_-]{27}$/);
    assert.equal(started.metadata['@type'], 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata');
    assert.deepEqual(await listAll(), [started.name]);

    const done = await http('POST', `${base}/v1/${started.name}:wait`, { body: { timeout: '60s' } });
    assert.equal(done.json.done, true);
    const described = JSON.parse(await gcloudOk(['beta', 'ml', 'vision', 'operations', 'describe', started.name, ...auth]));
    assert.equal(described.name, started.name);
    assert.equal(described.done, true);
    assert.equal(described.metadata.state, 'DONE');
    assert.equal(described.response['@type'], 'type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse');
    assert.deepEqual(described.response.responses[0].outputConfig, { batchSize: 1, gcsDestination: { uri: 'gs://my-bucket/out/' } });
    const shards = readdirSync(join(dir.path, 'storage', 'my-bucket', 'out')).sort();
    assert.deepEqual(shards, ['output-1-to-1.json', 'output-2-to-2.json'], 'hello.pdf has two pages, one per shard');
    assert.match(readFileSync(join(dir.path, 'storage', 'my-bucket', 'out', shards[0]!), 'utf8'), /Hello/);
    assert.deepEqual(await listAll(), [started.name], 'still one operation');
  });

  it('describe of an unknown operation fails with NOT_FOUND and creates nothing', async () => {
    const before = await listAll();
    const result = await gcloud(['beta', 'ml', 'vision', 'operations', 'describe', 'operations/AAAAAAAAAAAAAAAAAAAAAAAAAAA', '--access-token-file', tokenFile, '--project', 'p']);
    assert.notEqual(result.code, 0);
    // The open server's one caller is an admin: a name that never existed is NOT_FOUND (404).
    assert.match(result.stderr, /404|NOT_FOUND/);
    assert.match(result.stderr, /does not exist/);
    assert.deepEqual(await listAll(), before);
  });
});
