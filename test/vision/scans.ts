/**
 * Scanned documents made in the test: lines of text drawn into an image (@napi-rs/canvas, with the
 * Liberation Sans font that pdfjs-dist ships, so no system font is needed), then placed as the
 * only content of PDF pages (pdf-lib), as the pages of a multi-page TIFF (utif2) or as a GIF
 * (omggif). Pages are small (a few inches) so OCR stays quick.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { GifWriter } from 'omggif';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import type * as Utif from 'utif2';

const require = createRequire(import.meta.url);
const UTIF = require('utif2') as typeof Utif;
export const SCAN_FONT = 'Liberation Sans';
GlobalFonts.registerFromPath(join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts', 'LiberationSans-Regular.ttf'), SCAN_FONT);

/** A line of text at (x, y) in pixels from the top left of the image: y is the baseline. */
export interface ScanLine {
  text: string;
  x: number;
  y: number;
}

export interface ScanImage {
  width: number;
  height: number;
  /** The box of each line's ink, measured while drawing, and its baseline: where its words must be found. */
  lines: { text: string; left: number; top: number; right: number; bottom: number; baseline: number }[];
  rgba: Uint8Array;
  png: Buffer;
}

export const SCAN_PX = { width: 1200, height: 600, fontPx: 48 };

/** Black text on white, `fontPx` pixels high. */
export function renderScan(lines: readonly ScanLine[], size: { width: number; height: number; fontPx: number } = SCAN_PX): ScanImage {
  const canvas = createCanvas(size.width, size.height);
  const context = canvas.getContext('2d');
  context.fillStyle = 'white';
  context.fillRect(0, 0, size.width, size.height);
  context.fillStyle = 'black';
  context.font = `${size.fontPx}px "${SCAN_FONT}"`;
  const drawn = lines.map((line) => {
    context.fillText(line.text, line.x, line.y);
    const metrics = context.measureText(line.text);
    return {
      text: line.text,
      left: line.x - metrics.actualBoundingBoxLeft,
      top: line.y - metrics.actualBoundingBoxAscent,
      right: line.x + metrics.actualBoundingBoxRight,
      bottom: line.y + metrics.actualBoundingBoxDescent,
      baseline: line.y,
    };
  });
  const rgba = new Uint8Array(context.getImageData(0, 0, size.width, size.height).data);
  return { width: size.width, height: size.height, lines: drawn, rgba, png: canvas.toBuffer('image/png') };
}

/** A PDF page: a scan filling the page (`points` wide), or a line of real text (a text layer). */
export type PdfPageSpec = { scan: ScanImage; points: { width: number; height: number } } | { text: string; points: { width: number; height: number } };

export async function makeScannedPdf(pages: readonly PdfPageSpec[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const spec of pages) {
    const page = doc.addPage([spec.points.width, spec.points.height]);
    if ('scan' in spec) {
      const image = await doc.embedPng(spec.scan.png);
      page.drawImage(image, { x: 0, y: 0, width: spec.points.width, height: spec.points.height });
    } else {
      page.drawText(spec.text, { x: 36, y: spec.points.height - 48, size: 14, font });
    }
  }
  return doc.save();
}

/** A multi-page TIFF of 8-bit grey pages, uncompressed, big-endian as utif2 writes it. */
export function makeTiff(images: readonly ScanImage[]): Uint8Array {
  const grey = images.map((image) => {
    const pixels = new Uint8Array(image.width * image.height);
    for (let i = 0; i < pixels.length; i++) pixels[i] = image.rgba[i * 4]!;
    return pixels;
  });
  const directories = (offsets: number[]) =>
    images.map((image, i) => ({
      t256: [image.width],
      t257: [image.height],
      t258: [8],
      t259: [1], // no compression
      t262: [1], // black is zero
      t273: [offsets[i]!],
      t277: [1],
      t278: [image.height],
      t279: [grey[i]!.length],
    })) as unknown as Utif.IFD[];
  // The directories' size does not depend on the offsets in them: measure, then place the pixels after.
  const headerLength = UTIF.encode(directories(images.map(() => 0))).byteLength;
  const offsets: number[] = [];
  let at = headerLength;
  for (const pixels of grey) {
    offsets.push(at);
    at += pixels.length;
  }
  const file = new Uint8Array(at);
  file.set(new Uint8Array(UTIF.encode(directories(offsets))));
  grey.forEach((pixels, i) => file.set(pixels, offsets[i]!));
  return file;
}

/** A one-frame GIF of the image, in two colours. */
export function makeGif(image: ScanImage): Uint8Array {
  const indexed: number[] = new Array(image.width * image.height);
  for (let i = 0; i < indexed.length; i++) indexed[i] = image.rgba[i * 4]! < 128 ? 0 : 1;
  const buffer = new Uint8Array(image.width * image.height + 4096);
  const writer = new GifWriter(buffer, image.width, image.height, { palette: [0x000000, 0xffffff] });
  writer.addFrame(0, 0, image.width, image.height, indexed);
  return buffer.slice(0, writer.end());
}
