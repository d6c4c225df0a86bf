/**
 * A worker thread that annotates the pages of PDF, TIFF and GIF files: pdf.js parsing, layout,
 * rendering and OCR are CPU-bound, so they run here, off the thread that answers RPCs, and on every
 * core. Speaks the protocol of page-pool.ts.
 * A PDF page with a text layer is read from it (fast, exact); a page without one, and every page of
 * a TIFF or GIF, is rasterised and recognised by this thread's OCR engine (ocr.ts). OCR pages go
 * through two queues, one page at a time each: rasterising the next page overlaps recognising this
 * one, and no more than two pages' pixels are held per thread. A closed document's queued pages are
 * dropped, so a cancel waits for one page at most.
 * Each page's AnnotateImageResponse is returned as proto3 JSON in UTF-8, ready to go into a shard:
 * the bytes are moved, not copied, to the main thread, which only concatenates them.
 */
import { parentPort } from 'node:worker_threads';
import { IMAGE_MIME_TYPES, openImage, UnreadableImageError, type ImageFile, type ImageMimeType } from './images.js';
import { layoutPage, type PageLayout } from './layout.js';
import { OcrEngine } from './ocr.js';
import { layoutOcrPage, type OcrPageShape } from './ocr-layout.js';
import { PdfFile, UnreadablePdfError } from './pdf.js';
import type { OcrSetting, WorkerReply, WorkerRequest } from './page-pool.js';
import { CorruptImageError, PageTooLargeError, type Raster } from './raster.js';

// google.rpc.Code values used in page errors.
const INVALID_ARGUMENT = 3;
const INTERNAL = 13;

type Opened = { kind: 'pdf'; pdf: PdfFile } | { kind: 'image'; image: ImageFile; mimeType: ImageMimeType };

interface Document {
  source: string;
  file: Promise<Opened>;
  ocr: OcrSetting;
}

const documents = new Map<number, Document>();
const engine = new OcrEngine();
const utf8 = new TextEncoder();

parentPort!.on('message', (request: WorkerRequest) => {
  void handle(request).then((reply) => reply && parentPort!.postMessage(reply, 'json' in reply ? [reply.json.buffer] : []));
});

