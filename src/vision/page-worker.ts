/**
 * A worker thread that annotates PDF pages: pdf.js parsing and layout are CPU-bound, so they run
 * here, off the thread that answers RPCs, and on every core. Speaks the protocol of page-pool.ts.
 * Each page's AnnotateImageResponse is returned as proto3 JSON text, ready to go into a shard.
 */
import { parentPort } from 'node:worker_threads';
import { layoutPage } from './layout.js';
import { PdfFile, UnreadablePdfError } from './pdf.js';
import type { WorkerReply, WorkerRequest } from './page-pool.js';

// google.rpc.Code values used in page errors.
const INVALID_ARGUMENT = 3;
const UNIMPLEMENTED = 12;

const documents = new Map<number, { source: string; pdf: Promise<PdfFile> }>();

parentPort!.on('message', (request: WorkerRequest) => {
  void handle(request).then((reply) => reply && parentPort!.postMessage(reply));
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
    case 'page': {
      const document = documents.get(request.doc);
      if (document === undefined) return { id: request.id, error: { unreadable: false, message: `document ${request.doc} is not open` } };
      try {
        return { id: request.id, ...(await annotatePage(await document.pdf, document.source, request.number)) };
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

async function annotatePage(pdf: PdfFile, source: string, number: number): Promise<{ json: string; words: number }> {
  const context = { uri: source, pageNumber: number };
  let text;
  try {
    text = await pdf.page(number);
  } catch (error) {
    const message = `Page ${number} of ${source} could not be parsed: ${(error as Error).message}`;
    return { json: JSON.stringify({ error: { code: INVALID_ARGUMENT, message }, context }), words: 0 };
  }
  const layout = layoutPage(text);
  const error =
    layout.words === 0
      ? `"error":${JSON.stringify({ code: UNIMPLEMENTED, message: `Page ${number} has no text layer (an image-only page?); longrun reads PDF text and does not run OCR` })},`
      : '';
  const annotation = `{"pages":[${layout.pageJson}],"text":${JSON.stringify(layout.text)}}`;
  return { json: `{"fullTextAnnotation":${annotation},${error}"context":${JSON.stringify(context)}}`, words: layout.words };
}

function describe(error: unknown): { unreadable: boolean; message: string } {
  return { unreadable: error instanceof UnreadablePdfError, message: error instanceof Error ? error.message : String(error) };
}
