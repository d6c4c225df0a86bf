import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Code } from '../../src/index.js';
import { eventually } from '../helpers/wait.js';
import { ASYNC_BATCH_ANNOTATE_FILES, fileRequest, startVisionServer, type VisionServer } from './fixtures.js';
import { makeGif, makeScannedPdf, makeTiff, renderScan, SCAN_PX, type ScanImage } from './scans.js';

interface Vertex {
  x?: number;
  y?: number;
}
interface Poly {
  normalizedVertices?: Vertex[];
  vertices?: Vertex[];
}
interface Symbol {
  text: string;
  confidence: number;
  boundingBox: Poly;
  property?: { detectedBreak?: { type: string } };
}
interface Word {
  boundingBox: Poly;
  confidence: number;
  symbols: Symbol[];
}
interface Page {
  property?: { detectedLanguages?: { languageCode: string }[] };
  width: number;
  height: number;
  confidence: number;
  blocks: { blockType: string; confidence: number; boundingBox: Poly; paragraphs: { confidence: number; words: Word[] }[] }[];
}
interface Response {
  fullTextAnnotation?: { text: string; pages: Page[] };
  error?: { code: number; message: string };
  context: { uri: string; pageNumber: number };
}
interface Shard {
  responses: Response[];
  totalPages: number;
}

const wordText = (word: Word) => word.symbols.map((s) => s.text).join('');
const wordsOf = (page: Page) => page.blocks.flatMap((block) => block.paragraphs.flatMap((paragraph) => paragraph.words));

// Two lines, far apart, of words Tesseract reads without doubt at this size.
const LINES = [
  { text: 'Invoice 4711 paid', x: 60, y: 150 },
  { text: 'Total due 99 EUR', x: 300, y: 420 },
];
// 1200x600 pixels as a 4x2 inch page: 300 dpi, as longrun renders it.
const SCAN_POINTS = { width: 288, height: 144 };

/** The box of `word` (normalized or in pixels) is where the test drew the first word of `line`. */
function assertWordAt(word: Word, scan: ScanImage, line: number, how: 'normalized' | 'pixels') {
  const drawn = scan.lines[line]!;
  const scale = how === 'normalized' ? { x: scan.width, y: scan.height } : { x: 1, y: 1 };
  const vertices = (how === 'normalized' ? word.boundingBox.normalizedVertices : word.boundingBox.vertices)!;
  assert.equal(vertices.length, 4);
  const [topLeft, topRight, bottomRight, bottomLeft] = vertices.map((v) => ({ x: (v.x ?? 0) * scale.x, y: (v.y ?? 0) * scale.y }));
  // In pixels of the scan: within 6 px (an eighth of the font's height) of the ink the test drew.
  const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) <= 6, `${wordText(word)}: ${what} ${actual} is not near ${expected}`);
  near(topLeft!.x, drawn.left, 'left');
  near(bottomLeft!.x, drawn.left, 'left');
  near(topLeft!.y, drawn.top, 'top');
  near(topRight!.y, drawn.top, 'top');
  // The words checked have no descenders: they end on the baseline.
  near(bottomRight!.y, drawn.baseline, 'bottom');
  assert.ok(topRight!.x > topLeft!.x && bottomRight!.y > topRight!.y, 'corners clockwise from the top left');
}

function assertConfident(page: Page) {
  for (const word of wordsOf(page)) {
    assert.ok(word.confidence > 0.8 && word.confidence <= 1, `confidence of ${wordText(word)}: ${word.confidence}`);
    for (const symbol of word.symbols) assert.ok(symbol.confidence > 0 && symbol.confidence <= 1);
  }
  assert.ok(page.confidence > 0.8 && page.confidence <= 1, `page confidence ${page.confidence}`);
  assert.deepEqual(page.property?.detectedLanguages, [{ languageCode: 'en' }]);
}

