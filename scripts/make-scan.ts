#!/usr/bin/env node
// Writes examples/scan.pdf, the scanned page of the README's first minutes: one small page that is
// an image of text, with no text layer, so longrun reads it by OCR.
// Run from the checkout: npm run build --silent && node dist/scripts/make-scan.js
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { scannedPdf } from './scan.js';

const path = fileURLToPath(new URL('../../examples/scan.pdf', import.meta.url));
const pdf = await scannedPdf([
  {
    inches: { width: 5, height: 2 },
    dpi: 300,
    fontPoints: 14,
    lines: ['A scanned page, read by OCR.', 'Invoice 2041: 3 items, total 120.50'],
  },
]);
writeFileSync(path, pdf);
process.stdout.write(`${path}: ${pdf.length} bytes\n`);
