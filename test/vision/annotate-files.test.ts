import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Code } from '../../src/index.js';
import { rejectsWith } from '../helpers/status.js';
import { tempDir } from '../helpers/temp.js';
import { eventually } from '../helpers/wait.js';
import {
  ASYNC_BATCH_ANNOTATE_FILES,
  fileRequest,
  FONT_SIZE,
  makeNumberedPdf,
  makePdf,
  makePdfWithBrokenPage,
  PAGE,
  startVisionServer,
  type VisionServer,
} from './fixtures.js';

interface Vertex {
  x?: number;
  y?: number;
}
interface Word {
  boundingBox: { normalizedVertices: Vertex[] };
  symbols: { text: string; property?: { detectedBreak?: { type: string } } }[];
}
interface Shard {
  inputConfig: { gcsSource: { uri: string }; mimeType: string };
  totalPages: number;
  responses: {
    fullTextAnnotation?: { text: string; pages: { width: number; height: number; blocks: { paragraphs: { words: Word[] }[] }[] }[] };
    error?: { code: number; message: string };
    context: { uri: string; pageNumber: number };
  }[];
}

const wordText = (word: Word) => word.symbols.map((s) => s.text).join('');

describe('Vision AsyncBatchAnnotateFiles', { timeout: 180_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server.close());

  async function run(requests: unknown[]) {
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, { requests });
    const { operation } = await server.client.wait(reply.name, 30_000);
    assert.equal(operation.done, true);
    return operation;
  }

  it('writes Vision shards of batch_size pages with words, boxes, blocks and paragraphs', async () => {
    const pdf = await makePdf([
      [
        { text: 'Hello world again', x: 72, y: 100 },
        { text: 'second line here', x: 72, y: 115 },
        { text: 'New paragraph', x: 72, y: 160 },
        { text: 'Far away block', x: 72, y: 400 },
      ],
      [{ text: 'Only line', x: 300, y: 700 }],
      [{ text: 'Third page', x: 72, y: 72 }],
    ]);
    server.put('gs://docs/in/three.pdf', pdf);
    const operation = await run([fileRequest('gs://docs/in/three.pdf', 'gs://results/three/', { batchSize: 2 })]);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    const response = server.longrun.registry.unpack<{ responses: { outputConfig: { gcsDestination: { uri: string }; batchSize: number } }[] }>({
      typeUrl: operation.response!.type_url,
      value: operation.response!.value,
    });
    assert.equal(operation.response!.type_url, 'type.googleapis.com/google.cloud.vision.v1.AsyncBatchAnnotateFilesResponse');
    assert.deepEqual(response.responses.map((r) => r.outputConfig), [{ gcsDestination: { uri: 'gs://results/three/' }, batchSize: 2 }]);
    const metadata = server.longrun.registry.unpack<{ state: string; createTime: { seconds: string } | null; updateTime: { seconds: string } | null }>({
      typeUrl: operation.metadata!.type_url,
      value: operation.metadata!.value,
    });
    assert.equal(operation.metadata!.type_url, 'type.googleapis.com/google.cloud.vision.v1.OperationMetadata');
    assert.equal(metadata.state, 'DONE');
    assert.ok(Number(metadata.updateTime!.seconds) >= Number(metadata.createTime!.seconds));

    assert.deepEqual(readdirSync(server.pathOf('gs://results/three/')).sort(), ['output-1-to-2.json', 'output-3-to-3.json']);
    const first = JSON.parse(readFileSync(server.pathOf('gs://results/three/output-1-to-2.json'), 'utf8')) as Shard;
    const second = JSON.parse(readFileSync(server.pathOf('gs://results/three/output-3-to-3.json'), 'utf8')) as Shard;
    assert.deepEqual(first.inputConfig, { gcsSource: { uri: 'gs://docs/in/three.pdf' }, mimeType: 'application/pdf' });
    assert.equal(first.totalPages, 3);
    assert.deepEqual(first.responses.map((r) => r.context), [
      { uri: 'gs://docs/in/three.pdf', pageNumber: 1 },
      { uri: 'gs://docs/in/three.pdf', pageNumber: 2 },
    ]);
    assert.deepEqual(second.responses.map((r) => r.context), [{ uri: 'gs://docs/in/three.pdf', pageNumber: 3 }]);

    const page1 = first.responses[0]!.fullTextAnnotation!;
    assert.equal(page1.text, 'Hello world again\nsecond line here\nNew paragraph\nFar away block\n');
    const [page] = page1.pages;
    assert.deepEqual([page!.width, page!.height], [PAGE.width, PAGE.height]);
    // Two lines 15 pt apart make a paragraph; 45 pt starts another; 240 pt further is a new block.
    const structure = page!.blocks.map((block) => block.paragraphs.map((paragraph) => paragraph.words.map(wordText).join(' ')));
    assert.deepEqual(structure, [['Hello world again second line here', 'New paragraph'], ['Far away block']]);

    const hello = page!.blocks[0]!.paragraphs[0]!.words[0]!;
    const [topLeft, topRight, bottomRight, bottomLeft] = hello.boundingBox.normalizedVertices;
    const near = (actual: number | undefined, expected: number, tolerance: number, what: string) =>
      assert.ok(Math.abs((actual ?? 0) - expected) <= tolerance, `${what}: ${actual} is not within ${tolerance} of ${expected}`);
    near(topLeft!.x, 72 / PAGE.width, 0.002, 'left edge of "Hello"');
    near(bottomLeft!.x, 72 / PAGE.width, 0.002, 'left edge of "Hello"');
    near(bottomRight!.y, (100 + 0.2 * FONT_SIZE) / PAGE.height, 0.003, 'bottom of "Hello" (baseline + descent)');
    near(topRight!.y, (100 - 0.8 * FONT_SIZE) / PAGE.height, 0.003, 'top of "Hello" (baseline - ascent)');
    // "Hello" is 5 of the 17 characters of its run: about 5/17 of the run's 92 pt.
    near(topRight!.x, (72 + (92.028 * 5) / 17) / PAGE.width, 0.02, 'right edge of "Hello"');
    const breaks = page!.blocks[0]!.paragraphs[0]!.words.map((w) => w.symbols.at(-1)!.property?.detectedBreak?.type);
    assert.deepEqual(breaks, ['SPACE', 'SPACE', 'EOL_SURE_SPACE', 'SPACE', 'SPACE', 'LINE_BREAK']);

    const lonely = first.responses[1]!.fullTextAnnotation!.pages[0]!.blocks[0]!.paragraphs[0]!.words[0]!;
    near(lonely.boundingBox.normalizedVertices[0]!.x, 300 / PAGE.width, 0.002, 'left edge of "Only"');
    near(lonely.boundingBox.normalizedVertices[3]!.y, (700 + 0.2 * FONT_SIZE) / PAGE.height, 0.003, 'bottom of "Only"');
    assert.equal(second.responses[0]!.fullTextAnnotation!.text, 'Third page\n');
  });

  it('reads inline content as well as gs:// objects', async () => {
    const content = Buffer.from(await makePdf([[{ text: 'Inline bytes', x: 72, y: 72 }]]));
    const operation = await run([
      { inputConfig: { content, mimeType: 'application/pdf' }, features: [{ type: 'TEXT_DETECTION' }], outputConfig: { gcsDestination: { uri: 'gs://results/inline/out-' } } },
    ]);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    const shard = JSON.parse(readFileSync(server.pathOf('gs://results/inline/out-output-1-to-1.json'), 'utf8')) as Shard;
    assert.equal(shard.responses[0]!.fullTextAnnotation!.text, 'Inline bytes\n');
    assert.equal(shard.inputConfig.gcsSource, undefined);
  });

  it('refuses bad requests synchronously, naming the field, and creates no operation', async () => {
    server.put('gs://docs/ok.pdf', await makePdf([[{ text: 'x', x: 72, y: 72 }]]));
    const ok = fileRequest('gs://docs/ok.pdf', 'gs://results/bad/');
    const before = (await server.client.list({ pageSize: 1000 })).operations.length;
    const cases: [string, unknown[], RegExp][] = [
      ['no requests', [], /requests: must hold at least one file/],
      ['too many files', Array.from({ length: 101 }, () => ok), /requests: holds 101 files; at most 100/],
      ['missing input', [{ ...ok, inputConfig: null }], /requests\[0\]\.input_config: is required/],
      ['empty input', [{ ...ok, inputConfig: { mimeType: 'application/pdf' } }], /requests\[0\]\.input_config: needs gcs_source.uri or content/],
      ['unsupported mime type', [{ ...ok, inputConfig: { gcsSource: { uri: 'gs://docs/ok.pdf' }, mimeType: 'image/png' } }], /requests\[0\]\.input_config\.mime_type: "image\/png" is not supported/],
      ['missing mime type', [{ ...ok, inputConfig: { gcsSource: { uri: 'gs://docs/ok.pdf' } } }], /input_config\.mime_type: is required/],
      ['malformed input URI', [fileRequest('https://example.com/a.pdf', 'gs://results/bad/')], /input_config\.gcs_source\.uri: must be a Cloud Storage URI/],
      ['missing output', [{ ...ok, outputConfig: null }], /requests\[0\]\.output_config\.gcs_destination\.uri: is required/],
      ['malformed output URI', [fileRequest('gs://docs/ok.pdf', 'results/bad/')], /output_config\.gcs_destination\.uri: must be a Cloud Storage URI/],
      ['bad bucket', [fileRequest('gs://Bad_Bucket!/ok.pdf', 'gs://results/bad/')], /gcs_source\.uri: "Bad_Bucket!" is not a valid bucket name/],
      ['batch size too large', [fileRequest('gs://docs/ok.pdf', 'gs://results/bad/', { batchSize: 101 })], /output_config\.batch_size: must be between 1 and 100/],
      ['negative batch size', [fileRequest('gs://docs/ok.pdf', 'gs://results/bad/', { batchSize: -1 })], /output_config\.batch_size/],
      ['unsupported feature', [fileRequest('gs://docs/ok.pdf', 'gs://results/bad/', { feature: 'FACE_DETECTION' })], /requests\[0\]\.features\[0\]\.type: FACE_DETECTION is not supported/],
      ['unknown feature number', [{ ...ok, features: [{ type: 99 }] }], /features\[0\]\.type: 99 is not supported/],
      ['no features', [{ ...ok, features: [] }], /requests\[0\]\.features: must name at least one feature/],
      ['.. in the input', [fileRequest('gs://docs/../../etc/passwd', 'gs://results/bad/')], /gcs_source\.uri: object names may not have empty, "\." or "\.\." path segments/],
      ['.. in the output', [fileRequest('gs://docs/ok.pdf', 'gs://results/../../../tmp/')], /gcs_destination\.uri: object names may not have/],
      ['absolute object', [fileRequest('gs://docs//etc/passwd', 'gs://results/bad/')], /gcs_source\.uri: object names may not have empty/],
      ['backslash', [fileRequest('gs://docs/a\\..\\b.pdf', 'gs://results/bad/')], /backslashes/],
    ];
    for (const [what, requests, message] of cases) {
      const error = await rejectsWith(server.call(ASYNC_BATCH_ANNOTATE_FILES, { requests }), grpcStatus.INVALID_ARGUMENT, message).catch((failure: Error) => {
        throw new Error(`${what}: ${failure.message}`);
      });
      assert.ok(error.details.length > 0, what);
    }
    assert.equal((await server.client.list({ pageSize: 1000 })).operations.length, before, 'no operation was created');
  });

  it('refuses more than 2,000 pages before creating an operation', async () => {
    server.put('gs://docs/big.pdf', await makeNumberedPdf(1001));
    const request = fileRequest('gs://docs/big.pdf', 'gs://results/big/');
    await rejectsWith(server.call(ASYNC_BATCH_ANNOTATE_FILES, { requests: [request, request] }), grpcStatus.INVALID_ARGUMENT, /2002 pages in all; at most 2000/);
  });

  it('never follows a symlink out of the storage root', async () => {
    const outside = tempDir('longrun-outside-');
    try {
      mkdirSync(join(server.storageRoot, 'links'), { recursive: true });
      symlinkSync(outside.path, join(server.storageRoot, 'links', 'out'));
      server.put('gs://docs/ok.pdf', await makePdf([[{ text: 'x', x: 72, y: 72 }]]));
      await rejectsWith(
        server.call(ASYNC_BATCH_ANNOTATE_FILES, { requests: [fileRequest('gs://docs/ok.pdf', 'gs://links/out/results/')] }),
        grpcStatus.INVALID_ARGUMENT,
        /gcs_destination\.uri: gs:\/\/links\/out\/results\/ resolves outside the storage root/,
      );
      writeFileSync(join(outside.path, 'secret.pdf'), await makePdf([[{ text: 'secret', x: 72, y: 72 }]]));
      const operation = await run([fileRequest('gs://links/out/secret.pdf', 'gs://results/leak/')]);
      assert.equal(operation.error?.code, Code.INVALID_ARGUMENT);
      assert.match(operation.error!.message, /resolves outside the storage root/);
      assert.equal(existsSync(server.pathOf('gs://results/leak/')), false, 'nothing was written');
      assert.deepEqual(readdirSync(outside.path), ['secret.pdf'], 'nothing was written outside the root');
    } finally {
      outside.remove();
    }
  });

  it('fails the operation with NOT_FOUND for a missing input and INVALID_ARGUMENT for a file that is not a PDF', async () => {
    const missing = await run([fileRequest('gs://docs/nowhere.pdf', 'gs://results/missing/')]);
    assert.equal(missing.error?.code, Code.NOT_FOUND);
    assert.equal(missing.error?.message, 'Input file not found: gs://docs/nowhere.pdf');
    server.put('gs://docs/not-a.pdf', 'this is plain text, not a PDF');
    const notPdf = await run([fileRequest('gs://docs/not-a.pdf', 'gs://results/not-pdf/')]);
    assert.equal(notPdf.error?.code, Code.INVALID_ARGUMENT);
    assert.match(notPdf.error!.message, /^gs:\/\/docs\/not-a\.pdf is not a readable PDF file/);
  });

  it('records an unparseable page in its response, reads a page without text by OCR, and still succeeds', async () => {
    server.put('gs://docs/broken.pdf', await makePdfWithBrokenPage());
    server.put('gs://docs/scan.pdf', await makePdf([[{ text: 'Text page', x: 72, y: 72 }], []]));
    const operation = await run([fileRequest('gs://docs/broken.pdf', 'gs://results/broken/'), fileRequest('gs://docs/scan.pdf', 'gs://results/scan/')]);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    const broken = JSON.parse(readFileSync(server.pathOf('gs://results/broken/output-1-to-2.json'), 'utf8')) as Shard;
    assert.equal(broken.responses[0]!.fullTextAnnotation!.text, 'first\n');
    assert.equal(broken.responses[1]!.error!.code, Code.INVALID_ARGUMENT);
    assert.match(broken.responses[1]!.error!.message, /^Page 2 of gs:\/\/docs\/broken\.pdf could not be parsed/);
    const scan = JSON.parse(readFileSync(server.pathOf('gs://results/scan/output-1-to-2.json'), 'utf8')) as Shard;
    assert.equal(scan.responses[0]!.error, undefined);
    // Page 2 is a black rectangle, no text layer: rendered and read by OCR, which finds no words.
    assert.equal(scan.responses[1]!.error, undefined);
    assert.equal(scan.responses[1]!.fullTextAnnotation!.text, '');
    assert.deepEqual(scan.responses[1]!.context, { uri: 'gs://docs/scan.pdf', pageNumber: 2 });
  });

  it('stops within a page when cancelled; the shards already written stay', async () => {
    server.put('gs://docs/long.pdf', await makeNumberedPdf(400));
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, { requests: [fileRequest('gs://docs/long.pdf', 'gs://results/long/', { batchSize: 10 })] });
    const prefix = server.pathOf('gs://results/long/');
    await eventually(() => existsSync(prefix) && readdirSync(prefix).filter((f) => f.endsWith('.json')).length >= 2, `two result shards in ${prefix}`, 30_000);
    const running = await server.client.get(reply.name);
    const runningState = server.longrun.registry.unpack<{ state: string }>({ typeUrl: running.operation.metadata!.type_url, value: running.operation.metadata!.value });
    assert.equal(runningState.state, 'RUNNING');
    // 2 shards of 10 pages out of 400 are 5%: progress follows the pages.
    assert.ok((running.progressPercent ?? 0) >= 5 && (running.progressPercent ?? 100) < 100, `progress ${running.progressPercent}%`);
    await server.client.cancel(reply.name);
    const { operation } = await server.client.wait(reply.name, 10_000);
    assert.equal(operation.done, true);
    assert.equal(operation.error?.code, Code.CANCELLED);
    const metadata = server.longrun.registry.unpack<{ state: string }>({ typeUrl: operation.metadata!.type_url, value: operation.metadata!.value });
    assert.equal(metadata.state, 'CANCELLED');
    const shards = readdirSync(prefix).filter((f) => f.endsWith('.json'));
    assert.ok(shards.length >= 2 && shards.length < 40, `${shards.length} of 40 shards written before the cancel took effect`);
    assert.ok(shards.includes('output-1-to-10.json'));
    assert.deepEqual(readdirSync(prefix).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
  });

  it('answers UNIMPLEMENTED for the ImageAnnotator methods it does not serve', async () => {
    await rejectsWith(server.call('/google.cloud.vision.v1.ImageAnnotator/BatchAnnotateImages', { requests: [] }), grpcStatus.UNIMPLEMENTED);
    await rejectsWith(server.call('/google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateImages', { requests: [] }), grpcStatus.UNIMPLEMENTED);
  });
});

describe('Vision metadata while pages complete', { timeout: 60_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server.close());

  it('moves update_time (and progress) as pages complete, seen by GetOperation polls', async () => {
    server.put('gs://docs/in/many.pdf', await makeNumberedPdf(40));
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
      requests: [fileRequest('gs://docs/in/many.pdf', 'gs://results/many/', { batchSize: 5 })],
    });
    const runningUpdateTimes = new Set<string>();
    let done = false;
    const deadline = Date.now() + 30_000;
    while (!done && Date.now() < deadline) {
      const { operation } = await server.client.get(reply.name);
      done = operation.done;
      const metadata = server.longrun.registry.unpack<{ state: string; updateTime: { seconds: string; nanos: number } }>({
        typeUrl: operation.metadata!.type_url,
        value: operation.metadata!.value,
      });
      if (metadata.state === 'RUNNING') runningUpdateTimes.add(`${metadata.updateTime.seconds}.${metadata.updateTime.nanos}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(done, true);
    assert.ok(runningUpdateTimes.size >= 3, `a poller saw update_time move while RUNNING: ${[...runningUpdateTimes].join(', ')}`);
  });
});