describe('Vision OCR of scanned pages', { timeout: 240_000 }, () => {
  let server: VisionServer;
  const scan = renderScan(LINES);
  const shards: Record<string, Shard> = {};
  before(async () => {
    server = await startVisionServer();
    const other = renderScan([{ text: 'Second scan page', x: 100, y: 300 }]);
    // A mixed document: text layer, scan, text layer, scan.
    server.put(
      'gs://docs/mixed.pdf',
      await makeScannedPdf([
        { text: 'Cover page with a text layer', points: SCAN_POINTS },
        { scan, points: SCAN_POINTS },
        { text: 'Middle page text', points: SCAN_POINTS },
        { scan: other, points: SCAN_POINTS },
      ]),
    );
    server.put('gs://docs/pages.tiff', makeTiff([scan, other]));
    server.put('gs://docs/scan.gif', makeGif(scan));
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
      requests: [
        fileRequest('gs://docs/mixed.pdf', 'gs://results/mixed/'),
        fileRequest('gs://docs/pages.tiff', 'gs://results/tiff/', { mimeType: 'image/tiff', languageHints: ['en-US'] }),
        fileRequest('gs://docs/scan.gif', 'gs://results/gif/', { mimeType: 'image/gif' }),
      ],
    });
    const { operation } = await server.client.wait(reply.name, 120_000);
    assert.equal(operation.done, true);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    for (const [name, file] of [
      ['mixed', 'mixed/output-1-to-4.json'],
      ['tiff', 'tiff/output-1-to-2.json'],
      ['gif', 'gif/output-1-to-1.json'],
    ] as const) {
      shards[name] = JSON.parse(readFileSync(server.pathOf(`gs://results/${file}`), 'utf8')) as Shard;
    }
  });
  after(() => server?.close());

  it('reads a scanned PDF page: words with normalized boxes where they were drawn, confidences, language', () => {
    const response = shards.mixed!.responses[1]!;
    assert.equal(response.error, undefined);
    assert.deepEqual(response.context, { uri: 'gs://docs/mixed.pdf', pageNumber: 2 });
    const annotation = response.fullTextAnnotation!;
    assert.equal(annotation.text, 'Invoice 4711 paid\nTotal due 99 EUR\n');
    const page = annotation.pages[0]!;
    // A PDF page's size is in points, as for text-layer pages.
    assert.deepEqual([page.width, page.height], [SCAN_POINTS.width, SCAN_POINTS.height]);
    const words = wordsOf(page);
    assert.deepEqual(words.map(wordText), ['Invoice', '4711', 'paid', 'Total', 'due', '99', 'EUR']);
    assertWordAt(words[0]!, scan, 0, 'normalized');
    assertWordAt(words[3]!, scan, 1, 'normalized');
    // The lines are far apart: one paragraph (a line's end) or two (a paragraph's end), as Tesseract sees them.
    const breaks = breaksOf(page);
    assert.deepEqual(breaks.filter((_, i) => i !== 2), ['SPACE', 'SPACE', 'SPACE', 'SPACE', 'SPACE', 'LINE_BREAK']);
    assert.ok(['EOL_SURE_SPACE', 'LINE_BREAK'].includes(breaks[2]!), `break after "paid": ${breaks[2]}`);
    // Each symbol has a box of its own, inside its word's.
    const invoice = words[0]!;
    for (const symbol of invoice.symbols) {
      const [symbolLeft, wordLeft] = [symbol.boundingBox.normalizedVertices![0]!.x ?? 0, invoice.boundingBox.normalizedVertices![0]!.x ?? 0];
      assert.ok(symbolLeft >= wordLeft - 0.001);
    }
    assert.ok(page.blocks.every((block) => block.blockType === 'TEXT'));
    assertConfident(page);
  });

  it('keeps the text layer of the pages that have one, in the same document', () => {
    const [cover, , middle, last] = shards.mixed!.responses;
    assert.equal(cover!.fullTextAnnotation!.text, 'Cover page with a text layer\n');
    assert.equal(middle!.fullTextAnnotation!.text, 'Middle page text\n');
    // Text-layer pages are the text itself: confidence 1, and no language claimed.
    assert.equal(cover!.fullTextAnnotation!.pages[0]!.confidence, 1);
    assert.equal(cover!.fullTextAnnotation!.pages[0]!.property, undefined);
    assert.equal(last!.fullTextAnnotation!.text, 'Second scan page\n');
    assert.equal(shards.mixed!.totalPages, 4);
  });

  it('reads every page of a multi-page TIFF: sizes in pixels, boxes normalized', () => {
    const shard = shards.tiff!;
    assert.equal(shard.totalPages, 2);
    assert.deepEqual(shard.responses.map((r) => r.context.pageNumber), [1, 2]);
    assert.deepEqual(shard.responses.map((r) => r.fullTextAnnotation?.text), ['Invoice 4711 paid\nTotal due 99 EUR\n', 'Second scan page\n']);
    const page = shard.responses[0]!.fullTextAnnotation!.pages[0]!;
    assert.deepEqual([page.width, page.height], [SCAN_PX.width, SCAN_PX.height]);
    assertWordAt(wordsOf(page)[0]!, scan, 0, 'normalized');
    assertConfident(page);
  });

  it('reads a GIF, with boxes in pixels as Vision gives them for images', () => {
    const page = shards.gif!.responses[0]!.fullTextAnnotation!.pages[0]!;
    assert.equal(shards.gif!.responses[0]!.fullTextAnnotation!.text, 'Invoice 4711 paid\nTotal due 99 EUR\n');
    const words = wordsOf(page);
    assert.equal(words[0]!.boundingBox.normalizedVertices, undefined);
    assertWordAt(words[0]!, scan, 0, 'pixels');
    assertWordAt(words[3]!, scan, 1, 'pixels');
  });
});

