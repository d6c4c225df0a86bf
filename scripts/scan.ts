/**
 * Scanned pages made from text: lines drawn into a page image (@napi-rs/canvas, with the Liberation
 * Sans that pdfjs-dist ships, so no system font is needed) and placed as the only content of PDF
 * pages (pdf-lib). Used by the OCR benchmark and by `node dist/scripts/make-scan.js`, which
 * writes examples/scan.pdf for the README.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { PDFDocument } from 'pdf-lib';

const require = createRequire(import.meta.url);
const FONT = 'Liberation Sans';
GlobalFonts.registerFromPath(join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts', 'LiberationSans-Regular.ttf'), FONT);

export interface ScanPage {
  /** Size in inches. */
  inches: { width: number; height: number };
  dpi: number;
  /** Font size in points. */
  fontPoints: number;
  /** Lines of text from one inch down and in, one and a half lines apart. */
  lines: readonly string[];
}

/** The page as a PNG, black text on white, as a scanner would give it. */
export function scanPng(page: ScanPage): Buffer {
  const width = Math.round(page.inches.width * page.dpi);
  const height = Math.round(page.inches.height * page.dpi);
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = 'white';
  context.fillRect(0, 0, width, height);
  context.fillStyle = 'black';
  const fontPx = (page.fontPoints * page.dpi) / 72;
  context.font = `${fontPx}px "${FONT}"`;
  const margin = Math.min(page.dpi, width / 8);
  page.lines.forEach((line, i) => context.fillText(line, margin, margin + fontPx + i * fontPx * 1.5));
  return canvas.toBuffer('image/png');
}

/** A PDF whose pages are the scans, each filling its page: no text layer. */
export async function scannedPdf(pages: readonly ScanPage[], pngs: readonly Buffer[] = pages.map(scanPng)): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  for (const [i, page] of pages.entries()) {
    const size = { width: page.inches.width * 72, height: page.inches.height * 72 };
    const image = await doc.embedPng(pngs[i]!);
    doc.addPage([size.width, size.height]).drawImage(image, { x: 0, y: 0, ...size });
  }
  return doc.save();
}
