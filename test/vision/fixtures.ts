/** PDFs with known words at known places, written with pdf-lib, and a longrun serving Vision. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PDFArray, PDFDict, PDFDocument, PDFName, PDFNumber, StandardFonts, type PDFFont } from 'pdf-lib';
import { addVision, VISION_PROTO_FILES } from '../../src/vision/index.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

export const PAGE = { width: 612, height: 792 };
export const FONT_SIZE = 12;

/** A line of text drawn at (x, y) from the top left of the page, in points. */
export interface DrawnLine {
  text: string;
  x: number;
  y: number;
}

/** One entry per page: the lines on it (none: a page without a text layer). */
export async function makePdf(pages: readonly DrawnLine[][]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font: PDFFont = await doc.embedFont(StandardFonts.Helvetica);
  for (const lines of pages) {
    const page = doc.addPage([PAGE.width, PAGE.height]);
    // pdf-lib places the baseline at y from the bottom; tests think from the top.
    for (const line of lines) page.drawText(line.text, { x: line.x, y: PAGE.height - line.y, size: FONT_SIZE, font });
    if (lines.length === 0) page.drawRectangle({ x: 100, y: 100, width: 200, height: 300 });
  }
  return doc.save();
}

/** Three pages whose second one cannot be parsed: its page-tree entry points at a number. */
export async function makePdfWithBrokenPage(): Promise<Uint8Array> {
  const doc = await PDFDocument.load(await makePdf([[{ text: 'first', x: 72, y: 72 }], [{ text: 'second', x: 72, y: 72 }], [{ text: 'third', x: 72, y: 72 }]]));
  const kids = doc.catalog.lookup(PDFName.of('Pages'), PDFDict).lookup(PDFName.of('Kids'), PDFArray);
  kids.set(1, doc.context.register(PDFNumber.of(7)));
  return doc.save({ useObjectStreams: false });
}

/** `count` pages, each with a header naming its number and a few lines of body text. */
export async function makeNumberedPdf(count: number): Promise<Uint8Array> {
  return makePdf(
    Array.from({ length: count }, (_, i) => [
      { text: `Page ${i + 1} heading`, x: 72, y: 72 },
      { text: 'The quick brown fox jumps over the lazy dog.', x: 72, y: 120 },
      { text: 'Pack my box with five dozen liquor jugs.', x: 72, y: 135 },
      { text: 'How vexingly quick daft zebras jump.', x: 72, y: 150 },
    ]),
  );
}

export interface VisionServer extends TestServer {
  storageRoot: string;
  /** Puts `bytes` at gs://bucket/object. */
  put(uri: string, bytes: Uint8Array | string): void;
  pathOf(uri: string): string;
}

export async function startVisionServer(options: TestServerOptions = {}): Promise<VisionServer> {
  const storage = tempDir('longrun-storage-');
  const server = await startTestServer({
    protoFiles: VISION_PROTO_FILES,
    ...options,
    setup: (longrun) => addVision(longrun, { storageRoot: storage.path }),
  });
  const pathOf = (uri: string) => join(storage.path, uri.replace(/^gs:\/\//, ''));
  return {
    ...server,
    storageRoot: storage.path,
    pathOf,
    put(uri, bytes) {
      mkdirSync(dirname(pathOf(uri)), { recursive: true });
      writeFileSync(pathOf(uri), bytes);
    },
    async close() {
      await server.close();
      storage.remove();
    },
  };
}

export const ASYNC_BATCH_ANNOTATE_FILES = '/google.cloud.vision.v1.ImageAnnotator/AsyncBatchAnnotateFiles';

/** One file's AsyncAnnotateFileRequest (camelCase, as a generated Node client sends it). */
export function fileRequest(input: string, output: string, extra: { batchSize?: number; feature?: string; mimeType?: string; languageHints?: string[] } = {}) {
  return {
    inputConfig: { gcsSource: { uri: input }, mimeType: extra.mimeType ?? 'application/pdf' },
    features: [{ type: extra.feature ?? 'DOCUMENT_TEXT_DETECTION' }],
    ...(extra.languageHints === undefined ? {} : { imageContext: { languageHints: extra.languageHints } }),
    outputConfig: { gcsDestination: { uri: output }, batchSize: extra.batchSize ?? 0 },
  };
}
