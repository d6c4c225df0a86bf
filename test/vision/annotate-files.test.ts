import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ASYNC_BATCH_ANNOTATE_FILES, fileRequest, FONT_SIZE, makePdf, PAGE, startVisionServer, type VisionServer } from './fixtures.js';

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

describe('Vision AsyncBatchAnnotateFiles', () => {
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
});
