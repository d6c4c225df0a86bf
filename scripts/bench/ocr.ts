/**
 * The Vision sample's OCR figures:
 * - `ocr`: pages per second on a 20-page scanned PDF (letter pages at 300 dpi, 30 lines of 11 pt
 *   text, no text layer) from request to done through gRPC, against Debian's `tesseract` command
 *   on the same page images in one process (`tesseract list.txt out tsv`: words with boxes and
 *   confidences, like our output), in alternating runs; beside it the text-layer figure, a
 *   200-page PDF against `pdftotext -bbox-layout`, in the same runs.
 * - `ocr-memory`: the server's peak RSS (all its threads) while it reads a 500-page scan.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scannedPdf, scanPng, type ScanPage } from '../scan.js';
import { fmt, MB, percentile, rssOf, scaled } from './measure.js';
import { textPdf, visionClient } from './vision.js';

const WORDS = 'the quick brown fox jumps over lazy dog invoice total amount due date order number customer account payment received'.split(' ');

/** Page `p` of a scan: `lines` lines of words in a varying order, and numbers, so no two pages are alike. */
function page(p: number, lines: number): ScanPage {
  return {
    inches: { width: 8.5, height: 11 },
    dpi: 300,
    fontPoints: 11,
    lines: Array.from({ length: lines }, (_, l) => {
      const words = Array.from({ length: 9 }, (_, w) => WORDS[(p * 7 + l * 3 + w * 5) % WORDS.length]!);
      return `${p + 1}.${l + 1} ${words.join(' ')} ${(p * 1000 + l * 37) % 9973}`;
    }),
  };
}

export interface OcrFigures {
  report(line: string): void;
  work: string;
  /** Starts the Vision bench server on `storage`. */
  startServer(storage: string): Promise<{ port: number; pid: number; stop(): Promise<void> }>;
}

const median = (values: number[]) => percentile([...values].sort((a, b) => a - b), 50);

export async function ocrBench({ report, work, startServer }: OcrFigures): Promise<void> {
  const pages = scaled(20, 2);
  const runs = scaled(3, 1);
  const textPages = scaled(200, 2);
  const storage = join(work, 'ocr-storage');
  const images = join(work, 'ocr-pages');
  mkdirSync(join(storage, 'bench'), { recursive: true });
  mkdirSync(images, { recursive: true });
  // 30 lines, or 3 at the test suite's small scale, where only the section's working is checked.
  const specs = Array.from({ length: pages }, (_, p) => page(p, scaled(30, 3)));
  const pngs = specs.map(scanPng);
  const paths = pngs.map((png, p) => {
    const path = join(images, `page-${String(p + 1).padStart(3, '0')}.png`);
    writeFileSync(path, png);
    return path;
  });
  const list = join(images, 'list.txt');
  writeFileSync(list, paths.join('\n') + '\n');
  writeFileSync(join(storage, 'bench', 'scan.pdf'), await scannedPdf(specs, pngs));
  // Warms both worker threads' OCR engines and JIT: as many pages as the pool has threads.
  writeFileSync(join(storage, 'bench', 'warm.pdf'), await scannedPdf(specs.slice(0, 2), pngs.slice(0, 2)));
  const textPath = join(storage, 'bench', 'text.pdf');
  writeFileSync(textPath, await textPdf(textPages));

  const tesseract = version('tesseract', ['--version']);
  const pdftotext = version('pdftotext', ['-v']);
  const server = await startServer(storage);
  const { annotate, close } = visionClient(server.port);
  try {
    await annotate('warm.pdf', 'warm', 600_000);
    await annotate('text.pdf', 'text-warm');
    const ours: number[] = [];
    const cli: number[] = [];
    const text: number[] = [];
    const poppler: number[] = [];
    // Alternating, so drift in the machine's load hits both sides alike; medians of each.
    for (let i = 0; i < runs; i++) {
      ours.push(pages / ((await annotate('scan.pdf', `scan-${i}`, 1_200_000)) / 1000));
      if (tesseract !== undefined) {
        const t0 = performance.now();
        execFileSync('tesseract', [list, join(work, 'tesseract-out'), 'tsv'], { stdio: 'ignore' });
        cli.push(pages / ((performance.now() - t0) / 1000));
      }
      text.push(textPages / ((await annotate('text.pdf', `text-${i}`)) / 1000));
      if (pdftotext !== undefined) {
        const t0 = performance.now();
        execFileSync('pdftotext', ['-bbox-layout', textPath, join(work, 'poppler.out')]);
        poppler.push(textPages / ((performance.now() - t0) / 1000));
      }
    }
    const oursLine = `Vision OCR, ${pages}-page scanned PDF (letter, 300 dpi): ${fmt(median(ours))} pages/s (rounds ${ours.map((r) => fmt(r)).join(', ')})`;
    if (tesseract === undefined) report(`${oursLine}; tesseract CLI absent (apt-get install tesseract-ocr), so there is no ratio this run`);
    else {
      report(
        `${oursLine} vs ${tesseract} on the same page images ${fmt(median(cli))} pages/s (rounds ${cli.map((r) => fmt(r)).join(', ')}): ` +
          `ratio ${fmt(median(ours) / median(cli))} (target >= 0.5; median of ${runs})`,
      );
    }
    const textLine = `Vision text layer, ${textPages}-page PDF: ${fmt(median(text), 0)} pages/s`;
    if (pdftotext === undefined) report(`${textLine}; pdftotext absent (apt-get install poppler-utils)`);
    else report(`${textLine} vs pdftotext -bbox-layout ${fmt(median(poppler), 0)} pages/s: ratio ${fmt(median(text) / median(poppler))} (same runs)`);
  } finally {
    close();
    await server.stop();
  }
}

export async function ocrMemoryBench({ report, work, startServer }: OcrFigures): Promise<void> {
  const pages = scaled(500, 2);
  const storage = join(work, 'ocr-memory-storage');
  mkdirSync(join(storage, 'bench'), { recursive: true });
  // Every page its own image (pdf.js would share one image used on every page), scanned at 100 dpi
  // to make 500 of them in seconds: longrun renders every page at 300 dpi all the same, so each
  // raster and what Tesseract holds are a 300-dpi letter page's. Three lines a page, so the run
  // takes minutes, not the better part of an hour.
  const scans = Array.from({ length: pages }, (_, p) => ({ ...page(p, 3), dpi: 100 }));
  writeFileSync(join(storage, 'bench', 'long.pdf'), await scannedPdf(scans));
  const server = await startServer(storage);
  const { annotate, close } = visionClient(server.port);
  try {
    const before = rssOf(server.pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(server.pid))), 100);
    let ms;
    try {
      ms = await annotate('long.pdf', 'long', 3_600_000);
    } finally {
      clearInterval(sampler);
    }
    report(
      `Vision OCR memory, ${pages}-page scanned PDF (letter, rendered at 300 dpi, every page its own image): server RSS ${fmt(before / MB, 0)} MB before, ` +
        `peak ${fmt(peak / MB, 0)} MB during, ${fmt(rssOf(server.pid) / MB, 0)} MB after; ${fmt(pages / (ms / 1000))} pages/s`,
    );
  } finally {
    close();
    await server.stop();
  }
}

/** The first line of `command`'s version, or undefined when it is not installed. */
function version(command: string, args: string[]): string | undefined {
  try {
    const out = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n')[0]!.trim() || command;
  } catch (error) {
    const stderr = (error as { stderr?: string; code?: string }).code === 'ENOENT' ? undefined : (error as { stderr?: string }).stderr;
    return stderr === undefined ? undefined : stderr.split('\n')[0]!.trim() || command;
  }
}
