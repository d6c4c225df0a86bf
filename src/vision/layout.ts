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

export type BreakType = 'SPACE' | 'EOL_SURE_SPACE' | 'LINE_BREAK';

// Gaps between lines, as fractions of the font size: normal leading leaves about 0.2 between one
// line's descent and the next one's ascent.
const PARAGRAPH_GAP = 0.6;
const BLOCK_GAP = 3;
// A run starting this far (in font sizes) after the previous one on a line is a new word.
const WORD_GAP = 0.15;
// Text from a PDF's text layer is the text itself, not a recognition of it.
const CONFIDENCE = 1;

/**
 * A line's characters (code points) with their boxes, side by side in plain arrays: a page has
 * thousands of characters, and an object per character was most of the layout's time.
 */
interface Line {
  chars: string[];
  left: number[];
  right: number[];
  top: number[];
  bottom: number[];
  box: Box;
  size: number;
  /** Holds something other than whitespace. */
  inked: boolean;
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
  // The JSON is written as a flat list of pieces joined once: nested strings of a page's thousands
  // of symbols would be built and copied again at every level.
  const json: string[] = [`{"width":${Math.round(page.width)},"height":${Math.round(page.height)},"blocks":[`];
  const poly = (box: Box) => json.push(polygonJson(box, page.width, page.height));
  let text = '';
  let words = 0;
  blocks.forEach((paragraphs, blockIndex) => {
    json.push(blockIndex === 0 ? '{"boundingBox":' : ',{"boundingBox":');
    poly(union(paragraphs.flat()));
    json.push(',"paragraphs":[');
    paragraphs.forEach((paragraphLines, paragraphIndex) => {
      json.push(paragraphIndex === 0 ? '{"boundingBox":' : ',{"boundingBox":');
      poly(union(paragraphLines));
      json.push(',"words":[');
      paragraphLines.forEach((line, lineIndex) => {
        const lineWords = wordsOf(line);
        const lastBreak: BreakType = lineIndex === paragraphLines.length - 1 ? 'LINE_BREAK' : 'EOL_SURE_SPACE';
        for (let w = 0; w < lineWords.length; w += 2) {
          const start = lineWords[w]!;
          const end = lineWords[w + 1]!;
          const lastOfLine = w === lineWords.length - 2;
          const chars = line.chars.slice(start, end);
          const word = chars.join('');
          json.push(lineIndex === 0 && w === 0 ? '{"boundingBox":' : ',{"boundingBox":');
          poly(boxOf(line, start, end));
          json.push(symbolsJson(word, chars, lastOfLine ? lastBreak : 'SPACE'));
          text += word + (lastOfLine ? '\n' : ' ');
        }
        words += lineWords.length / 2;
      });
      json.push(`],"confidence":${CONFIDENCE}}`);
    });
    json.push(`],"blockType":"TEXT","confidence":${CONFIDENCE}}`);
  });
  json.push(`],"confidence":${blocks.length > 0 ? CONFIDENCE : 0}}`);
  const pageJson = json.join('');
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
      current = { chars: [], left: [], right: [], top: [], bottom: [], box: run.box, size, inked: false };
      lines.push(current);
    } else {
      const gap = run.box.left - current.box.right;
      if (gap > WORD_GAP * size && !isSpace(current.chars.at(-1)!) && !isSpace(run.text[0]!)) {
        addChar(current, ' ', current.box.right, run.box.left, run.box);
      }
      current.box = union([current, { box: run.box }]);
      current.size = Math.max(current.size, size);
    }
    addRun(current, run);
    endsLine = run.endsLine;
  }
  return lines.filter((line) => line.inked);
}

function addRun(line: Line, run: TextRun): void {
  const chars = [...run.text];
  const step = (run.box.right - run.box.left) / chars.length;
  for (let i = 0; i < chars.length; i++) addChar(line, chars[i]!, run.box.left + i * step, run.box.left + (i + 1) * step, run.box);
}

function addChar(line: Line, char: string, left: number, right: number, run: Box): void {
  line.chars.push(char);
  line.left.push(left);
  line.right.push(right);
  line.top.push(run.top);
  line.bottom.push(run.bottom);
  if (!isSpace(char)) line.inked = true;
}