/** The break after each word: a space, the end of a line, the end of the paragraph. */
function breaksOf(page: Page): string[] {
  return wordsOf(page).map((word) => word.symbols.at(-1)!.property?.detectedBreak?.type ?? 'none');
}

describe('Vision OCR of bad input', { timeout: 240_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server?.close());

  it('reports a corrupt image, an unsupported language and a page too large on their pages; the rest is annotated', async () => {
    const scan = renderScan([{ text: 'Readable page', x: 60, y: 200 }]);
    const good = makeTiff([scan]);
    // A TIFF whose second page's pixels are cut off by the end of the file, and whose third is
    // declared 30000x30000 (3.6 GB as RGBA): refused from its directory, before any decoding.
    const broken = makeTiff([scan, scan, scan]);
    const tiff = brokenTiff(broken);
    server.put('gs://docs/bad.tiff', tiff);
    server.put('gs://docs/good.tiff', good);
    // A 100x100 inch page holding no text: too large to render even at 150 dpi.
    const huge = await makeScannedPdf([{ text: 'Small page', points: { width: 288, height: 144 } }, { scan, points: { width: 7200, height: 7200 } }]);
    server.put('gs://docs/huge.pdf', huge);
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, {
      requests: [
        fileRequest('gs://docs/bad.tiff', 'gs://results/bad/', { mimeType: 'image/tiff' }),
        fileRequest('gs://docs/good.tiff', 'gs://results/french/', { mimeType: 'image/tiff', languageHints: ['fr'] }),
        fileRequest('gs://docs/huge.pdf', 'gs://results/huge/'),
      ],
    });
    const { operation } = await server.client.wait(reply.name, 120_000);
    assert.equal(operation.error, undefined, JSON.stringify(operation.error));
    const read = (file: string) => JSON.parse(readFileSync(server.pathOf(`gs://results/${file}`), 'utf8')) as Shard;

    const bad = read('bad/output-1-to-3.json').responses;
    assert.equal(bad[0]!.fullTextAnnotation!.text, 'Readable page\n');
    assert.equal(bad[1]!.error?.code, Code.INVALID_ARGUMENT);
    assert.match(bad[1]!.error!.message, /^Page 2 of gs:\/\/docs\/bad\.tiff: the TIFF image data is truncated/);
    assert.equal(bad[1]!.fullTextAnnotation, undefined);
    assert.equal(bad[2]!.error?.code, Code.INVALID_ARGUMENT);
    assert.match(bad[2]!.error!.message, /^Page 3 is 30000x30000 pixels; at most 25000000 pixels/);

    const french = read('french/output-1-to-1.json').responses[0]!;
    assert.equal(french.error?.code, Code.INVALID_ARGUMENT);
    assert.match(french.error!.message, /requests\[1\]\.image_context\.language_hints: "fr" is not a language this server recognises \(it reads: en\)/);

    const pdf = read('huge/output-1-to-2.json').responses;
    assert.equal(pdf[0]!.fullTextAnnotation!.text, 'Small page\n');
    assert.equal(pdf[1]!.error?.code, Code.INVALID_ARGUMENT);
    assert.match(pdf[1]!.error!.message, /^Page 2 is 100x100 inches; recognising it at 150 dpi would exceed/);
  });

  it('fails a file that is not a TIFF or GIF at all, as it does a PDF that is not one', async () => {
    server.put('gs://docs/not.tiff', 'plain text');
    server.put('gs://docs/not.gif', 'GIF89a but no more');
    for (const [uri, mimeType, message] of [
      ['gs://docs/not.tiff', 'image/tiff', /^gs:\/\/docs\/not\.tiff is not a readable TIFF file/],
      ['gs://docs/not.gif', 'image/gif', /^gs:\/\/docs\/not\.gif is not a readable GIF file/],
    ] as const) {
      const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, { requests: [fileRequest(uri, 'gs://results/not/', { mimeType })] });
      const { operation } = await server.client.wait(reply.name, 30_000);
      assert.equal(operation.error?.code, Code.INVALID_ARGUMENT);
      assert.match(operation.error!.message, message);
    }
  });
});

