/** The command blocks of the README and docs/ pages, found by the `<!-- marker -->` line before their fence. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from './checkout.js';

/** The text of the `sh` block after `<!-- marker -->` in `page` (a path from the repository's root). */
export function blockOf(page: string, marker: string): string {
  const block = new RegExp(`<!-- ${marker} -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readFileSync(`${REPO_ROOT}${page}`, 'utf8'));
  assert.ok(block, `${page} has the ${marker} block`);
  return block[1]!;
}

/** The JSON documents printed one after another (as buf curl prints a stream, or several calls print theirs). */
export function jsonDocuments(text: string): unknown[] {
  const documents: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"' && depth > 0) inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && depth > 0 && --depth === 0) documents.push(JSON.parse(text.slice(start, i + 1)));
  }
  return documents;
}
