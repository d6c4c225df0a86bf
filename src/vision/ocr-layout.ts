/**
 * Tesseract's reading of a page as Vision's TextAnnotation page: Tesseract already finds blocks,
 * paragraphs, lines, words and symbols, each with its pixel box and a confidence, so they are
 * kept as found (lines are not a level of Vision's tree: they show as the break after their last
 * word, EOL_SURE_SPACE, or LINE_BREAK at the end of a paragraph, as in text-layer pages).
 * Boxes are fractions of the page (normalizedVertices) for PDF and TIFF, as Vision writes them for
 * files, or pixels (vertices) for GIF, which Vision reads as an image.
 */
import type { Bbox, Page } from 'tesseract.js';
import { polygonJson, type BreakType, type PageLayout } from './layout.js';
import type { Box } from './pdf.js';

export interface OcrPageShape {
  /** Page size as Vision reports it: points for a PDF page, pixels for an image. */
  width: number;
  height: number;
  /** Size of the image Tesseract read, in pixels. */
  pixelWidth: number;
  pixelHeight: number;
  boxes: 'normalized' | 'pixels';
  /** BCP-47 code of the model that read the page. */
  language: string;
}

// Tesseract's PolyBlockType, by number, as Vision's BlockType.
const BLOCK_TYPES: Record<number, string> = {
  1: 'TEXT', // flowing text
  2: 'TEXT', // heading
  3: 'TEXT', // pull-out
  4: 'TEXT', // equation
  5: 'TEXT', // inline equation
  6: 'TABLE',
  7: 'TEXT', // vertical text
  8: 'TEXT', // caption
  9: 'PICTURE',
  10: 'PICTURE',
  11: 'PICTURE',
  12: 'RULER',
  13: 'RULER',
};

export function layoutOcrPage(page: Page, shape: OcrPageShape): PageLayout {
  const box = ({ x0, y0, x1, y1 }: Bbox): string => {
    const pixels: Box = { left: x0, top: y0, right: x1, bottom: y1 };
    if (shape.boxes === 'normalized') return polygonJson(pixels, shape.pixelWidth, shape.pixelHeight);
    return `{"vertices":[{"x":${x0},"y":${y0}},{"x":${x1},"y":${y0}},{"x":${x1},"y":${y1}},{"x":${x0},"y":${y1}}]}`;
  };
  const language = `{"detectedLanguages":[{"languageCode":${JSON.stringify(shape.language)}}]}`;
  const json: string[] = [`{"property":${language},"width":${Math.round(shape.width)},"height":${Math.round(shape.height)},"blocks":[`];
  let text = '';
  let words = 0;
  let blockCount = 0;
  for (const block of page.blocks ?? []) {
    const paragraphs = block.paragraphs.filter((p) => p.lines.some((line) => line.words.some(hasText)));
    if (paragraphs.length === 0) continue;
    json.push(blockCount++ === 0 ? '{"boundingBox":' : ',{"boundingBox":', box(block.bbox), ',"paragraphs":[');
    paragraphs.forEach((paragraph, p) => {
      json.push(p === 0 ? '{"boundingBox":' : ',{"boundingBox":', box(paragraph.bbox), ',"words":[');
      const lines = paragraph.lines.map((line) => line.words.filter(hasText)).filter((line) => line.length > 0);
      let first = true;
      lines.forEach((lineWords, l) => {
        const lastBreak: BreakType = l === lines.length - 1 ? 'LINE_BREAK' : 'EOL_SURE_SPACE';
        lineWords.forEach((word, w) => {
          const lastOfLine = w === lineWords.length - 1;
          const symbols = word.symbols.filter((symbol) => symbol.text.trim() !== '');
          json.push(first ? '{"boundingBox":' : ',{"boundingBox":', box(word.bbox), ',"symbols":[');
          first = false;
          symbols.forEach((symbol, s) => {
            const property = s === symbols.length - 1 ? `"property":{"detectedBreak":{"type":"${lastOfLine ? lastBreak : 'SPACE'}"}},` : '';
            json.push(s === 0 ? '{' : ',{', property, '"boundingBox":', box(symbol.bbox), ',"text":', JSON.stringify(symbol.text), `,"confidence":${confidence(symbol.confidence)}}`);
          });
          json.push(`],"confidence":${confidence(word.confidence)}}`);
          text += symbols.map((symbol) => symbol.text).join('') + (lastOfLine ? '\n' : ' ');
          words++;
        });
      });
      json.push(`],"confidence":${confidence(paragraph.confidence)}}`);
    });
    json.push(`],"blockType":"${BLOCK_TYPES[Number(block.blocktype)] ?? 'UNKNOWN'}","confidence":${confidence(block.confidence)}}`);
  }
  json.push(`],"confidence":${words > 0 ? confidence(page.confidence) : 0}}`);
  return { pageJson: json.join(''), text, words };
}

function hasText(word: { symbols: { text: string }[] }): boolean {
  return word.symbols.some((symbol) => symbol.text.trim() !== '');
}

/** Tesseract's 0-100 as Vision's 0-1, to three decimals. */
function confidence(value: number): number {
  return Math.round(Math.min(100, Math.max(0, value)) * 10) / 1000;
}
