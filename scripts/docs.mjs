#!/usr/bin/env node
// Writes the generated tables of the docs from the code (run after a build: `npm run docs`): the
// configuration reference (docs/configuration.md) from src/config.ts and the error reasons
// (docs/errors.md) from src/domain/errors.ts; src/docs-tables.ts says which table goes where.
// test/docs.test.ts fails when a page and the code disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GENERATED_SECTIONS } from '../dist/src/docs-tables.js';

for (const section of GENERATED_SECTIONS) {
  const path = fileURLToPath(new URL(`../${section.file}`, import.meta.url));
  const text = readFileSync(path, 'utf8');
  const start = text.indexOf(section.begin);
  const end = text.indexOf(section.end);
  if (start < 0 || end < start) throw new Error(`${section.file} lacks the ${section.begin} ... ${section.end} markers`);
  writeFileSync(path, `${text.slice(0, start + section.begin.length)}\n${section.table()}\n${text.slice(end)}`);
  console.log(`${section.file}: ${section.name} written`);
}
