/**
 * The OCR engine of one page-worker thread: Tesseract (tesseract.js 7, its WebAssembly build)
 * reading with the English LSTM model that the `@tesseract.js-data/eng` package installs. Nothing
 * is fetched at run time: the model is read from that package's folder and nothing is cached on
 * disk. tesseract.js runs each engine in a thread of its own, started on the first page to
 * recognise and stopped after a while without pages (it holds a few hundred MB when warm).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createWorker, OEM, type Page, type Worker } from 'tesseract.js';
import { OCR_LANGUAGES } from './languages.js';
import type { Raster } from './raster.js';

// `best_int`: the integer-quantised "best" LSTM model, the one tesseract.js uses by default; the
// package's other folder adds the legacy engine's data, which LSTM_ONLY never reads.
const MODELS = join(dirname(createRequire(import.meta.url).resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');
const IDLE_MS = 30_000;

export interface Recognized {
  /** Tesseract's page: blocks, paragraphs, lines, words and symbols with pixel boxes; confidences 0-100. */
  page: Page;
  /** The BCP-47 code of the model that read it. */
  language: string;
}

export class OcrEngine {
  private worker: Promise<Worker> | undefined;
  private idle: NodeJS.Timeout | undefined;

  /** Recognises one page; pages are recognised one at a time by each engine. */
  async recognize(raster: Raster, model: string): Promise<Recognized> {
    clearTimeout(this.idle);
    try {
      const worker = await (this.worker ??= this.start(model));
      const { data } = await worker.recognize(Buffer.from(raster.pgm.buffer, raster.pgm.byteOffset, raster.pgm.byteLength), {}, { blocks: true, text: false });
      return { page: data, language: Object.keys(OCR_LANGUAGES).find((code) => OCR_LANGUAGES[code] === model)! };
    } finally {
      // Its thread keeps the page worker's event loop alive; the page worker is unref'd by the pool.
      this.idle = setTimeout(() => void this.stop(), IDLE_MS);
      this.idle.unref();
    }
  }

  private start(model: string): Promise<Worker> {
    const worker = createWorker(model, OEM.LSTM_ONLY, { langPath: MODELS, gzip: true, cacheMethod: 'none' });
    // A failed start is retried with the next page rather than remembered.
    worker.catch(() => (this.worker = undefined));
    return worker;
  }

  async stop(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.then((w) => w.terminate()).catch(() => undefined);
  }
}
