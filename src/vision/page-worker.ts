/**
 * A worker thread that annotates PDF pages: pdf.js parsing and layout are CPU-bound, so they run
 * here, off the thread that answers RPCs, and on every core. Speaks the protocol of page-pool.ts.
 * Each page's AnnotateImageResponse is returned as proto3 JSON in UTF-8, ready to go into a shard:
 * the bytes are moved, not copied, to the main thread, which only concatenates them.
 */
import { parentPort } from 'node:worker_threads';
import { layoutPage } from './layout.js';
import { PdfFile, UnreadablePdfError } from './pdf.js';
import type { WorkerReply, WorkerRequest } from './page-pool.js';

// google.rpc.Code values used in page errors.
const INVALID_ARGUMENT = 3;
const UNIMPLEMENTED = 12;

const documents = new Map<number, { source: string; pdf: Promise<PdfFile> }>();

const utf8 = new TextEncoder();

parentPort!.on('message', (request: WorkerRequest) => {
  void handle(request).then((reply) => reply && parentPort!.postMessage(reply, 'json' in reply ? [reply.json.buffer] : []));
});

async function handle(request: WorkerRequest): Promise<WorkerReply | undefined> {
  switch (request.type) {
    case 'open': {
      const pdf = PdfFile.open(request.bytes, request.source);
      pdf.catch(() => undefined); // reported to whoever asks for this document
      documents.set(request.doc, { source: request.source, pdf });
      if (request.id === undefined) return undefined;
      try {
        return { id: request.id, pageCount: (await pdf).pageCount };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'count': {
      try {
        const pdf = await PdfFile.open(request.bytes, request.source);
        const pageCount = pdf.pageCount;
        await pdf.close();
        return { id: request.id, pageCount };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'page': {
      const document = documents.get(request.doc);
      if (document === undefined) return { id: request.id, error: { unreadable: false, message: `document ${request.doc} is not open` } };
      try {
        // encode() returns bytes of their own, never a slice of a shared pool: safe to transfer.
        return { id: request.id, json: utf8.encode(await annotatePage(await document.pdf, document.source, request.number)) };
      } catch (error) {
        return { id: request.id, error: describe(error) };
      }
    }
    case 'close': {
      const document = documents.get(request.doc);
      documents.delete(request.doc);
      await document?.pdf.then((pdf) => pdf.close()).catch(() => undefined);
      return undefined;
    }
  }
}

async function annotatePage(pdf: PdfFile, source: string, number: number): Promise<string> {
  const context = { uri: source, pageNumber: number };
  let text;
  try {
    text = await pdf.page(number);
  } catch (error) {
    const message = `Page ${number} of ${source} could not be parsed: ${(error as Error).message}`;
    return JSON.stringify({ error: { code: INVALID_ARGUMENT, message }, context });
  }
  const layout = layoutPage(text);
  const error =
    layout.words === 0
      ? `"error":${JSON.stringify({ code: UNIMPLEMENTED, message: `Page ${number} has no text layer (an image-only page?); longrun reads PDF text and does not run OCR` })},`
      : '';
  const annotation = `{"pages":[${layout.pageJson}],"text":${JSON.stringify(layout.text)}}`;
  return `{"fullTextAnnotation":${annotation},${error}"context":${JSON.stringify(context)}}`;
}

function describe(error: unknown): { unreadable: boolean; message: string } {
  return { unreadable: error instanceof UnreadablePdfError, message: error instanceof Error ? error.message : String(error) };
}