/** Page 2's strip made to run past the end of the file; page 3 declared 30000 pixels square. */
function brokenTiff(tiff: Uint8Array): Uint8Array {
  // utif2 writes big-endian: find each directory and patch its tags in place.
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const directories: number[] = [];
  for (let at = view.getUint32(4); at !== 0; ) {
    directories.push(at);
    const entries = view.getUint16(at);
    at = view.getUint32(at + 2 + entries * 12);
  }
  const setTag = (directory: number, tag: number, value: number) => {
    const entries = view.getUint16(directory);
    for (let i = 0; i < entries; i++) {
      const entry = directory + 2 + i * 12;
      if (view.getUint16(entry) !== tag) continue;
      // SHORT values sit in the first two bytes of the value field, LONG ones fill it.
      if (view.getUint16(entry + 2) === 3) view.setUint16(entry + 8, value);
      else view.setUint32(entry + 8, value);
      return;
    }
    throw new Error(`tag ${tag} not found`);
  };
  setTag(directories[1]!, 279, tiff.byteLength); // strip byte count: more than the file holds
  setTag(directories[2]!, 256, 30_000);
  setTag(directories[2]!, 257, 30_000);
  return tiff;
}

describe('Vision OCR cancelled mid-scan', { timeout: 240_000 }, () => {
  let server: VisionServer;
  before(async () => {
    server = await startVisionServer();
  });
  after(() => server?.close());

  it('stops within a page: the shards written stay, no more are started', async () => {
    const pages = Array.from({ length: 12 }, (_, i) => ({ scan: renderScan([{ text: `Scanned page ${i + 1}`, x: 60, y: 200 }]), points: SCAN_POINTS }));
    server.put('gs://docs/long-scan.pdf', await makeScannedPdf(pages));
    const reply = await server.call<{ name: string }>(ASYNC_BATCH_ANNOTATE_FILES, { requests: [fileRequest('gs://docs/long-scan.pdf', 'gs://results/long-scan/', { batchSize: 1 })] });
    const prefix = server.pathOf('gs://results/long-scan/');
    const shards = () => (existsSync(prefix) ? readdirSync(prefix).filter((f) => f.endsWith('.json')) : []);
    await eventually(() => shards().length >= 1, 'a first page recognised', 60_000);
    const running = await server.client.get(reply.name);
    assert.equal(running.operation.done, false);
    assert.ok((running.progressPercent ?? 0) > 0, 'progress moved with the first page');
    await server.client.cancel(reply.name);
    const { operation } = await server.client.wait(reply.name, 30_000);
    assert.equal(operation.error?.code, Code.CANCELLED);
    const written = shards();
    assert.ok(written.length < 12, `${written.length} of 12 pages written before the cancel took effect`);
    const first = JSON.parse(readFileSync(`${prefix}/output-1-to-1.json`, 'utf8')) as Shard;
    assert.equal(first.responses[0]!.fullTextAnnotation!.text, 'Scanned page 1\n');
  });
});
