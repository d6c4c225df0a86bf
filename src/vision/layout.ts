/**
 * Turns a page's text runs into Vision's TextAnnotation tree: lines from runs on one baseline,
 * words from whitespace, paragraphs from line spacing, blocks from larger gaps or a change of
 * column. Symbol boxes inside a run are estimated by dividing the run's width evenly between its
 * characters (a PDF's text layer gives the run's extent, not each glyph's).
 */
import type { Box, PageText, TextRun } from './pdf.js';

/** google.cloud.vision.v1 messages as plain objects (the fields longrun fills). */
export interface VisionPage {
  width: number;
  height: number;
  blocks: VisionBlock[];
  confidence: number;
}
interface Poly {
  normalizedVertices: { x: number; y: number }[];
}
type BreakType = 'SPACE' | 'EOL_SURE_SPACE' | 'LINE_BREAK';
interface VisionSymbol {
  property?: { detectedBreak: { type: BreakType } };
  boundingBox: Poly;
  text: string;
  confidence: number;
}
interface VisionWord {
  boundingBox: Poly;
  symbols: VisionSymbol[];
  confidence: number;
}
interface VisionParagraph {
  boundingBox: Poly;
  words: VisionWord[];
  confidence: number;
}
interface VisionBlock {
  boundingBox: Poly;
  paragraphs: VisionParagraph[];
  blockType: 'TEXT';
  confidence: number;
}

/** What a page yields: Vision's page, its text (lines end in "\n") and its word count. */
export interface PageLayout {
  page: VisionPage;
  text: string;
  words: number;
}

// Gaps between lines, as fractions of the font size: normal leading leaves about 0.2 between one
// line's descent and the next one's ascent.
const PARAGRAPH_GAP = 0.6;
const BLOCK_GAP = 3;
// A run starting this far (in font sizes) after the previous one on a line is a new word.
const WORD_GAP = 0.15;
// Text from a PDF's text layer is the text itself, not a recognition of it.
const CONFIDENCE = 1;

interface Char {
  text: string;
  box: Box;
}
interface Line {
  chars: Char[];
  box: Box;
  size: number;
}

export function layoutPage(page: PageText): PageLayout {
  const lines = linesOf(page.runs);
  const blocks: Line[][][] = [];
  let previous: Line | undefined;
  for (const line of lines) {
    const gap = previous === undefined ? 0 : line.box.top - previous.box.bottom;
    const size = Math.max(line.size, previous?.size ?? 0);
    const sameColumn = previous !== undefined && line.box.left < previous.box.right && line.box.right > previous.box.left;
    if (previous === undefined || !sameColumn || gap > BLOCK_GAP * size || gap < -size) blocks.push([[line]]);
    else if (gap > PARAGRAPH_GAP * size) blocks.at(-1)!.push([line]);
    else blocks.at(-1)!.at(-1)!.push(line);
    previous = line;
  }
  const normalize = (box: Box): Poly => polygon(box, page.width, page.height);
  let text = '';
  let wordCount = 0;
  const visionBlocks = blocks.map((paragraphs): VisionBlock => {
    const visionParagraphs = paragraphs.map((paragraphLines): VisionParagraph => {
      const words: VisionWord[] = [];
      paragraphLines.forEach((line, lineIndex) => {
        const lineWords = wordsOf(line.chars);
        lineWords.forEach((chars, wordIndex) => {
          const lastOfLine = wordIndex === lineWords.length - 1;
          const breakType: BreakType = !lastOfLine ? 'SPACE' : lineIndex === paragraphLines.length - 1 ? 'LINE_BREAK' : 'EOL_SURE_SPACE';
          const symbols = chars.map((char, i): VisionSymbol => ({
            ...(i === chars.length - 1 && { property: { detectedBreak: { type: breakType } } }),
            boundingBox: normalize(char.box),
            text: char.text,
            confidence: CONFIDENCE,
          }));
          words.push({ boundingBox: normalize(union(chars.map((c) => c.box))), symbols, confidence: CONFIDENCE });
          text += chars.map((c) => c.text).join('') + (lastOfLine ? '\n' : ' ');
        });
        wordCount += lineWords.length;
      });
      return { boundingBox: normalize(union(paragraphLines.map((l) => l.box))), words, confidence: CONFIDENCE };
    });
    return {
      boundingBox: normalize(union(paragraphs.flat().map((l) => l.box))),
      paragraphs: visionParagraphs,
      blockType: 'TEXT',
      confidence: CONFIDENCE,
    };
  });
  return {
    page: { width: Math.round(page.width), height: Math.round(page.height), blocks: visionBlocks, confidence: visionBlocks.length > 0 ? CONFIDENCE : 0 },
    text,
    words: wordCount,
  };
}

/** Runs on one baseline, in the order the PDF draws them, make a line. */
function linesOf(runs: readonly TextRun[]): Line[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  let endsLine = true;
  for (const run of runs) {
    const size = run.size;
    const sameLine =
      current !== undefined &&
      !endsLine &&
      Math.abs(run.box.bottom - current.box.bottom) <= 0.5 * size &&
      run.box.left >= current.box.right - size;
    if (!sameLine || current === undefined) {
      current = { chars: [], box: run.box, size };
      lines.push(current);
    } else {
      const last = current.chars.at(-1)!;
      const gap = run.box.left - current.box.right;
      if (gap > WORD_GAP * size && !/\s/.test(last.text) && !/^\s/.test(run.text)) {
        current.chars.push({ text: ' ', box: { ...run.box, left: current.box.right, right: run.box.left } });
      }
      current.box = union([current.box, run.box]);
      current.size = Math.max(current.size, size);
    }
    current.chars.push(...charsOf(run));
    endsLine = run.endsLine;
  }
  return lines.filter((line) => line.chars.some((c) => !/\s/.test(c.text)));
}

function charsOf(run: TextRun): Char[] {
  const chars = [...run.text];
  const step = (run.box.right - run.box.left) / chars.length;
  return chars.map((text, i) => ({
    text,
    box: { left: run.box.left + i * step, right: run.box.left + (i + 1) * step, top: run.box.top, bottom: run.box.bottom },
  }));
}

function wordsOf(chars: readonly Char[]): Char[][] {
  const words: Char[][] = [];
  let word: Char[] = [];
  for (const char of chars) {
    if (/\s/.test(char.text)) {
      if (word.length > 0) words.push(word);
      word = [];
    } else {
      word.push(char);
    }
  }
  if (word.length > 0) words.push(word);
  return words;
}

function union(boxes: readonly Box[]): Box {
  return {
    left: Math.min(...boxes.map((b) => b.left)),
    top: Math.min(...boxes.map((b) => b.top)),
    right: Math.max(...boxes.map((b) => b.right)),
    bottom: Math.max(...boxes.map((b) => b.bottom)),
  };
}

/** Corners clockwise from the top left, as fractions of the page, rounded to what a float keeps. */
function polygon(box: Box, width: number, height: number): Poly {
  const x = (value: number) => round(clamp(value / width));
  const y = (value: number) => round(clamp(value / height));
  return {
    normalizedVertices: [
      { x: x(box.left), y: y(box.top) },
      { x: x(box.right), y: y(box.top) },
      { x: x(box.right), y: y(box.bottom) },
      { x: x(box.left), y: y(box.bottom) },
    ],
  };
}

function clamp(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