/** The line's words as [start, end) pairs of character indexes, flat. */
function wordsOf(line: Line): number[] {
  const bounds: number[] = [];
  let start = -1;
  for (let i = 0; i < line.chars.length; i++) {
    if (isSpace(line.chars[i]!)) {
      if (start >= 0) bounds.push(start, i);
      start = -1;
    } else if (start < 0) {
      start = i;
    }
  }
  if (start >= 0) bounds.push(start, line.chars.length);
  return bounds;
}

function isSpace(char: string): boolean {
  const code = char.charCodeAt(0);
  if (code === 32) return true;
  if (code < 128) return code <= 13 && code >= 9;
  return /^\s/.test(char);
}

function union(lines: readonly { box: Box }[]): Box {
  const box = { ...lines[0]!.box };
  for (const { box: other } of lines) {
    if (other.left < box.left) box.left = other.left;
    if (other.top < box.top) box.top = other.top;
    if (other.right > box.right) box.right = other.right;
    if (other.bottom > box.bottom) box.bottom = other.bottom;
  }
  return box;
}

/** The box of characters [start, end) of a line. */
function boxOf(line: Line, start: number, end: number): Box {
  const box = { left: line.left[start]!, top: line.top[start]!, right: line.right[start]!, bottom: line.bottom[start]! };
  for (let i = start + 1; i < end; i++) {
    if (line.left[i]! < box.left) box.left = line.left[i]!;
    if (line.top[i]! < box.top) box.top = line.top[i]!;
    if (line.right[i]! > box.right) box.right = line.right[i]!;
    if (line.bottom[i]! > box.bottom) box.bottom = line.bottom[i]!;
  }
  return box;
}

/** Corners clockwise from the top left, as fractions of the page (also used for OCR'd pages). */
export function polygonJson(box: Box, width: number, height: number): string {
  const [left, top, right, bottom] = [fraction(box.left / width), fraction(box.top / height), fraction(box.right / width), fraction(box.bottom / height)];
  return `{"normalizedVertices":[{"x":${left},"y":${top}},{"x":${right},"y":${top}},{"x":${right},"y":${bottom}},{"x":${left},"y":${bottom}}]}`;
}

// Normalized coordinates to four decimals: a ten-thousandth of a page is under a tenth of a point
// on a letter page, far finer than a glyph. That makes them few enough to format once and look up.
const STEPS = 10_000;
const FRACTIONS = Array.from({ length: STEPS + 1 }, (_, step) => String(step / STEPS));

function fraction(value: number): string {
  return FRACTIONS[Math.round(Math.min(1, Math.max(0, value)) * STEPS)]!;
}

// The rest of a word's JSON after its box (its symbols, one per character, the last one carrying
// the break that follows the word), by the word and that break. Text repeats its words: most of
// a page's thousands of symbols are found here rather than written again.
const wordTails: Record<BreakType, Map<string, string>> = { SPACE: new Map(), EOL_SURE_SPACE: new Map(), LINE_BREAK: new Map() };
// Per break type; about a megabyte each when full. Emptied rather than evicted one by one.
const WORD_TAILS_CACHED = 4096;

function symbolsJson(word: string, chars: readonly string[], followedBy: BreakType): string {
  const cache = wordTails[followedBy];
  let json = cache.get(word);
  if (json === undefined) {
    const parts = [',"symbols":['];
    chars.forEach((char, i) => {
      const property = i === chars.length - 1 ? `"property":{"detectedBreak":{"type":"${followedBy}"}},` : '';
      parts.push(i === 0 ? '{' : ',{', property, '"text":', JSON.stringify(char), `,"confidence":${CONFIDENCE}}`);
    });
    parts.push(`],"confidence":${CONFIDENCE}}`);
    // join() makes one flat string, where a template would leave a tree for every later join to walk.
    json = parts.join('');
    if (cache.size >= WORD_TAILS_CACHED) cache.clear();
    cache.set(word, json);
  }
  return json;
}
