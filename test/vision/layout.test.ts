import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PageText, TextRun } from '../../src/vision/pdf.js';
import { layoutPage } from '../../src/vision/layout.js';

interface Symbol {
  text: string;
  property?: { detectedBreak?: { type: string } };
}
interface Word {
  boundingBox: { normalizedVertices: { x: number; y: number }[] };
  symbols: Symbol[];
}
interface Page {
  blocks: { paragraphs: { words: Word[] }[] }[];
}

/** One run per line, 10 pt text, 14 pt apart: lines of one paragraph. */
function page(lines: string[], width = 600, height = 800): PageText {
  const runs: TextRun[] = lines.map((text, i) => ({
    text,
    box: { left: 50, top: 100 + i * 14, right: 50 + text.length * 5, bottom: 110 + i * 14 },
    size: 10,
    endsLine: true,
  }));
  return { number: 1, width, height, runs };
}

const wordsOf = (json: string): Word[] => (JSON.parse(json) as Page).blocks.flatMap((b) => b.paragraphs.flatMap((p) => p.words));
const text = (word: Word) => word.symbols.map((s) => s.text).join('');
const breakOf = (word: Word) => word.symbols.at(-1)!.property?.detectedBreak?.type;

describe('layoutPage', { timeout: 180_000 }, () => {
  it('gives a repeated word the break that follows each occurrence', () => {
    // The symbols' JSON is cached by word: every occurrence must still carry its own break.
    for (let round = 0; round < 2; round++) {
      const words = wordsOf(layoutPage(page(['same same', 'same'])).pageJson);
      assert.deepEqual(words.map(text), ['same', 'same', 'same']);
      assert.deepEqual(words.map(breakOf), ['SPACE', 'EOL_SURE_SPACE', 'LINE_BREAK']);
      // Only the last symbol of a word has a property.
      for (const word of words) assert.ok(word.symbols.slice(0, -1).every((symbol) => symbol.property === undefined));
    }
  });

  it('writes characters that need escaping, and letters beyond ASCII, as valid JSON', () => {
    const layout = layoutPage(page(['say "hi" \\ café 日本 😀']));
    const words = wordsOf(layout.pageJson);
    assert.deepEqual(words.map(text), ['say', '"hi"', '\\', 'café', '日本', '😀']);
    assert.equal(layout.text, 'say "hi" \\ café 日本 😀\n');
    assert.equal(layout.words, 6);
  });

  it('gives boxes as fractions of the page to four decimals, within [0, 1]', () => {
    const runs: TextRun[] = [{ text: 'edge', box: { left: -20, top: 123.456, right: 700, bottom: 133.456 }, size: 10, endsLine: true }];
    const [word] = wordsOf(layoutPage({ number: 1, width: 600, height: 800, runs }).pageJson);
    const [topLeft, topRight, bottomRight, bottomLeft] = word!.boundingBox.normalizedVertices;
    assert.deepEqual(topLeft, { x: 0, y: 0.1543 });
    assert.deepEqual(topRight, { x: 1, y: 0.1543 });
    assert.deepEqual(bottomRight, { x: 1, y: 0.1668 });
    assert.deepEqual(bottomLeft, { x: 0, y: 0.1668 });
  });

  it('leaves out lines of whitespace and gives an empty page no blocks', () => {
    const layout = layoutPage(page(['   ']));
    assert.deepEqual(JSON.parse(layout.pageJson), { width: 600, height: 800, blocks: [], confidence: 0 });
    assert.equal(layout.text, '');
    assert.equal(layout.words, 0);
  });
});