async function handle(request: WorkerRequest): Promise<WorkerReply | undefined> {
  switch (request.type) {
    case 'open': {
      const file = open(request.bytes, request.mimeType, request.source);
      file.catch(() => undefined); // reported to whoever asks for this document
      documents.set(request.doc, { source: request.source, file, ocr: request.ocr });
      if (request.id === undefined) return undefined;
      try {
        return { id: request.id, pageCount: pageCount(await file) };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'count': {
      try {
        const file = await open(request.bytes, request.mimeType, request.source);
        const count = pageCount(file);
        await close(file);
        return { id: request.id, pageCount: count };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'page': {
      const document = documents.get(request.doc);
      if (document === undefined) return { id: request.id, error: { unreadable: false, message: `document ${request.doc} is not open` } };
      try {
        // encode() returns bytes of their own, never a slice of a shared pool: safe to transfer.
        return { id: request.id, json: utf8.encode(await annotatePage(document, request.number)) };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'close': {
      const document = documents.get(request.doc);
      documents.delete(request.doc);
      await document?.file.then(close).catch(() => undefined);
      return undefined;
    }
  }
}

async function open(bytes: Uint8Array, mimeType: string, source: string): Promise<Opened> {
  if ((IMAGE_MIME_TYPES as readonly string[]).includes(mimeType)) {
    return { kind: 'image', image: openImage(bytes, mimeType as ImageMimeType, source), mimeType: mimeType as ImageMimeType };
  }
  return { kind: 'pdf', pdf: await PdfFile.open(bytes, source) };
}

function pageCount(file: Opened): number {
  return file.kind === 'pdf' ? file.pdf.pageCount : file.image.pageCount;
}

async function close(file: Opened): Promise<void> {
  if (file.kind === 'pdf') await file.pdf.close();
}

async function annotatePage(document: Document, number: number): Promise<string> {
  const context = { uri: document.source, pageNumber: number };
  const file = await document.file;
  if (file.kind === 'image') {
    return ocrPage(document, context, async () => {
      const raster = file.image.page(number);
      // Vision gives an image's size in pixels, and a GIF's boxes in pixels too.
      return { raster, width: raster.width, height: raster.height, boxes: file.mimeType === 'image/gif' ? 'pixels' : 'normalized' };
    });
  }
  let text;
  try {
    text = await file.pdf.page(number);
  } catch (error) {
    return errorJson(INVALID_ARGUMENT, `Page ${number} of ${document.source} could not be parsed: ${(error as Error).message}`, context);
  }
  const layout = layoutPage(text);
  // A text layer, when there is one, is the text itself: no need to read it from pixels.
  if (layout.words > 0) return responseJson(layout, context);
  return ocrPage(document, context, async () => ({ raster: await file.pdf.render(number), width: text.width, height: text.height, boxes: 'normalized' }));
}

interface Rasterised {
  raster: Raster;
  width: number;
  height: number;
  boxes: OcrPageShape['boxes'];
}

async function ocrPage(document: Document, context: { uri: string; pageNumber: number }, rasterise: () => Promise<Rasterised>): Promise<string> {
  const number = context.pageNumber;
  if ('refused' in document.ocr) return errorJson(INVALID_ARGUMENT, `Page ${number} needs OCR, but ${document.ocr.refused}`, context);
  const { model } = document.ocr;
  await slots.acquire();
  try {
    return await rasteriseAndRecognize(document, context, rasterise, model);
  } finally {
    slots.release();
  }
}

async function rasteriseAndRecognize(document: Document, context: { uri: string; pageNumber: number }, rasterise: () => Promise<Rasterised>, model: string): Promise<string> {
  const number = context.pageNumber;
  let page: Rasterised;
  try {
    page = await rasterQueue.run(document, rasterise);
  } catch (error) {
    if (error instanceof PageTooLargeError) return errorJson(INVALID_ARGUMENT, `${error.message} (${document.source})`, context);
    if (error instanceof CorruptImageError) return errorJson(INVALID_ARGUMENT, `Page ${number} of ${document.source}: ${error.message}`, context);
    if (error instanceof ClosedError) throw error;
    return errorJson(INVALID_ARGUMENT, `Page ${number} of ${document.source} could not be rendered: ${(error as Error).message}`, context);
  }
  let recognized;
  try {
    recognized = await ocrQueue.run(document, () => engine.recognize(page.raster, model));
  } catch (error) {
    if (error instanceof ClosedError) throw error;
    return errorJson(INTERNAL, `Page ${number} of ${document.source} could not be recognised: ${(error as Error).message ?? String(error)}`, context);
  }
  const shape = { width: page.width, height: page.height, pixelWidth: page.raster.width, pixelHeight: page.raster.height, boxes: page.boxes, language: recognized.language };
  return responseJson(layoutOcrPage(recognized.page, shape), context);
}

/** The document was closed (its operation ended or was cancelled) while the page waited. */
class ClosedError extends Error {
  override readonly name = 'ClosedError';
}

/** Runs jobs one at a time, in order, skipping those whose document was closed while they waited. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(document: Document, job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (![...documents.values()].includes(document)) throw new ClosedError(`${document.source} was closed`);
      return job();
    });
    this.tail = run.catch(() => undefined);
    return run;
  }
}

/** At most `count` holders at once, served in order. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.free++;
  }
}

const rasterQueue = new Queue();
const ocrQueue = new Queue();
// A page holds a slot from rasterising to the end of its recognition: one page recognised while
// the next is rasterised, never more pixels than two pages' in this thread.
const slots = new Slots(2);

function responseJson(layout: PageLayout, context: { uri: string; pageNumber: number }): string {
  const annotation = `{"pages":[${layout.pageJson}],"text":${JSON.stringify(layout.text)}}`;
  return `{"fullTextAnnotation":${annotation},"context":${JSON.stringify(context)}}`;
}

function errorJson(code: number, message: string, context: { uri: string; pageNumber: number }): string {
  return JSON.stringify({ error: { code, message }, context });
}

function describe(error: unknown): { unreadable: boolean; message: string } {
  const unreadable = error instanceof UnreadablePdfError || error instanceof UnreadableImageError;
  return { unreadable, message: error instanceof Error ? error.message : String(error) };
}
