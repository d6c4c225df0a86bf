/**
 * Turns a page's text runs into Vision's TextAnnotation tree: lines from runs on one baseline,
 * words from whitespace, paragraphs from line spacing, blocks from larger gaps or a change of
 * column. A PDF's text layer gives the extent of each run of text, not of each glyph: word boxes
 * inside a run are estimated by dividing its width evenly between its characters, and symbols
 * carry no box of their own (it would be invented, and it is most of the output's size).
 */
import type { Box, PageText, TextRun } from './pdf.js';

/** What a page yields: Vision's Page as proto3 JSON, its text (lines end in "\n") and its word count. */
export interface PageLayout {
  /** google.cloud.vision.v1.Page in proto3 JSON, written directly: pages hold thousands of symbols. */
  pageJson: string;
  text: string;
  words: number;
}

type BreakType = 'SPACE' | 'EOL_SURE_SPACE' | 'LINE_BREAK';

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
  const poly = (box: Box): string => polygonJson(box, page.width, page.height);
  let text = '';
  let words = 0;
  const blockJson = blocks.map((paragraphs) => {
    const paragraphJson = paragraphs.map((paragraphLines) => {
      const wordJson: string[] = [];
      paragraphLines.forEach((line, lineIndex) => {
        const lineWords = wordsOf(line.chars);
        lineWords.forEach((chars, wordIndex) => {
          const lastOfLine = wordIndex === lineWords.length - 1;
          const breakType: BreakType = !lastOfLine ? 'SPACE' : lineIndex === paragraphLines.length - 1 ? 'LINE_BREAK' : 'EOL_SURE_SPACE';
          let symbols = '';
          let word = '';
          for (let i = 0; i < chars.length; i++) {
            const char = chars[i]!.text;
            word += char;
            const property = i === chars.length - 1 ? `"property":{"detectedBreak":{"type":"${breakType}"}},` : '';
            symbols += `${i === 0 ? '' : ','}{${property}"text":${jsonString(char)},"confidence":${CONFIDENCE}}`;
          }
          wordJson.push(`{"boundingBox":${poly(boxOf(chars))},"symbols":[${symbols}],"confidence":${CONFIDENCE}}`);
          text += word + (lastOfLine ? '\n' : ' ');
        });
        words += lineWords.length;
      });
      return `{"boundingBox":${poly(union(paragraphLines.map((l) => l.box)))},"words":[${wordJson.join(',')}],"confidence":${CONFIDENCE}}`;
    });
    const box = union(paragraphs.flat().map((l) => l.box));
    return `{"boundingBox":${poly(box)},"paragraphs":[${paragraphJson.join(',')}],"blockType":"TEXT","confidence":${CONFIDENCE}}`;
  });
  const confidence = blockJson.length > 0 ? CONFIDENCE : 0;
  const pageJson = `{"width":${Math.round(page.width)},"height":${Math.round(page.height)},"blocks":[${blockJson.join(',')}],"confidence":${confidence}}`;
  return { pageJson, text, words };
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
  const box = { ...boxes[0]! };
  for (const other of boxes) {
    if (other.left < box.left) box.left = other.left;
    if (other.top < box.top) box.top = other.top;
    if (other.right > box.right) box.right = other.right;
    if (other.bottom > box.bottom) box.bottom = other.bottom;
  }
  return box;
}

function boxOf(chars: readonly Char[]): Box {
  return union(chars.map((char) => char.box));
}

/** Corners clockwise from the top left, as fractions of the page, rounded to what a float keeps. */
function polygonJson(box: Box, width: number, height: number): string {
  const x = (value: number) => round(clamp(value / width));
  const y = (value: number) => round(clamp(value / height));
  const [left, top, right, bottom] = [x(box.left), y(box.top), x(box.right), y(box.bottom)];
  return `{"normalizedVertices":[{"x":${left},"y":${top}},{"x":${right},"y":${top}},{"x":${right},"y":${bottom}},{"x":${left},"y":${bottom}}]}`;
}

/** JSON for one character: the common case without JSON.stringify. */
function jsonString(char: string): string {
  return /^[\x20-\x7e]$/.test(char) && char !== '"' && char !== '\\' ? `"${char}"` : JSON.stringify(char);
}

function clamp(value: number): number {
  return Math.min(1, Math.max(0, value));
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
