/**
 * The text layer of a PDF, page by page, through pdf.js (pdfjs-dist): each run of text with its
 * box in page points, origin at the top left, as the page is displayed (rotation and crop box
 * applied). Pages without one are rendered by pdf.js on a canvas (@napi-rs/canvas) for OCR.
 */
import { createCanvas, type Canvas } from '@napi-rs/canvas';
import type { PDFDocumentProxy } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { TextItem } from 'pdfjs-dist/types/src/display/api.js';
import { PageTooLargeError, RASTER, rasterFromRgba, type Raster } from './raster.js';

// pdf.js's legacy build, the one that runs on Node 20, installs core-js polyfills as it loads. One
// replaces V8's Array.prototype.push with a JavaScript one, for a corner case (arrays whose length
// is read-only) that nothing in this thread meets; it made every push several times slower, about
// a quarter of a page's time. So both halves of pdf.js are loaded here, the worker half too (pdf.js
// would load it on first use, through this global), and V8's push is put back after them.
const nativePush = Array.prototype.push;
const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
(globalThis as { pdfjsWorker?: unknown }).pdfjsWorker = await import('pdfjs-dist/legacy/build/pdf.worker.mjs');
Array.prototype.push = nativePush;

/** A run of text as the PDF draws it: one font, one direction, on one baseline. */
export interface TextRun {
  text: string;
  /** Box of the run in points from the page's top left: left, top, right, bottom. */
  box: Box;
  /** Font size in points (the run's height). */
  size: number;
  /** The PDF ends a line after this run. */
  endsLine: boolean;
}

export interface Box {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export interface PageText {
  /** 1-based. */
  number: number;
  width: number;
  height: number;
  runs: TextRun[];
}

// pdf.js reports the baseline; glyphs of most fonts reach about this far above and below it.
const ASCENT = 0.8;
const DESCENT = 0.2;

/** The bytes are not a PDF pdf.js can read (not a PDF, encrypted, or broken beyond repair). */
export class UnreadablePdfError extends Error {
  override readonly name = 'UnreadablePdfError';
}

export class PdfFile {
  private constructor(private readonly document: PDFDocumentProxy) {}

  /** Opens a PDF, or throws UnreadablePdfError. */
  static async open(bytes: Uint8Array, uri: string): Promise<PdfFile> {
    // pdf.js takes ownership of (and detaches) the buffer it is given: hand it a copy.
    const task = getDocument({ data: new Uint8Array(bytes), verbosity: 0, isEvalSupported: false, disableFontFace: true, useSystemFonts: false, stopAtErrors: false });
    try {
      return new PdfFile(await task.promise);
    } catch (error) {
      await task.destroy();
      throw new UnreadablePdfError(`${uri} is not a readable PDF file: ${(error as Error).message}`);
    }
  }

  get pageCount(): number {
    return this.document.numPages;
  }

  /** The text of one page (1-based); throws if that page cannot be parsed. */
  async page(number: number): Promise<PageText> {
    const page = await this.document.getPage(number);
    try {
      const viewport = page.getViewport({ scale: 1 });
      // pdf.js would NFKC-normalize every string; toRun does it only where there is non-ASCII text.
      const content = await page.getTextContent({ disableNormalization: true });
      const runs: TextRun[] = [];
      for (const item of content.items) {
        if (!('str' in item)) continue;
        const run = toRun(item, (x, y) => viewport.convertToViewportPoint(x, y) as [number, number]);
        if (run !== undefined) runs.push(run);
        else if (item.hasEOL && runs.length > 0) runs[runs.length - 1]!.endsLine = true;
      }
      return { number, width: viewport.width, height: viewport.height, runs };
    } finally {
      page.cleanup();
    }
  }

  /**
   * Page `number` rendered for OCR, at RASTER.dpi, or finer on a page too large for that (down to
   * RASTER.minDpi); throws PageTooLargeError beyond. `dpi` is the resolution used.
   */
  async render(number: number): Promise<Raster & { dpi: number }> {
    const page = await this.document.getPage(number);
    try {
      const { width, height } = page.getViewport({ scale: 1 });
      const fit = Math.min(Math.sqrt(RASTER.maxPixels / (width * height)), RASTER.maxSide / Math.max(width, height)) * 72;
      const dpi = Math.min(RASTER.dpi, Math.floor(fit));
      if (dpi < RASTER.minDpi) {
        throw new PageTooLargeError(
          `Page ${number} is ${Math.round(width / 72)}x${Math.round(height / 72)} inches; recognising it at ${RASTER.minDpi} dpi would exceed ${RASTER.maxPixels} pixels`,
        );
      }
      const viewport = page.getViewport({ scale: dpi / 72 });
      const canvas = canvasOf(Math.ceil(viewport.width), Math.ceil(viewport.height));
      const context = canvas.getContext('2d');
      // pdf.js's types are the DOM's; @napi-rs/canvas implements the same interface.
      await page.render({ canvas: canvas as never, canvasContext: context as never, viewport }).promise;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      return { ...rasterFromRgba(data, canvas.width, canvas.height), dpi };
    } finally {
      page.cleanup();
    }
  }

  async close(): Promise<void> {
    await this.document.destroy();
  }
}

// One canvas per thread, resized for each page: its pixels live outside the JavaScript heap, where
// the garbage collector would not notice a page's worth of them left behind by each render.
let canvas: Canvas | undefined;

function canvasOf(width: number, height: number): Canvas {
  canvas ??= createCanvas(width, height);
  // Setting a size allocates a blank surface of that size, even if it is the same as before.
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function toRun(item: TextItem, toViewport: (x: number, y: number) => [number, number]): TextRun | undefined {
  if (item.str.trim() === '') return undefined;
  const [a, b, c, d, e, f] = item.transform as [number, number, number, number, number, number];
  const size = Math.hypot(c, d) || item.height;
  // The run's corners in PDF space: along the baseline (a, b) for `width`, up (c, d) for the height.
  const along = Math.hypot(a, b) || 1;
  const ux = a / along;
  const uy = b / along;
  const vx = c / (Math.hypot(c, d) || 1);
  const vy = d / (Math.hypot(c, d) || 1);
  const corners = [
    [e - vx * size * DESCENT, f - vy * size * DESCENT],
    [e + ux * item.width - vx * size * DESCENT, f + uy * item.width - vy * size * DESCENT],
    [e + vx * size * ASCENT, f + vy * size * ASCENT],
    [e + ux * item.width + vx * size * ASCENT, f + uy * item.width + vy * size * ASCENT],
  ].map(([x, y]) => toViewport(x!, y!));
  const xs = corners.map(([x]) => x);
  const ys = corners.map(([, y]) => y);
  return {
    // Ligatures (ﬁ), full-width forms and the like, as plain letters.
    text: /[^\x00-\x7f]/.test(item.str) ? item.str.normalize('NFKC') : item.str,
    box: { left: Math.min(...xs), top: Math.min(...ys), right: Math.max(...xs), bottom: Math.max(...ys) },
    size,
    endsLine: item.hasEOL,
  };
}
